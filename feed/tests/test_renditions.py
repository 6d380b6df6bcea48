"""Renditions in the feed: every card plays the video in the viewer's language, the original one
tap away; a taken-down or removed post serves none of its files."""

from urllib.parse import urlsplit

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from accounts.tests.factories import FollowFactory, UserFactory
from config.media import media_name_from_token
from config.redis import get_redis
from feed import ranking
from feed.models import PostStatus
from feed.renditions import CardRendition, rendition_choose
from feed.tests.factories import PostFactory, RenditionFactory
from generation.models import RenditionStatus

pytestmark = pytest.mark.django_db

FEEDS = [
    "/api/v1/feed/for-you",
    "/api/v1/feed/trending",
    "/api/v1/feed/following",
    "/api/v1/users/{author}/posts",
    "/api/v1/posts/{post}",
]


def name_of(url: str | None) -> str | None:
    return None if url is None else media_name_from_token(urlsplit(url).path.rstrip("/").rsplit("/", 1)[1])


@pytest.fixture
def world():
    author = UserFactory()
    post = PostFactory(author=author, language="en")
    renditions = {
        "es": RenditionFactory(post=post, language="es"),
        "pt-BR": RenditionFactory(post=post, language="pt-BR", dubbed=True),
        "zh-Hans": RenditionFactory(post=post, language="zh-Hans", burned_in=True),
    }
    # Not ready: never shown.
    RenditionFactory(post=post, language="ja", status=RenditionStatus.PENDING)
    RenditionFactory(post=post, language="hi", status=RenditionStatus.FAILED)
    ranking.scores_refresh()
    return {"author": author, "post": post, "renditions": renditions}


def viewer_following(world, **fields):
    viewer = UserFactory(**fields)
    FollowFactory(follower=viewer, followee=world["author"])
    return viewer


def card_of(client, world, url: str, accept: str = "", **params) -> dict:
    headers = {"HTTP_ACCEPT_LANGUAGE": accept} if accept else {}
    response = client.get(url.format(author=world["author"].handle, post=world["post"].pk), params, **headers)
    assert response.status_code == 200, response.json()
    body = response.json()
    cards = body["results"] if "results" in body else [body]
    return next(c for c in cards if c["id"] == world["post"].pk)


@pytest.mark.parametrize("url", FEEDS)
@pytest.mark.parametrize(("locale", "accept", "served"), [
    ("es", "", "es"),  # the user's language setting
    ("", "pt-BR,pt;q=0.9", "pt-BR"),  # Accept-Language; Django's pt-br is the tag pt-BR
    ("zh-CN", "", "zh-Hans"),  # a locale the app maps to zh-hans
    ("en", "", None),  # the post's own language: the original
    ("ja", "", None),  # no ready rendition in Japanese (one is pending)
])
def test_every_feed_plays_the_rendition_in_the_viewer_language(client_for, world, url, locale, accept, served):
    client = client_for(viewer_following(world, locale=locale))

    card = card_of(client, world, url, accept=accept)

    original = world["post"].generation.video.name
    assert name_of(card["original_video_url"]) == original
    if served is None:
        assert (name_of(card["video_url"]), card["served_language"]) == (original, "en")
    else:
        assert (name_of(card["video_url"]), card["served_language"]) == (world["renditions"][served].video.name,
                                                                        served)
    assert [(r["language"], r["dubbed"], r["burned_in"], name_of(r["video_url"]), name_of(r["subtitles_url"]))
            for r in card["renditions"]] == [
        (tag, r.dubbed, r.burned_in, r.video.name, r.subtitles.name)
        for tag, r in sorted(world["renditions"].items(), key=lambda item: item[0].lower())]


def test_region_tag_falls_back_to_its_base_language():
    post = PostFactory(language="en")
    portuguese = RenditionFactory(post=post, language="pt")
    client = client_for_locale("pt-BR")

    card = client.get(f"/api/v1/posts/{post.pk}").json()

    assert (name_of(card["video_url"]), card["served_language"]) == (portuguese.video.name, "pt")


def client_for_locale(locale: str):
    from accounts.services import tokens_for_user
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_for_user(UserFactory(locale=locale))['access']}")
    return client


def test_the_closest_language_wins_then_a_dubbed_one():
    es = CardRendition("es", False, False, "es.mp4", "es.vtt")
    pt = CardRendition("pt", True, False, "pt.mp4", "pt.vtt")
    pt_br = CardRendition("pt-BR", False, False, "pt-BR.mp4", "pt-BR.vtt")
    pt_br_dubbed = CardRendition("pt-br", True, False, "pt-br.mp4", "pt-br.vtt")

    assert rendition_choose([es, pt, pt_br], "pt-br") is pt_br  # exact beats a dubbed base language
    assert rendition_choose([es, pt_br, pt_br_dubbed], "pt-br") is pt_br_dubbed  # as close: dubbed
    assert rendition_choose([es, pt], "pt-br") is pt
    assert rendition_choose([es, pt_br], "pt") is None  # a base language does not take a region's
    assert rendition_choose([es, pt], "ja") is None
    assert rendition_choose([es], None) is None
    assert rendition_choose([], "es") is None


@pytest.mark.parametrize("url", FEEDS)
def test_original_and_lang_override_the_viewer_language(client_for, world, url):
    client = client_for(viewer_following(world, locale="es"))
    original = world["post"].generation.video.name

    plain = card_of(client, world, url, original="1")
    chinese = card_of(client, world, url, lang="zh-Hans")
    region = card_of(client, world, url, lang="pt-br")
    english = card_of(client, world, url, lang="en")

    assert (name_of(plain["video_url"]), plain["served_language"]) == (original, "en")
    assert len(plain["renditions"]) == 3
    assert (name_of(chinese["video_url"]), chinese["served_language"]) == (
        world["renditions"]["zh-Hans"].video.name, "zh-Hans")
    assert region["served_language"] == "pt-BR"
    assert (name_of(english["video_url"]), english["served_language"]) == (original, "en")


@pytest.mark.parametrize("url", [*FEEDS, "/api/v1/posts/{post}/lineage", "/api/v1/posts/{post}/remixes"])
@pytest.mark.parametrize(("params", "code"), [
    ({"lang": "fr"}, "lang_invalid"),
    ({"lang": "x" * 40}, "lang_invalid"),
    ({"lang": ""}, "lang_invalid"),
    ({"original": "yes"}, "original_invalid"),
    ({"original": "2", "lang": "es"}, "original_invalid"),
    ({"original": "1", "lang": "fr"}, "lang_invalid"),
])
def test_bad_lang_or_original_is_a_400_that_changes_nothing(client_for, world, url, params, code):
    viewer = viewer_following(world, locale="es")
    client = client_for(viewer)
    redis = get_redis()
    before = set(redis.scan_iter(f"rank-pages:{viewer.pk}:*"))

    response = client.get(url.format(author=world["author"].handle, post=world["post"].pk), params)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code
    assert [e["code"] for e in error["fields"][code.split("_")[0]]] == [code]
    assert set(redis.scan_iter(f"rank-pages:{viewer.pk}:*")) == before  # no ranked snapshot stored


def test_next_page_of_a_ranked_feed_keeps_the_choice(client_for, world, settings):
    settings.FEED_MAX_PER_AUTHOR = settings.FEED_FOLLOWING_PER_AUTHOR = 100
    for _ in range(3):
        RenditionFactory(post=PostFactory(author=world["author"]), language="es")
    ranking.scores_refresh()
    client = client_for(viewer_following(world, locale="en"))

    first = client.get("/api/v1/feed/for-you", {"page_size": 2, "lang": "es"}).json()
    second = client.get(first["next"]).json()

    assert "lang=es" in first["next"]
    assert [c["served_language"] for c in first["results"] + second["results"]] == ["es"] * 4


def test_renditions_endpoint_lists_the_ready_ones(client_for, world):
    client = client_for(viewer_following(world))

    response = client.get(f"/api/v1/posts/{world['post'].pk}/renditions")

    assert response.status_code == 200
    assert [(r["language"], r["dubbed"], r["burned_in"], name_of(r["video_url"]), name_of(r["subtitles_url"]))
            for r in response.json()["results"]] == [
        ("es", False, False, world["renditions"]["es"].video.name, world["renditions"]["es"].subtitles.name),
        ("pt-BR", True, False, world["renditions"]["pt-BR"].video.name,
         world["renditions"]["pt-BR"].subtitles.name),
        ("zh-Hans", False, True, world["renditions"]["zh-Hans"].video.name,
         world["renditions"]["zh-Hans"].subtitles.name),
    ]


def test_renditions_endpoint_hides_posts_the_viewer_may_not_see(client_for):
    private = PostFactory(visibility="private")
    RenditionFactory(post=private, language="es")
    client = client_for(UserFactory())

    response = client.get(f"/api/v1/posts/{private.pk}/renditions")
    missing = client.get("/api/v1/posts/999999999/renditions")

    assert (response.status_code, response.json()["error"]["code"]) == (404, "post_not_found")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "post_not_found")


def test_newest_rendition_of_a_language_is_shown():
    post = PostFactory(language="en")
    from datetime import timedelta

    from django.utils import timezone

    RenditionFactory(post=post, language="es", finished_at=timezone.now() - timedelta(hours=1))
    newer = RenditionFactory(post=post, language="es", dubbed=True)
    client = client_for_locale("es")

    card = client.get(f"/api/v1/posts/{post.pk}").json()

    assert [(r["language"], r["dubbed"]) for r in card["renditions"]] == [("es", True)]
    assert name_of(card["video_url"]) == newer.video.name


def _fetch(client, url: str) -> int:
    return client.get(urlsplit(url).path).status_code


@pytest.mark.parametrize("status", [PostStatus.TAKEN_DOWN, PostStatus.REMOVED])
def test_taken_down_post_serves_no_rendition_and_no_file(client_for, world, status):
    viewer = viewer_following(world, locale="es")
    client = client_for(viewer)
    post = world["post"]
    job = post.generation
    # The original's files, where the worker stores them (under the job's folder).
    job.video = default_storage.save(f"generation/{job.user_id}/{job.pk}/video.mp4", ContentFile(b"original"))
    job.poster = default_storage.save(f"generation/{job.user_id}/{job.pk}/poster.jpg", ContentFile(b"poster"))
    job.save(update_fields=["video", "poster"])
    live = card_of(client, world, "/api/v1/posts/{post}")
    files = [live["video_url"], live["original_video_url"], live["poster_url"],
             *(r[key] for r in live["renditions"] for key in ("video_url", "subtitles_url"))]
    assert [_fetch(client, url) for url in files] == [200] * 9

    type(post).objects.filter(pk=post.pk).update(status=status)

    detail = client.get(f"/api/v1/posts/{post.pk}")
    renditions = client.get(f"/api/v1/posts/{post.pk}/renditions")
    feed = client.get("/api/v1/feed/following").json()["results"]
    assert (detail.status_code, renditions.status_code) == (404, 404)
    assert post.pk not in [c["id"] for c in feed]
    assert [_fetch(client, url) for url in files] == [404] * 9  # URLs handed out before the takedown

    type(post).objects.filter(pk=post.pk).update(status=PostStatus.ACTIVE)  # consent restored
    assert [_fetch(client, url) for url in files] == [200] * 9


def test_hidden_pending_review_keeps_its_files_and_other_media_is_unaffected(client_for, world):
    client = client_for(viewer_following(world))
    rendition = world["renditions"]["es"]
    url = client.get(f"/api/v1/posts/{world['post'].pk}/renditions").json()["results"][0]["video_url"]
    type(world["post"]).objects.filter(pk=world["post"].pk).update(status=PostStatus.HIDDEN)
    other = RenditionFactory(post=PostFactory(), language="es")
    type(world["post"]).objects.filter(pk=other.source_job.post.pk).update(status=PostStatus.TAKEN_DOWN)

    from config.media import media_url

    assert _fetch(client, url) == 200
    assert name_of(url) == rendition.video.name
    assert _fetch(client, media_url(other.video.name)) == 404
