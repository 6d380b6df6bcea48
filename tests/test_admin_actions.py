"""Admin actions that run a service on each selected row (config.admin): what staff are told."""

import pytest
from django.contrib import messages
from django.contrib.messages import get_messages
from django.urls import reverse

from config.admin import apply_to_each
from config.errors import Conflict


class _Admin:
    def __init__(self):
        self.told: list[tuple[int, str]] = []

    def message_user(self, request, message, level):
        self.told.append((level, message))


def _told(response) -> list[tuple[str, str]]:
    return [(m.level_tag, m.message) for m in get_messages(response.wsgi_request)]


def test_a_refused_row_is_named_in_a_warning_and_the_others_still_run():
    modeladmin, ran = _Admin(), []

    def call(row):
        if row == 2:
            raise Conflict("Not now.")
        ran.append(row)

    apply_to_each(modeladmin, None, [1, 2, 3], call, summary="Done: {count}", name=lambda row: f"Row {row}")

    assert ran == [1, 3]
    assert modeladmin.told == [(messages.WARNING, "Row 2: Not now."), (messages.SUCCESS, "Done: 2")]


def test_an_unexpected_error_is_not_reported_as_a_refusal():
    modeladmin = _Admin()

    def call(row):
        raise ValueError(row)

    with pytest.raises(ValueError):
        apply_to_each(modeladmin, None, [1], call, summary="Done: {count}")

    assert modeladmin.told == []


@pytest.mark.django_db
def test_moderation_actions_name_the_post_they_could_not_change(admin_client):
    from feed.models import PostStatus
    from feed.tests.factories import PostFactory

    tombstone, post = PostFactory(status=PostStatus.DELETED, caption=""), PostFactory(status=PostStatus.HIDDEN)

    response = admin_client.post("/admin/feed/post/", {"action": "restore", "index": 0, "reason": "",
                                                       "_selected_action": [tombstone.pk, post.pk]})

    assert response.status_code == 302
    assert _told(response) == [("warning", f"Post {tombstone.pk}: The author deleted this post."),
                               ("success", "restore: 1 post(s)")]


@pytest.mark.django_db
def test_campaign_actions_name_the_campaign_they_could_not_change(admin_client):
    from creators.models import Campaign
    from creators.tests.factories import CampaignFactory, publish_task

    incomplete = CampaignFactory(status=Campaign.Status.DRAFT, activated_at=None, texts={"de": ("Boote", "...")})
    ready = CampaignFactory(status=Campaign.Status.DRAFT, activated_at=None)
    publish_task(ready, reward=10)

    response = admin_client.post(reverse("admin:creators_campaign_changelist"),
                                 {"action": "activate", "_selected_action": [incomplete.pk, ready.pk]})

    assert _told(response) == [
        ("warning", f"{incomplete}: Add at least one task. Add a title and brief in the default language (en)."),
        ("success", "Activated: 1")]
    assert Campaign.objects.get(pk=ready.pk).status == Campaign.Status.ACTIVE


@pytest.mark.django_db
def test_generation_actions_name_the_job_they_could_not_change(admin_client):
    from feed.tests.factories import SucceededJobFactory

    job = SucceededJobFactory()

    response = admin_client.post(reverse("admin:generation_generationjob_changelist"),
                                 {"action": "cancel_jobs", "_selected_action": [job.pk]})

    assert _told(response) == [("warning", f"{job.pk}: This generation cannot be canceled (status: succeeded)."),
                               ("info", "Canceled: 0")]


@pytest.mark.django_db
def test_a_nul_in_an_action_reason_is_refused_by_the_action_form_and_changes_nothing(admin_client):
    from feed.models import ModerationAction, PostStatus
    from feed.tests.factories import PostFactory

    post = PostFactory()

    response = admin_client.post("/admin/feed/post/", {"action": "hide", "index": 0, "reason": "spam\x00",
                                                       "_selected_action": [post.pk]})

    assert response.status_code == 302
    post.refresh_from_db()
    assert post.status == PostStatus.ACTIVE
    assert not ModerationAction.objects.filter(post=post).exists()
