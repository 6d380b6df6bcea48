"""Signed media URLs: reused for a tenth of their lifetime, never across storages."""

import time

from config import media


def test_a_media_url_is_reused_within_a_tenth_of_its_lifetime_then_signed_again(settings, monkeypatch):
    settings.MEDIA_URL_EXPIRE = 600
    now = [600_000.0]  # the start of a 60 s window
    monkeypatch.setattr(time, "time", lambda: now[0])
    first = media.media_url("generation/1/a/video.mp4")

    now[0] += 59  # still in the same window
    again = media.media_url("generation/1/a/video.mp4")
    other = media.media_url("generation/1/a/poster.jpg")
    now[0] += 1
    later = media.media_url("generation/1/a/video.mp4")

    assert again == first
    assert other != first
    assert later != first
    token = later.rstrip("/").rsplit("/", 1)[1]
    assert media.media_name_from_token(token) == "generation/1/a/video.mp4"


def test_a_url_signed_for_local_files_is_not_handed_out_for_s3(request, settings):
    name = "generation/2/b/video.mp4"
    local = media.media_url(name)

    s3 = request.getfixturevalue("s3_storage")  # switches the default storage to S3 from here on
    on_s3 = media.media_url(name)

    assert local.startswith(settings.PUBLIC_BASE_URL.rstrip("/") + "/api/v1/media/")
    assert on_s3.startswith(s3.endpoint_url)
    assert "X-Amz-Signature=" in on_s3


def test_a_local_url_is_the_signed_view_as_reverse_writes_it(settings):
    from django.urls import reverse

    url = media.media_url("generation/3/c/es/subtitles.vtt")

    token = url.rsplit("/", 1)[1]
    assert url == settings.PUBLIC_BASE_URL.rstrip("/") + reverse("signed-media", kwargs={"token": token})
    assert media.media_name_from_token(token) == "generation/3/c/es/subtitles.vtt"
