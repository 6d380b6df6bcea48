"""Signing cost per render: the C2PA step the worker adds (generation.provenance.provenance_sign)
against the preview render it follows. Prints figures, asserts nothing; needs no database.

    ./scripts/bench.sh provenance [renders]      (or: .venv/bin/python bench/provenance.py)

Each round renders a 4 s 480x854 preview clip at the app's frame rate (GENERATION_FPS), then
signs it as the worker does (creator, a cameo), and a remix's sign with its parent as an
ingredient (c2pa hashes the parent too). The key is a development CA's (ES256), made once in a
temporary folder.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DJANGO_ENV", "test")
keys_dir = tempfile.mkdtemp(prefix="bench-provenance-")
os.environ["PROVENANCE_DEV_DIR"] = keys_dir
os.environ["PROVENANCE_DEV_KEYS"] = "true"
for name in ("PROVENANCE_SIGNING_KEY", "PROVENANCE_CERT_CHAIN", "PROVENANCE_TRUST_ANCHORS"):
    os.environ.pop(name, None)

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from generation.backends.base import RenderSpec  # noqa: E402
from generation.backends.preview import PreviewBackend  # noqa: E402
from generation.provenance import Ingredient, ProvenanceClaim, provenance_read, provenance_sign  # noqa: E402


def main(rounds: int) -> None:
    fps = settings.GENERATION_FPS
    backend = PreviewBackend()
    render_s, sign_s, remix_s, read_s = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        parent = None
        # One unmeasured round: the dev keys are made and c2pa's library warms up.
        for i in range(rounds + 1):
            folder = work / f"r{i}"
            folder.mkdir()
            spec = RenderSpec(kind="text_to_video", prompt=f"lanterns drifting over a lake {i}", duration_seconds=4,
                              width=480, height=854, job_id=str(i), fps=fps, seed=i, watermark_text="@maker")
            t0 = time.perf_counter()
            out = backend.render(spec, folder, lambda fraction: None)
            t1 = time.perf_counter()
            claim = ProvenanceClaim(title=spec.prompt, generator="preview", creator_handle="maker",
                                    cameo_handles=("star",), cameo_ids=("c-1",), job_id=str(i))
            signed = folder / "signed.mp4"
            assert provenance_sign(out.video_path, signed, claim=claim)
            t2 = time.perf_counter()
            if parent is not None:
                remix = ProvenanceClaim(title=spec.prompt, generator="preview", job_id=f"{i}-remix",
                                        ingredients=(Ingredient(path=parent, title="parent"),))
                assert provenance_sign(out.video_path, folder / "remix.mp4", claim=remix)
            t3 = time.perf_counter()
            provenance_read(signed)
            t4 = time.perf_counter()
            if i > 0:
                render_s.append(t1 - t0)
                sign_s.append(t2 - t1)
                read_s.append(t4 - t3)
                if parent is not None:
                    remix_s.append(t3 - t2)
            parent = signed
        size = signed.stat().st_size
    render, sign = statistics.median(render_s), statistics.median(sign_s)
    print(f"4 s 480x854 preview at {fps} fps, {rounds} renders, file {size / 1024:.0f} KiB")
    print(f"render median {render * 1000:.0f} ms")
    print(f"sign median {sign * 1000:.1f} ms = {100 * sign / render:.2f} % of the render (target <= 5 %)")
    if remix_s:
        remix = statistics.median(remix_s)
        print(f"sign with a parent ingredient median {remix * 1000:.1f} ms = {100 * remix / render:.2f} %")
    print(f"read + validate median {statistics.median(read_s) * 1000:.1f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
