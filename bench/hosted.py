"""Hosted backends benchmark: prints figures, asserts nothing.

    .venv/bin/python bench/hosted.py [--runs 5] [--fake-fps 24]

Each hosted backend (openai, veo, runway, replicate) renders a 4 s 480x854 text-to-video job
through its official SDK against its local fake (tests/fakes/), which answers at once: the
figure is our side of a hosted render (SDK calls, polls, download, the re-encode to what the
app serves), not the provider's render time. Needs no database.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--fake-fps", type=int, default=24, help="frame rate of the clip each fake returns")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DJANGO_ENV", "test")
    import django

    django.setup()
    from django.conf import settings

    import logging

    from generation.backends import get_backend
    from generation.backends.base import RenderSpec
    from tests.fakes import replicate_api, runway_api, veo_api, video_api
    from tests.fakes.replicate_api import FakeReplicateAPI
    from tests.fakes.runway_api import FakeRunwayAPI
    from tests.fakes.veo_api import FakeVeoAPI
    from tests.fakes.video_api import FakeVideoAPI

    logging.disable(logging.INFO)
    # The fakes encode their clip when a job completes; encode each size and length once (the
    # first, untimed run) so the figures are our side only.
    clips: dict[tuple, bytes] = {}
    for module in (video_api, veo_api, runway_api, replicate_api):
        def cached(job, fps, _render=module.render_clip):
            key = (job.size, job.seconds, fps)
            if key not in clips:
                clips[key] = _render(job, fps)
            return clips[key]
        module.render_clip = cached

    settings.GENERATION_REMOTE_POLL_INTERVAL = 0.0
    fakes = {
        "openai": (lambda: FakeVideoAPI(api_key="k", fps=args.fake_fps, progress_step=100),
                   lambda url: dict(GENERATION_REMOTE_URL=url, GENERATION_REMOTE_API_KEY="k")),
        "veo": (lambda: FakeVeoAPI(api_key="k", fps=args.fake_fps, polls_to_finish=1),
                lambda url: dict(GENERATION_VEO_URL=url, GENERATION_VEO_API_KEY="k")),
        "runway": (lambda: FakeRunwayAPI(api_key="k", fps=args.fake_fps, progress_step=1.0),
                   lambda url: dict(GENERATION_RUNWAY_URL=url, GENERATION_RUNWAY_API_KEY="k")),
        "replicate": (lambda: FakeReplicateAPI(token="k", fps=args.fake_fps, polls_to_finish=1),
                      lambda url: dict(GENERATION_REPLICATE_URL=url, GENERATION_REPLICATE_API_TOKEN="k")),
    }
    print(f"4 s 480x854 at {settings.GENERATION_FPS} fps, fakes answering at once with {args.fake_fps} fps clips; "
          f"{args.runs} runs each")
    for name, (make, configure) in fakes.items():
        with make() as fake:
            for key, value in configure(fake.url).items():
                setattr(settings, key, value)
            backend = get_backend(name)
            times = []
            for i in range(args.runs + 1):
                spec = RenderSpec(job_id=f"bench-{i}", kind="text_to_video", prompt=f"bench {i}", duration_seconds=4,
                                  width=480, height=854, fps=settings.GENERATION_FPS, seed=i)
                with tempfile.TemporaryDirectory() as tmp:
                    started = time.perf_counter()
                    backend.render(spec, Path(tmp), lambda fraction: None)
                    if i:  # the first run encodes the fake's clip
                        times.append(time.perf_counter() - started)
            print(f"{name:10s} median {statistics.median(times):.2f} s  min {min(times):.2f} s  "
                  f"requests per render {len(fake.requests) / (args.runs + 1):.1f}")


if __name__ == "__main__":
    main()
