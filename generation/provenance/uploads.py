"""Reading the provenance of a video someone uploaded (moderation, takedown requests)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import av
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext as _
from rest_framework import status

from config.errors import ApplicationError

from .claims import ProvenanceReport
from .reading import provenance_read

# What PyAV calls the ISO BMFF family (MP4, MOV, 3GP): the containers a C2PA manifest lives in
# for video.
BMFF = "mov,mp4,m4a,3gp,3g2,mj2"


def _not_a_video() -> ApplicationError:
    message = _("Send an MP4 video.")
    return ApplicationError(message, code="not_a_video",
                            fields={"video": [{"code": "not_a_video", "message": message}]})


def provenance_read_upload(*, video: UploadedFile) -> ProvenanceReport:
    """The upload's manifest summary. Refuses (413 upload_too_large, 400 not_a_video) before
    the C2PA reader sees anything that is not a bounded MP4 with a video stream."""
    if video.size > settings.PROVENANCE_VERIFY_MAX_BYTES:
        message = _("The video must be at most %(mb)d MB.") % {"mb": settings.PROVENANCE_VERIFY_MAX_BYTES // 2**20}
        raise ApplicationError(message, code="upload_too_large", status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    video.seek(0)
    try:
        with av.open(video, mode="r") as container:
            if container.format.name != BMFF or not container.streams.video:
                raise _not_a_video()
    except (av.error.FFmpegError, ValueError, OSError, IndexError) as exc:
        raise _not_a_video() from exc
    video.seek(0)
    # c2pa reads a path or a stream; a small upload lives in memory, a large one already on disk.
    with tempfile.NamedTemporaryFile(suffix=".mp4") as tmp:
        shutil.copyfileobj(video, tmp)
        tmp.flush()
        return provenance_read(Path(tmp.name))
