"""Campaigns that need localised videos: a submission's post must have succeeded renditions in at
least `min_localized_markets` languages."""

import pytest

from billing.models import CreditEntry
from creators.models import Campaign, Reward, Submission
from creators.tests.factories import CampaignFactory, CreatorProfileFactory, EnrolmentFactory, publish_task
from feed.tests.factories import PostFactory, RenditionFactory
from generation.models import RenditionStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(client_for):
    campaign = CampaignFactory(min_localized_markets=2)
    publish_task(campaign, reward=50)
    profile = CreatorProfileFactory()
    EnrolmentFactory(campaign=campaign, user=profile.user)
    return {"campaign": campaign, "user": profile.user, "client": client_for(profile.user),
            "url": f"/api/v1/campaigns/{campaign.pk}/submissions"}


def _nothing_happened(campaign: Campaign) -> None:
    assert Submission.objects.count() == 0
    assert Reward.objects.count() == 0
    assert CreditEntry.objects.filter(idempotency_key__startswith="creator-reward:").count() == 0
    campaign.refresh_from_db()
    assert campaign.budget_remaining == 10_000


@pytest.mark.parametrize(("renditions", "have"), [
    ([], 0),
    ([("es", RenditionStatus.SUCCEEDED)], 1),
    # Not ready, or failed: they do not count.
    ([("es", RenditionStatus.SUCCEEDED), ("ja", RenditionStatus.PENDING), ("hi", RenditionStatus.FAILED)], 1),
    # Two renditions of one language (a second localize job) are one language.
    ([("es", RenditionStatus.SUCCEEDED), ("es", RenditionStatus.SUCCEEDED)], 1),
])
def test_too_few_localised_languages_is_refused_and_nothing_changes(setup, renditions, have,
                                                                     django_capture_on_commit_callbacks):
    post = PostFactory(author=setup["user"])
    for language, status in renditions:
        RenditionFactory(post=post, language=language, status=status)

    with django_capture_on_commit_callbacks() as callbacks:
        response = setup["client"].post(setup["url"], {"post_id": post.pk}, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["required"], error["have"]) == ("campaign_localization_required", 2, have)
    assert error["message"] == (f"This campaign needs the video localised into at least 2 languages; "
                                f"this post has {have}.")
    assert callbacks == []
    _nothing_happened(setup["campaign"])


def test_enough_localised_languages_is_accepted(setup):
    post = PostFactory(author=setup["user"])
    RenditionFactory(post=post, language="es")
    RenditionFactory(post=post, language="pt-BR", dubbed=True)

    response = setup["client"].post(setup["url"], {"post_id": post.pk}, format="json")

    assert response.status_code == 201
    assert Submission.objects.get().post_id == post.pk


def test_no_requirement_by_default(client_for):
    campaign = CampaignFactory()
    profile = CreatorProfileFactory()
    EnrolmentFactory(campaign=campaign, user=profile.user)
    post = PostFactory(author=profile.user)

    response = client_for(profile.user).post(f"/api/v1/campaigns/{campaign.pk}/submissions", {"post_id": post.pk},
                                             format="json")

    assert campaign.min_localized_markets == 0
    assert response.status_code == 201


def test_campaign_api_shows_the_requirement(setup):
    response = setup["client"].get(f"/api/v1/campaigns/{setup['campaign'].pk}")

    assert response.status_code == 200
    assert response.json()["min_localized_markets"] == 2
