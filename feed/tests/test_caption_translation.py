"""`GET /api/v1/posts/{id}?translate=1`: the caption in the viewer's language, through the
offline (apertium) or the hosted backend, cached per post and language until the caption changes."""

from __future__ import annotations

import pytest

from accounts.tests.factories import UserFactory
from feed.models import PostTranslation
from generation.translation.apertium import installed_modes

from .factories import PostFactory

pytestmark = pytest.mark.django_db
needs_apertium = pytest.mark.skipif(not {"eng-spa", "spa-eng", "es-pt_BR"} <= installed_modes(),
                                    reason="apertium with apertium-eng-spa and apertium-es-pt (scripts/venv.sh)")


@pytest.fixture(autouse=True)
def _offline(settings):
    settings.TRANSLATION_BACKEND = "apertium"


def _get(client, post, translate="1", **headers):
    return client.get(f"/api/v1/posts/{post.pk}?translate={translate}", **headers)


@needs_apertium
def test_an_english_caption_reads_in_spanish_offline_and_is_cached(client_for):
    post = PostFactory(caption="My cat likes to dance in the rain", language="en")
    client = client_for(UserFactory(locale="es-MX"))

    body = _get(client, post).json()

    assert body["caption"] == "My cat likes to dance in the rain"
    assert body["caption_translation"] == {"language": "es", "source_language": "en",
                                           "text": "A Mi gato le gusta bailar en la lluvia", "backend": "apertium"}
    row = PostTranslation.objects.get(post=post)
    assert (row.language, row.text) == ("es", "A Mi gato le gusta bailar en la lluvia")
    # The second read is the cached row (changed here to tell it from a fresh translation).
    PostTranslation.objects.filter(pk=row.pk).update(text="cached")
    assert _get(client, post).json()["caption_translation"]["text"] == "cached"


@needs_apertium
def test_english_to_brazilian_portuguese_goes_through_spanish(client_for):
    post = PostFactory(caption="The rain is beautiful today", language="en")

    body = _get(client_for(UserFactory(locale="pt-BR")), post).json()

    assert body["caption_translation"] == {"language": "pt-BR", "source_language": "en",
                                           "text": "A chuva é bela hoje", "backend": "apertium"}


@needs_apertium
def test_a_caption_edit_forgets_its_translations(client_for):
    author = UserFactory()
    post = PostFactory(author=author, caption="My cat likes to dance in the rain", language="en")
    viewer = client_for(UserFactory(locale="es"))
    _get(viewer, post)
    assert PostTranslation.objects.filter(post=post).count() == 1

    response = client_for(author).patch(f"/api/v1/posts/{post.pk}", {"caption": "The rain"}, format="json")

    assert response.status_code == 200
    assert not PostTranslation.objects.filter(post=post).exists()
    assert _get(viewer, post).json()["caption_translation"]["text"] == "La lluvia"


def test_no_translation_in_the_same_language_for_an_unknown_pair_or_when_not_asked(client_for):
    post = PostFactory(caption="My cat dances in the rain", language="en")

    assert _get(client_for(UserFactory(locale="en-GB")), post).json()["caption_translation"] is None
    assert _get(client_for(UserFactory(locale="ja")), post).json()["caption_translation"] is None  # no en-ja pair
    assert _get(client_for(UserFactory(locale="es")), post, translate="0").json()["caption_translation"] is None
    assert not PostTranslation.objects.exists()


def test_a_bad_translate_value_is_a_400(client_for):
    post = PostFactory()

    response = _get(client_for(UserFactory(locale="es")), post, translate="yes please")

    assert response.status_code == 400
    assert response.json()["error"]["fields"]["translate"][0]["code"] == "translate_invalid"
    assert not PostTranslation.objects.exists()


def test_the_hosted_backend_translates_into_arabic_and_japanese(client_for, remote_translation):
    post = PostFactory(caption="My cat dances in the rain", language="en")

    arabic = _get(client_for(UserFactory(locale="ar")), post).json()["caption_translation"]
    japanese = _get(client_for(UserFactory(locale="ja")), post).json()["caption_translation"]

    assert arabic == {"language": "ar", "source_language": "en", "text": "قطتي ترقص تحت المطر", "backend": "remote"}
    assert japanese["text"] == "私の猫は雨の中で踊る"
    assert [(r["source"], r["target"], r["api_key"]) for r in remote_translation.requests] == [
        ("en", "ar", "tr-test"), ("en", "ja", "tr-test")]
    assert PostTranslation.objects.filter(post=post).count() == 2


def test_a_failing_hosted_backend_shows_the_original_and_caches_nothing(client_for, remote_translation):
    remote_translation.fail_with = 500
    post = PostFactory(caption="My cat dances in the rain", language="en")

    response = _get(client_for(UserFactory(locale="ja")), post)

    assert response.status_code == 200
    assert response.json()["caption_translation"] is None
    assert len(remote_translation.requests) == 1
    assert not PostTranslation.objects.exists()
