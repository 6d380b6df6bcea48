"""Requests that used to exhaust the API: bodies of any size parsed in full (a 60 MB JSON body
to an unauthenticated endpoint), and images whose few KB declare hundreds of megapixels. Each
is refused before it is read or decoded, in the error shape, and changes nothing."""

from __future__ import annotations

import io
import json
import random
import struct
import zlib

import pytest
from asgiref.testing import ApplicationCommunicator
from django.urls import reverse
from PIL import Image

from config.limits import body_limit
from tests.rows import table_rows

pytestmark = pytest.mark.django_db


def _png_claiming(width: int, height: int) -> io.BytesIO:
    """A valid 1-bit PNG of a few hundred bytes whose header declares width x height pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = zlib.compress(b"\x00" * (width // 8 + 2) * 4, 9)
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", rows) + chunk(b"IEND", b""))
    buf = io.BytesIO(data)
    buf.name = "avatar.png"
    return buf


def _png(size=(64, 64), noise=False) -> io.BytesIO:
    buf = io.BytesIO()
    # Noise does not compress: the file is about as large as its pixels.
    image = Image.frombytes("RGB", size, random.Random(0).randbytes(size[0] * size[1] * 3)) if noise \
        else Image.new("RGB", size, (10, 120, 200))
    image.save(buf, format="PNG")
    buf.seek(0)
    buf.name = "avatar.png"
    return buf


# --- body size -----------------------------------------------------------------------------

def test_each_route_has_its_body_limit(settings):
    default = settings.REQUEST_BODY_MAX_BYTES
    multipart = "multipart/form-data; boundary=x"
    assert body_limit("/api/v1/auth/refresh", "application/json") == default
    assert body_limit("/api/v1/me", "application/json") == default
    assert body_limit("/api/v1/me", multipart) == settings.ACCOUNTS_AVATAR_MAX_BYTES + default
    assert body_limit("/api/v1/generations", multipart) == settings.GENERATION_MAX_IMAGE_BYTES + default
    assert body_limit("/api/v1/billing/stripe/webhook", "application/json") == settings.STRIPE_WEBHOOK_MAX_BYTES
    assert body_limit(reverse("admin:index"), multipart) == settings.ADMIN_REQUEST_MAX_BYTES
    assert body_limit("/nowhere", multipart) == default


def test_a_json_body_over_the_limit_is_a_413_before_it_is_parsed(api):
    before = table_rows()
    payload = json.dumps({"refresh": "x" * (64 * 1024)})

    response = api.generic("POST", "/api/v1/auth/refresh", payload, content_type="application/json")

    assert response.status_code == 413
    assert response.json() == {"error": {"code": "request_too_large", "fields": {}, "max_bytes": 64 * 1024,
                                         "message": "The request body must be at most 65536 bytes."}}
    assert table_rows() == before


def test_an_upload_route_takes_its_file_but_not_a_large_json_body(auth_api, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    avatar = _png((300, 300), noise=True)
    assert len(avatar.getvalue()) > settings.REQUEST_BODY_MAX_BYTES

    uploaded = auth_api.patch("/api/v1/me", {"avatar": avatar}, format="multipart")
    as_json = auth_api.patch("/api/v1/me", {"bio": "x" * (64 * 1024)}, format="json")

    assert uploaded.status_code == 200, uploaded.json()
    assert as_json.status_code == 413
    auth_api.user.refresh_from_db()
    assert auth_api.user.bio == ""


def test_an_upload_over_its_limit_is_a_413(auth_api, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    settings.REQUEST_BODY_LIMITS = {**settings.REQUEST_BODY_LIMITS, "me": {"multipart/form-data": 10_000}}
    before = table_rows()

    response = auth_api.patch("/api/v1/me", {"avatar": _png((300, 300), noise=True)}, format="multipart")

    assert response.status_code == 413
    assert response.json()["error"]["max_bytes"] == 10_000
    assert table_rows() == before
    assert not list(tmp_path.rglob("*.png"))


def test_too_many_form_fields_is_a_400_in_the_error_shape(auth_api, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    before = table_rows()

    response = auth_api.patch("/api/v1/me", {f"f{i}": "x" for i in range(20)}, format="multipart")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_request"
    assert table_rows() == before


def _http_scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
            "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
            "headers": [(b"host", b"testserver"), *headers], "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80)}


async def _response(communicator: ApplicationCommunicator) -> tuple[int, dict]:
    start = await communicator.receive_output(timeout=5)
    body = await communicator.receive_output(timeout=5)
    return start["status"], json.loads(body["body"])


@pytest.mark.asyncio
async def test_asgi_refuses_a_declared_60_mb_body_without_reading_it():
    from config.asgi import application

    communicator = ApplicationCommunicator(application, _http_scope("/api/v1/auth/refresh", [
        (b"content-type", b"application/json"), (b"content-length", str(60 * 1024 * 1024).encode())]))

    # Not a byte of the body is sent: the answer comes from the headers alone.
    status, body = await _response(communicator)

    assert (status, body["error"]["code"]) == (413, "request_too_large")
    await communicator.wait(timeout=5)


@pytest.mark.asyncio
async def test_asgi_stops_reading_a_chunked_body_once_it_is_too_large():
    from config.asgi import application

    communicator = ApplicationCommunicator(application, _http_scope("/api/v1/auth/refresh", [
        (b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")]))
    for _ in range(5):  # 80 KiB of a body that never ends
        await communicator.send_input({"type": "http.request", "body": b" " * 16 * 1024, "more_body": True})

    status, body = await _response(communicator)

    assert (status, body["error"]["max_bytes"]) == (413, 64 * 1024)
    await communicator.wait(timeout=5)


@pytest.mark.asyncio
async def test_asgi_passes_a_small_chunked_body_on():
    from config.asgi import application

    scope = {**_http_scope("/healthz", [(b"content-type", b"application/json")]), "method": "GET"}
    communicator = ApplicationCommunicator(application, scope)
    await communicator.send_input({"type": "http.request", "body": b'{"a": ', "more_body": True})
    await communicator.send_input({"type": "http.request", "body": b"1}", "more_body": False})

    status, body = await _response(communicator)

    assert status == 200


# --- image pixels --------------------------------------------------------------------------

@pytest.mark.parametrize("size", [(12_000, 12_000), (30_000, 30_000)])  # 144 MP; past Pillow's own bomb limit
def test_an_avatar_declaring_too_many_pixels_is_refused_undecoded(auth_api, settings, tmp_path, size):
    settings.MEDIA_ROOT = str(tmp_path)
    image = _png_claiming(*size)
    assert len(image.getvalue()) < 20_000
    before = table_rows()

    response = auth_api.patch("/api/v1/me", {"avatar": image}, format="multipart")

    assert response.status_code == 400
    assert response.json()["error"]["fields"]["avatar"][0]["code"] == "image_too_many_pixels"
    auth_api.user.refresh_from_db()
    assert not auth_api.user.avatar
    assert not list(tmp_path.rglob("*"))
    assert table_rows() == before


def test_an_avatar_within_the_pixel_limit_is_stored(auth_api, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    settings.ACCOUNTS_AVATAR_MAX_PIXELS = 64 * 64

    response = auth_api.patch("/api/v1/me", {"avatar": _png((64, 64))}, format="multipart")

    assert response.status_code == 200
    auth_api.user.refresh_from_db()
    assert (tmp_path / auth_api.user.avatar.name).exists()


def test_a_generation_image_past_pillows_bomb_limit_is_too_many_pixels(auth_api, sent_tasks):
    before = table_rows()
    image = _png_claiming(30_000, 30_000)
    image.name = "still.png"

    response = auth_api.post("/api/v1/generations", {"kind": "image_to_video", "prompt": "a cat", "duration_seconds": 4,
                                                     "size": "480x854", "image": image}, format="multipart")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "image_too_many_pixels"
    assert table_rows() == before
    assert sent_tasks == []
