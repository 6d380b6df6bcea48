"""Every text in the reader's language: the response language rules, stable codes with
translated messages in each launch language, fallbacks, right-to-left text, the admin."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.utils import translation

from accounts.i18n import bcp47, user_language
from accounts.models import Market, User
from accounts.tests.factories import UserFactory

LAUNCH = ["en", "es", "pt-br", "hi", "id", "ja", "zh-hans", "ar"]
WRONG_PASSWORD = "Email or password is wrong."


def _market(code: str, **fields) -> Market:
    market, _ = Market.objects.update_or_create(code=code, defaults={"name": code.upper(), **fields})
    return market


def test_the_launch_languages_are_the_settings_languages():
    assert [code for code, _name in settings.LANGUAGES] == LAUNCH
    assert [bcp47(code) for code in LAUNCH] == ["en", "es", "pt-BR", "hi", "id", "ja", "zh-Hans", "ar"]


@pytest.mark.django_db
@pytest.mark.parametrize("language", LAUNCH)
def test_the_same_bad_request_gives_the_same_code_and_a_translated_message(api, language):
    UserFactory(email="ana@example.com")
    response = api.post("/api/v1/auth/login", {"email": "ana@example.com", "password": "not-her-password"},
                        format="json", HTTP_ACCEPT_LANGUAGE=bcp47(language))

    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "invalid_credentials"
    with translation.override(language):
        expected = translation.gettext(WRONG_PASSWORD)
    assert error["message"] == expected
    assert (error["message"] == WRONG_PASSWORD) == (language == "en")  # translated, not the English
    assert response["Content-Language"] == bcp47(language)


@pytest.mark.django_db
@pytest.mark.parametrize("language", LAUNCH)
def test_a_refusal_has_the_same_code_and_a_translated_message_in_the_users_language(client_for, language):
    client = client_for(UserFactory(locale=bcp47(language)))
    me = client.user
    response = client.post(f"/api/v1/users/{me.handle}/follow")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "follow_self"
    with translation.override(language):
        assert error["message"] == translation.gettext("You cannot follow yourself.")
    assert response["Content-Language"] == bcp47(language)
    assert not me.following_edges.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("header", ["tlh", "xx-YY, qq;q=0.5", "*", "%%%;q=abc", "a" * 300, ""])
def test_an_unknown_or_broken_accept_language_falls_back_to_english(api, header):
    response = api.post("/api/v1/auth/login", {"email": "nobody@example.com", "password": "x"}, format="json",
                        HTTP_ACCEPT_LANGUAGE=header)

    assert response.status_code == 401
    assert response.json()["error"] == {"code": "invalid_credentials", "message": WRONG_PASSWORD, "fields": {}}
    assert response["Content-Language"] == "en"


@pytest.mark.django_db
@pytest.mark.parametrize(("header", "expected"), [
    ("pt-PT", "pt-BR"),           # a region the app lacks: the sibling variant
    ("zh-CN,zh;q=0.9", "zh-Hans"),
    ("es-MX", "es"),
    ("de-DE, ja;q=0.8", "ja"),     # the first supported one, in order of preference
])
def test_accept_language_variants_map_to_a_supported_language(api, header, expected):
    response = api.post("/api/v1/auth/login", {"email": "nobody@example.com", "password": "x"}, format="json",
                        HTTP_ACCEPT_LANGUAGE=header)

    assert response["Content-Language"] == expected


@pytest.mark.django_db
def test_the_signed_in_users_locale_beats_accept_language(client_for):
    client = client_for(UserFactory(locale="ja-JP"))

    response = client.get("/api/v1/me", HTTP_ACCEPT_LANGUAGE="es")

    assert response["Content-Language"] == "ja"
    assert response.json()["language"] == "ja"


@pytest.mark.django_db
def test_without_locale_or_accept_language_the_markets_first_language_applies(client_for):
    india = _market("in", countries=["IN"], languages=["hi", "en"], currency="inr")
    client = client_for(UserFactory(locale="", country="IN", market=india))

    assert client.get("/api/v1/me")["Content-Language"] == "hi"
    assert client.get("/api/v1/me", HTTP_ACCEPT_LANGUAGE="id")["Content-Language"] == "id"
    assert client_for(UserFactory(locale="", market=None)).get("/api/v1/me")["Content-Language"] == "en"


@pytest.mark.django_db
def test_user_language_for_texts_rendered_for_someone_else():
    japan = _market("jp", countries=["JP"], languages=["ja"], currency="jpy")
    assert user_language(UserFactory(locale="ja-JP")) == "ja"
    assert user_language(UserFactory(locale="pt_PT")) == "pt-br"
    assert user_language(UserFactory(locale="", market=japan)) == "ja"
    assert user_language(UserFactory(locale="tlh", market=None)) == "en"


@pytest.mark.django_db
def test_rtl_text_round_trips_unchanged(client_for):
    client = client_for(UserFactory(locale="ar"))
    # Arabic with a right-to-left mark, an isolate around a Latin handle, and Arabic-Indic digits.
    name = "\u200fليلى \u2067@layla_99\u2069 ٣٤"
    bio = "أحب صناعة الفيديو 🎬 — مرحبا بالجميع!"

    assert client.patch("/api/v1/me", {"display_name": name, "bio": bio}, format="json").status_code == 200
    body = client.get("/api/v1/me").json()

    assert (body["display_name"], body["bio"]) == (name, bio)
    assert User.objects.get(pk=client.user.pk).display_name == name
    error = client.post(f"/api/v1/users/{client.user.handle}/block").json()["error"]
    assert error["code"] == "block_self"
    assert error["message"] == "لا يمكنك حظر نفسك."


@pytest.mark.django_db
def test_the_admin_renders_in_the_staff_users_language(client):
    staff = UserFactory(is_staff=True, is_superuser=True, locale="zh-Hans")
    client.force_login(staff)

    index = client.get("/admin/")
    markets = client.get("/admin/accounts/market/add/")

    assert index.status_code == 200
    assert index["Content-Language"] == "zh-Hans"
    page = index.content.decode()
    assert "欢迎，" in page and "注销" in page  # Django's "Welcome," and "Log out"
    assert "仪表盘" in page    # our dashboard's title
    assert markets.status_code == 200
    form = markets.content.decode()
    assert "增加 市场" in form  # Django's "Add %(name)s" with our model's name
    assert "第一语言" in form   # our form's label


@pytest.mark.django_db
@pytest.mark.parametrize("language", LAUNCH)
def test_validation_messages_are_translated_and_keep_their_codes(api, language):
    response = api.post("/api/v1/auth/signup", {"email": "ana@example.com", "handle": "ana"}, format="json",
                        HTTP_ACCEPT_LANGUAGE=bcp47(language))

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["fields"]["password"][0]["code"] == "required"
    with translation.override(language):
        expected = translation.gettext("This field is required.")
    assert error["fields"]["password"][0]["message"] == error["message"] == expected
    assert (expected == "This field is required.") == (language == "en")
    assert not User.objects.filter(email="ana@example.com").exists()
