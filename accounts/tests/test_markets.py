"""Markets as data: the sign-up country hint picks one, its rules apply, staff edit them in the
admin from lists."""

from __future__ import annotations

from datetime import date

import pytest

from accounts.models import Market, User
from accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _market(code: str, **fields) -> Market:
    market, _ = Market.objects.update_or_create(code=code, defaults={"name": code.upper(), **fields})
    return market


def _signup(api, **fields):
    body = {"email": "ana@example.com", "password": "a long enough passphrase", "handle": "ana", **fields}
    return api.post("/api/v1/auth/signup", body, format="json")


def test_sign_up_takes_the_market_of_the_country_hint(api):
    india = _market("in", countries=["IN"], languages=["hi", "en"], currency="inr")

    response = _signup(api, country="in")

    assert response.status_code == 201
    assert User.objects.get(email="ana@example.com").market == india
    me = api.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
    assert (me.json()["market"], me.json()["language"], me["Content-Language"]) == ("in", "hi", "hi")


def test_a_country_in_no_market_signs_up_without_one(api):
    assert _signup(api, country="AQ").status_code == 201
    assert User.objects.get(email="ana@example.com").market is None


def test_the_markets_minimum_age_refuses_younger_people_and_creates_nothing(api):
    _market("kr", countries=["KR"], languages=["en"], min_signup_age=14)

    response = _signup(api, country="KR", birth_year=date.today().year - 13)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "age_restricted"
    assert response.json()["error"]["message"] == "You must be at least 14 to use this app."
    assert not User.objects.filter(email="ana@example.com").exists()
    assert _signup(api, country="US", birth_year=date.today().year - 13).status_code == 201  # ACCOUNTS_MIN_AGE


def test_changing_country_changes_market(client_for):
    brazil = _market("br", countries=["BR"], languages=["pt-br"], currency="brl")
    client = client_for(UserFactory(country="US", locale=""))

    response = client.patch("/api/v1/me", {"country": "br"}, format="json")

    assert response.status_code == 200
    assert (response.json()["country"], response.json()["market"]) == ("BR", "br")
    assert User.objects.get(pk=client.user.pk).market == brazil
    assert client.get("/api/v1/me")["Content-Language"] == "pt-BR"


def _admin_form(**overrides) -> dict:
    form = {"code": "nordics", "name": "Nordics", "countries": ["SE", "NO"], "language_1": "en", "language_2": "",
            "language_3": "", "language_4": "", "currency": "SEK", "time_zone": "Europe/Stockholm",
            "min_signup_age": 13, "teen_age": 18, "blocked_terms": "first term\nsecond term", "region_boost": 0.5,
            "billing_offered": "on", "stores": ["stripe", "google_play"]}
    form.update(overrides)
    return form


def test_staff_make_a_market_from_lists(admin_client):
    response = admin_client.post("/admin/accounts/market/add/", _admin_form(language_1="ar", language_2="en"))

    assert response.status_code == 302
    market = Market.objects.get(code="nordics")
    assert (market.countries, market.languages, market.currency, market.stores, market.blocked_term_list()) == (
        ["NO", "SE"], ["ar", "en"], "sek", ["stripe", "google_play"], ["first term", "second term"])


@pytest.mark.parametrize(("overrides", "field"), [
    ({"countries": ["IN"]}, "countries"),        # India is another market's
    ({"language_1": "tlh"}, "language_1"),        # not a language of the app
    ({"time_zone": "Mars/Olympus"}, "time_zone"),
    ({"teen_age": 10}, "teen_age"),                # below the sign-up age
    ({"stores": ["fax"]}, "stores"),
])
def test_a_bad_market_is_refused_and_nothing_is_saved(admin_client, overrides, field):
    _market("in", countries=["IN"], languages=["hi"])

    response = admin_client.post("/admin/accounts/market/add/", _admin_form(**overrides))

    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert not Market.objects.filter(code="nordics").exists()
