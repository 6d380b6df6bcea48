"""Media on S3: Django's storage API and the avatar upload against a local S3 server.

The `s3_storage` fixture (tests/fakes/s3.py) runs moto's S3-compatible server on
127.0.0.1 and switches default storage to django-storages' S3Storage, as
AWS_STORAGE_BUCKET_NAME does in production; bytes really travel over HTTP.
"""

import io
import urllib.error
import urllib.request
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image
from storages.backends.s3 import S3Storage

from tests.fakes.s3 import S3_URL_EXPIRE

VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8


def _download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


def test_storage_api_writes_signs_and_deletes_in_the_bucket(s3_storage):
    assert isinstance(default_storage, S3Storage)

    name = default_storage.save("generations/7/result.mp4", ContentFile(VIDEO))

    assert name == "generations/7/result.mp4"
    assert s3_storage.keys() == [name]
    assert s3_storage.get_bytes(name) == VIDEO
    head = s3_storage.client.head_object(Bucket=s3_storage.bucket, Key=name)
    assert head["ContentType"] == "video/mp4"
    assert default_storage.exists(name)
    assert default_storage.size(name) == len(VIDEO)

    url = default_storage.url(name)
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{s3_storage.endpoint_url}/{s3_storage.bucket}/{name}"
    assert query["X-Amz-Expires"] == [str(S3_URL_EXPIRE)]
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert len(query["X-Amz-Signature"][0]) == 64
    assert _download(url) == VIDEO
    with pytest.raises(urllib.error.HTTPError) as unsigned:
        _download(f"{parts.scheme}://{parts.netloc}{parts.path}")
    assert unsigned.value.code == 403  # the bucket is private: the signed query is what lets it through

    default_storage.delete(name)

    assert s3_storage.keys() == []
    assert not default_storage.exists(name)
    with pytest.raises(urllib.error.HTTPError) as gone:
        _download(url)
    assert gone.value.code == 404


def test_saving_an_existing_name_never_overwrites(s3_storage):
    first = default_storage.save("posters/1.jpg", ContentFile(b"first"))

    second = default_storage.save("posters/1.jpg", ContentFile(b"second"))

    assert first == "posters/1.jpg"
    assert second != first and second.startswith("posters/1_") and second.endswith(".jpg")
    assert s3_storage.keys() == sorted([first, second])
    assert s3_storage.get_bytes(first) == b"first"
    assert s3_storage.get_bytes(second) == b"second"


def test_avatar_upload_lands_in_the_bucket_and_its_url_downloads(auth_api, s3_storage, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 10, 10)).save(buf, format="PNG")
    png = buf.getvalue()
    upload = io.BytesIO(png)
    upload.name = "avatar.png"

    response = auth_api.patch("/api/v1/me", {"avatar": upload}, format="multipart")

    assert response.status_code == 200, response.json()
    auth_api.user.refresh_from_db()
    key = auth_api.user.avatar.name
    assert key.startswith("avatars/") and key.endswith(".png")
    assert s3_storage.keys() == [key]
    assert s3_storage.get_bytes(key) == png
    avatar_url = response.json()["avatar_url"]
    assert avatar_url.startswith(f"{s3_storage.endpoint_url}/{s3_storage.bucket}/{key}?")
    assert parse_qs(urlsplit(avatar_url).query)["X-Amz-Expires"] == [str(S3_URL_EXPIRE)]
    assert _download(avatar_url) == png
    assert list(tmp_path.iterdir()) == []  # nothing went to local media
