"""Who sees which campaign, who may enrol, and in which language the campaign speaks."""

from datetime import timedelta

import pytest
from django.utils import timezone

from creators.models import Campaign, CreatorProfile, Enrolment, Tier
from creators.tests.factories import CampaignFactory, CreatorProfileFactory, TaskFactory

pytestmark = pytest.mark.django_db


def _creator(client_for, **profile):
    profile = CreatorProfileFactory(**profile)
    return client_for(profile.user), profile


def test_list_shows_running_campaigns_of_my_country_and_languages_only(client_for):
    client, _ = _creator(client_for, country="MX", languages=["es"])
    everywhere = CampaignFactory(name="everywhere")
    mexico = CampaignFactory(name="mexico", countries=["MX", "CO"], languages=["es"])
    CampaignFactory(name="brazil", countries=["BR"])
    CampaignFactory(name="english only", languages=["en"])
    CampaignFactory(name="draft", status=Campaign.Status.DRAFT)
    CampaignFactory(name="closed", status=Campaign.Status.CLOSED)
    CampaignFactory(name="not started", starts_at=timezone.now() + timedelta(days=1))

    response = client.get("/api/v1/campaigns")

    assert response.status_code == 200
    assert sorted(c["id"] for c in response.json()) == sorted([everywhere.pk, mexico.pk])


def test_a_user_who_is_not_a_creator_sees_their_accounts_market(auth_api):
    auth_api.user.country, auth_api.user.locale = "BR", "pt-BR"
    auth_api.user.save()
    brazil = CampaignFactory(countries=["BR"], languages=["pt"])
    CampaignFactory(countries=["US"])

    response = auth_api.get("/api/v1/campaigns")

    assert [c["id"] for c in response.json()] == [brazil.pk]
    assert response.json()[0]["eligibility"] == {"eligible": False, "reason": "not_a_creator"}


def test_campaign_text_is_in_my_language_with_fallbacks(client_for):
    campaign = CampaignFactory(default_language="en", texts={
        "en": ("Paper boats", "Remix the boat."), "es": ("Barcos de papel", "Remezcla el barco."),
        "pt-br": ("Barcos de papel (BR)", "Faça um remix."),
    })
    spanish, _ = _creator(client_for, user__locale="es-MX", languages=["es"])
    brazilian, _ = _creator(client_for, user__locale="pt-BR", languages=["pt"])
    portuguese, _ = _creator(client_for, user__locale="pt-PT", languages=["pt"])
    german, _ = _creator(client_for, user__locale="de-DE", languages=["de"])
    german_who_reads_spanish, _ = _creator(client_for, user__locale="de-DE", languages=["de", "es"])

    def shown(client):
        body = client.get(f"/api/v1/campaigns/{campaign.pk}").json()
        return body["language"], body["title"], body["brief"]

    assert shown(spanish) == ("es", "Barcos de papel", "Remezcla el barco.")
    assert shown(brazilian) == ("pt-br", "Barcos de papel (BR)", "Faça um remix.")
    # No Portuguese text without a region, and no pt-pt: the campaign's default language.
    assert shown(portuguese) == ("en", "Paper boats", "Remix the boat.")
    assert shown(german) == ("en", "Paper boats", "Remix the boat.")
    assert shown(german_who_reads_spanish) == ("es", "Barcos de papel", "Remezcla el barco.")


def test_enrol_in_a_campaign_of_my_market(client_for):
    client, profile = _creator(client_for, country="MX", languages=["es"])
    campaign = CampaignFactory(countries=["MX"], languages=["es"])

    response = client.post(f"/api/v1/campaigns/{campaign.pk}/enrol")
    again = client.post(f"/api/v1/campaigns/{campaign.pk}/enrol")

    assert (response.status_code, again.status_code) == (201, 200)
    assert response.json()["status"] == "enrolled"
    assert Enrolment.objects.filter(campaign=campaign, user=profile.user).count() == 1
    detail = client.get(f"/api/v1/campaigns/{campaign.pk}").json()
    assert detail["eligibility"] == {"eligible": True, "reason": None}
    assert detail["enrolment"]["status"] == "enrolled"


@pytest.mark.parametrize(("profile", "campaign", "code"), [
    ({"country": "US"}, {"countries": ["MX"]}, "not_in_market"),
    ({"languages": ["en"], "user__locale": "en-US"}, {"languages": ["es"]}, "language_not_targeted"),
    ({}, {"min_tier": Tier.PRO}, "tier_too_low"),
    ({"tier": Tier.PRO, "tier_source": CreatorProfile.TierSource.STAFF}, {"min_tier": Tier.ELITE}, "tier_too_low"),
    ({"tier": Tier.ELITE, "tier_source": CreatorProfile.TierSource.STAFF}, {"min_followers": 50},
     "not_enough_followers"),
    ({}, {"budget_kind": Campaign.BudgetKind.CASH, "currency": "usd"}, "cash_payouts_not_chosen"),
])
def test_enrolment_refused_with_a_code_and_nothing_recorded(client_for, profile, campaign, code):
    client, _ = _creator(client_for, **profile)
    campaign = CampaignFactory(**campaign)

    response = client.post(f"/api/v1/campaigns/{campaign.pk}/enrol")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == code
    assert Enrolment.objects.count() == 0
    assert client.get(f"/api/v1/campaigns/{campaign.pk}").json()["eligibility"] == {"eligible": False,
                                                                                     "reason": code}


def test_tier_follows_the_rules_unless_staff_set_it(client_for, settings):
    settings.CREATORS_TIER_FOLLOWERS = {"rising": 10, "pro": 100, "elite": 1000}
    client, profile = _creator(client_for, user__followers_count=150)
    pro_campaign = CampaignFactory(min_tier=Tier.PRO)
    elite_campaign = CampaignFactory(min_tier=Tier.ELITE)

    assert client.get("/api/v1/creators/me").json()["tier"] == "pro"
    assert client.post(f"/api/v1/campaigns/{pro_campaign.pk}/enrol").status_code == 201
    assert client.post(f"/api/v1/campaigns/{elite_campaign.pk}/enrol").json()["error"]["code"] == "tier_too_low"

    from creators.services import creator_tier_set

    creator_tier_set(staff=profile.user, user_id=profile.user_id, tier=Tier.ELITE)
    assert client.post(f"/api/v1/campaigns/{elite_campaign.pk}/enrol").status_code == 201
    assert client.get("/api/v1/creators/me").json()["tier"] == "elite"


def test_enrolment_refused_when_not_a_creator_or_campaign_not_running(auth_api, client_for):
    running = CampaignFactory()
    closed = CampaignFactory(status=Campaign.Status.CLOSED)
    draft = CampaignFactory(status=Campaign.Status.DRAFT)
    creator, _ = _creator(client_for)

    not_creator = auth_api.post(f"/api/v1/campaigns/{running.pk}/enrol")
    on_closed = creator.post(f"/api/v1/campaigns/{closed.pk}/enrol")
    on_draft = creator.post(f"/api/v1/campaigns/{draft.pk}/enrol")

    assert (not_creator.status_code, not_creator.json()["error"]["code"]) == (403, "not_a_creator")
    assert (on_closed.status_code, on_closed.json()["error"]["code"]) == (409, "campaign_not_active")
    assert (on_draft.status_code, on_draft.json()["error"]["code"]) == (404, "campaign_not_found")
    assert Enrolment.objects.count() == 0


def test_opt_in_update_and_opt_out(auth_api):
    auth_api.user.country, auth_api.user.locale = "mx", "es-MX"
    auth_api.user.save()
    campaign = CampaignFactory()
    TaskFactory(campaign=campaign)

    assert auth_api.get("/api/v1/creators/me").json()["error"]["code"] == "not_a_creator"
    joined = auth_api.put("/api/v1/creators/me", {"tiktok_handle": "@boat.maker", "languages": ["es-MX", "en"]},
                          format="json")
    assert joined.status_code == 201
    assert joined.json() == {
        "tier": "starter", "tier_source": "rules", "country": "MX", "languages": ["es", "en"],
        "tiktok_handle": "boat.maker", "instagram_handle": "", "youtube_handle": "", "payout_method": "credits",
        "connect_status": "none", "opted_in_at": joined.json()["opted_in_at"],
    }
    updated = auth_api.patch("/api/v1/creators/me", {"payout_method": "cash", "youtube_handle": "boats"},
                             format="json")
    assert (updated.json()["payout_method"], updated.json()["youtube_handle"]) == ("cash", "boats")
    assert auth_api.post(f"/api/v1/campaigns/{campaign.pk}/enrol").status_code == 201

    assert auth_api.delete("/api/v1/creators/me").status_code == 204

    assert auth_api.get("/api/v1/creators/me").status_code == 403
    assert Enrolment.objects.get().status == Enrolment.Status.LEFT
    assert CreatorProfile.objects.get().active is False


def test_bad_profile_input_is_refused_and_nothing_saved(auth_api):
    response = auth_api.put("/api/v1/creators/me", {"country": "Mexico", "instagram_handle": "has space"},
                            format="json")

    assert response.status_code == 400
    assert sorted(response.json()["error"]["fields"]) == ["country", "instagram_handle"]
    assert CreatorProfile.objects.count() == 0


def test_the_campaign_list_costs_the_same_queries_whatever_its_length(client_for):
    client, _ = _creator(client_for)

    def queries_for_list() -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            assert client.get("/api/v1/campaigns").status_code == 200
        return len(captured)

    for _ in range(2):
        TaskFactory(campaign=CampaignFactory(texts={"en": ("t", "b"), "es": ("t", "b")}))
    two = queries_for_list()
    for _ in range(6):
        TaskFactory(campaign=CampaignFactory())
    assert queries_for_list() == two


def test_campaigns_target_markets(client_for):
    from accounts.models import Market

    mexico, _ = Market.objects.update_or_create(code="mx", defaults={"name": "Mexico", "countries": ["MX"]})
    latam, _ = Market.objects.update_or_create(code="latam", defaults={"name": "LatAm", "countries": ["CO", "PE"]})
    campaign = CampaignFactory(languages=["es"])
    campaign.markets.set([latam])
    in_mexico, _ = _creator(client_for, country="MX", languages=["es"], user__market=mexico, user__country="MX")
    in_peru, _ = _creator(client_for, country="PE", languages=["es"])  # the creator's country decides

    refused = in_mexico.post(f"/api/v1/campaigns/{campaign.pk}/enrol")

    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "not_in_market"
    assert in_mexico.get("/api/v1/campaigns").json() == []
    assert in_peru.post(f"/api/v1/campaigns/{campaign.pk}/enrol").status_code == 201
    assert in_peru.get(f"/api/v1/campaigns/{campaign.pk}").json()["markets"] == ["latam"]
    assert Enrolment.objects.filter(campaign=campaign).count() == 1
