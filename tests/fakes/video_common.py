"""What the fake video APIs share: the recorded request, multipart parsing, and what they hand
back (a real H.264 MP4 and still images of a fake job)."""

from __future__ import annotations

import email.parser
import email.policy
import io
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import numpy as np


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    json: Any = None
    form: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str, str, bytes]] = field(default_factory=dict)  # name -> (filename, type, bytes)
    accepted: bool = False  # a create the fake took (and the real API would bill)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


def parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, tuple[str, str, bytes]]]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    form: dict[str, str] = {}
    files: dict[str, tuple[str, str, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if part.get_filename() is not None:
            files[name] = (part.get_filename(), part.get_content_type(), payload)
        else:
            form[name] = payload.decode()
    return form, files


def _colour(job: Any) -> np.ndarray:
    """The input image's mean colour if one was sent, else a colour from the prompt."""
    reference = getattr(job, "input_reference", None)
    if reference is not None:
        from PIL import Image

        with Image.open(io.BytesIO(reference[2])) as img:
            return np.asarray(img.convert("RGB").resize((1, 1))).reshape(3).astype(np.float32)
    digest = sum(job.prompt.encode()) % 97
    return np.array([60 + digest, 120, 180 - digest], dtype=np.float32)


def render_clip(job: Any, fps: int) -> bytes:
    """Solid frames of the job's colour, brightening over time, at the job's size and length."""
    from generation.backends.base import RenderSpec
    from generation.backends.media import write_mp4

    width, height = (int(v) for v in job.size.split("x"))
    spec = RenderSpec(job_id=job.id, kind="text_to_video", prompt=job.prompt, duration_seconds=int(job.seconds),
                      width=width, height=height, fps=fps, seed=0)
    colour = _colour(job)
    frames = (np.broadcast_to(np.clip(colour + i * 0.5, 0, 255).astype(np.uint8), (height, width, 3)).copy()
              for i in range(spec.frame_count))
    with TemporaryDirectory(prefix="fake-video-api-") as tmp:
        path = Path(tmp) / "clip.mp4"
        write_mp4(frames, path, spec)
        return path.read_bytes()


def placeholder_image(job: Any, fmt: str) -> bytes:
    from PIL import Image

    width, height = (int(v) for v in job.size.split("x"))
    buffer = io.BytesIO()
    Image.new("RGB", (width // 4, height // 4), tuple(int(c) for c in _colour(job))).save(buffer, format=fmt)
    return buffer.getvalue()
