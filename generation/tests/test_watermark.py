"""The visible watermark: the creator's @handle, moving along a seeded path, on every backend's output.

The mark is found the way a viewer sees it: decode the MP4 with PyAV and locate the pixels
that differ from the same video without it."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from django.core.files.storage import default_storage

from generation import backends, services
from generation.backends.base import RenderSpec
from generation.backends.media import MovingWatermark, generator_metadata, watermark_video, write_mp4
from generation.backends.preview import PreviewBackend
from generation.models import JobStatus

FPS = 8


def spec_of(**overrides) -> RenderSpec:
    fields = dict(job_id="job-wm", kind="text_to_video", prompt="lanterns drifting over a lake", duration_seconds=4,
                  width=480, height=854, fps=FPS, seed=11, watermark_text="@maker")
    fields.update(overrides)
    return RenderSpec(**fields)


def decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24").astype(np.int16) for frame in container.decode(video=0)]


def mark_centre(marked: np.ndarray, clean: np.ndarray) -> tuple[float, float] | None:
    """The centre of the pixels the watermark changed (the mark's box darkens what is under it;
    compression noise stays well below the threshold)."""
    ys, xs = np.nonzero(np.abs(marked - clean).sum(axis=2) > 60)
    if len(xs) < 50:
        return None
    return float(xs.mean()), float(ys.mean())


def render_preview(tmp_path: Path, name: str, spec: RenderSpec) -> Path:
    workdir = tmp_path / name
    workdir.mkdir()
    return PreviewBackend().render(spec, workdir, lambda fraction: None).video_path


def test_the_path_moves_is_fixed_by_the_seed_and_stays_inside_the_picture():
    mark = MovingWatermark("@maker", 480, 854, fps=FPS, seed=11)
    path = [mark.position(i) for i in range(4 * FPS)]

    assert path == [MovingWatermark("@maker", 480, 854, fps=FPS, seed=11).position(i) for i in range(4 * FPS)]
    assert path != [MovingWatermark("@maker", 480, 854, fps=FPS, seed=12).position(i) for i in range(4 * FPS)]
    assert len(set(path)) == len(path)  # a new place every frame: never parked in a corner
    xs, ys = zip(*path)
    assert min(xs) >= 0 and max(xs) + mark.patch.w <= 480
    # Never over the caption, in the bottom fifth.
    assert min(ys) >= 0 and max(ys) + mark.patch.h <= int(854 * 0.8)


def test_preview_draws_the_handle_at_a_different_place_early_and_late(tmp_path):
    marked = decode(render_preview(tmp_path, "marked", spec_of()))
    clean = decode(render_preview(tmp_path, "clean", spec_of(watermark_text=None)))

    assert len(marked) == len(clean) == 4 * FPS
    centres = [mark_centre(m, c) for m, c in zip(marked, clean)]
    assert None not in centres  # on every frame
    expected = MovingWatermark("@maker", 480, 854, fps=FPS, seed=11)
    for index in (0, len(marked) - 1):
        x, y = expected.position(index)
        cx, cy = centres[index]
        assert abs(cx - (x + expected.patch.w / 2)) < 6 and abs(cy - (y + expected.patch.h / 2)) < 6
    (x0, y0), (x1, y1) = centres[0], centres[-1]
    assert abs(x1 - x0) + abs(y1 - y0) > 40


def test_watermark_video_marks_a_clip_written_without_it(tmp_path):
    spec = spec_of(width=320, height=240, duration_seconds=3)
    grey = [np.full((240, 320, 3), 128, dtype=np.uint8) for _ in range(spec.frame_count)]
    unmarked = tmp_path / "unmarked.mp4"
    write_mp4(iter(grey), unmarked, spec_of(width=320, height=240, duration_seconds=3, watermark_text=None))

    poster = watermark_video(unmarked, tmp_path / "marked.mp4", spec)

    frames = decode(tmp_path / "marked.mp4")
    clean = decode(unmarked)
    assert len(frames) == spec.frame_count
    first, last = mark_centre(frames[0], clean[0]), mark_centre(frames[-1], clean[-1])
    assert first is not None and last is not None and first != last
    assert mark_centre(poster.astype(np.int16), clean[0]) is not None


def test_a_hosted_backend_output_carries_the_moving_mark(settings, tmp_path):
    from generation.backends.hosted.openai_videos import OpenAIVideosBackend
    from tests.fakes.video_api import FakeVideoAPI

    with FakeVideoAPI(api_key="sk-test-remote", fps=4) as server:
        settings.GENERATION_REMOTE_URL = server.url
        settings.GENERATION_REMOTE_API_KEY = "sk-test-remote"
        settings.GENERATION_REMOTE_MODEL = "sora-2"
        settings.GENERATION_REMOTE_POLL_INTERVAL = 0.01
        spec = spec_of(job_id="job-remote-wm")
        output = OpenAIVideosBackend().render(
            RenderSpec(**{**spec.__dict__, "metadata": generator_metadata(spec, "openai")}), tmp_path,
            lambda fraction: None)

    frames = decode(output.video_path)
    # The fake provider's clip is one flat colour per frame: the mark is what is not.
    centres = [mark_centre(f, np.broadcast_to(np.median(f, axis=(0, 1)), f.shape)) for f in frames]
    assert len(frames) == 4 * FPS and None not in centres
    (x0, y0), (x1, y1) = centres[0], centres[-1]
    assert abs(x1 - x0) + abs(y1 - y0) > 40


class _UnmarkedBackend(PreviewBackend):
    """A backend that writes its own MP4 without our mark (as an outside encoder would)."""

    name = "unmarked"
    draws_watermark = False

    def render(self, spec, workdir, progress):
        return super().render(RenderSpec(**{**spec.__dict__, "watermark_text": None}), workdir, progress)


@pytest.fixture
def unmarked_backend(monkeypatch, settings):
    monkeypatch.setitem(backends.BACKENDS, "unmarked", f"{__name__}._UnmarkedBackend")
    settings.GENERATION_BACKEND = "unmarked"


def _rendered(user, tmp_path, *, watermark: bool) -> list[np.ndarray]:
    job, _ = services.generation_submit(user=user, kind="text_to_video", prompt="lanterns drifting over a lake",
                                        duration_seconds=4, size="480x854")
    if not watermark:
        job.watermark = False
        job.save(update_fields=["watermark"])
    services.job_claim(owner="w1", hint_job_id=job.pk)
    assert services.job_render(job_id=job.pk, owner="w1") == JobStatus.SUCCEEDED
    job.refresh_from_db()
    local = tmp_path / f"stored-{job.pk}.mp4"
    with default_storage.open(job.video.name, "rb") as fh:
        local.write_bytes(fh.read())
    clean = render_preview(tmp_path, f"clean-{job.pk}", spec_of(
        job_id=str(job.pk), prompt=job.prompt, seed=job.seed, style=job.style, watermark_text=None))
    return [mark_centre(m, c) for m, c in zip(decode(local), decode(clean))]


@pytest.mark.django_db(transaction=True)
def test_the_worker_marks_what_a_backend_left_unmarked_and_only_when_the_job_wants_it(
        unmarked_backend, tmp_path, sent_tasks):
    from accounts.tests.factories import UserFactory

    user = UserFactory(handle="maker")

    marked = _rendered(user, tmp_path, watermark=True)
    unmarked = _rendered(user, tmp_path, watermark=False)

    assert len(marked) == 4 * FPS and None not in marked and marked[0] != marked[-1]
    assert unmarked == [None] * (4 * FPS)  # a plan without the watermark: nothing drawn
