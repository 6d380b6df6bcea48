"""Every staff action that changes money or content leaves an audit row naming who did what,
to which row, and when: performed through the admin by a staff member signed in with their
second factor, as in production.

The one trail across apps is Django's admin log (LogEntry), written by config.admin for every
row an admin action changed (and by Django for every add); the domain trails (ModerationAction,
CreditEntry.created_by, Payout.created_by, Cameo.reviewed_by) are checked next to it."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.cameos.models import Cameo, CameoStatus
from accounts.tests.factories import UserFactory
from billing.models import CreditEntry
from billing.selectors import credit_balance
from creators.models import Payout
from feed.models import ModerationAction, Post, PostStatus
from feed.tests.factories import PostFactory
from generation import services as gen
from generation.models import GenerationJob

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-pass-phrase-9"


@pytest.fixture(autouse=True)
def _settings(settings, tmp_path, sent_tasks):
    settings.ADMIN_OTP_REQUIRED = True
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.GENERATION_BACKEND = "preview"
    settings.CREDITS_SIGNUP_GRANT = 100


@pytest.fixture
def staff():
    user = UserFactory(is_staff=True, is_superuser=True, email="ops@example.com", handle="ops")
    user.set_password(PASSWORD)
    user.save()
    call_command("staff_totp", "ops@example.com", stdout=StringIO())
    return user


@pytest.fixture
def admin(client, staff):
    """The admin as the staff member: password and the current TOTP code."""
    device = TOTPDevice.objects.get(user=staff)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    response = client.post("/admin/login/?next=/admin/", {
        "username": "ops@example.com", "password": PASSWORD, "otp_device": device.persistent_id,
        "otp_token": f"{totp.token():0{device.digits}d}"})
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200
    return client


def _entries(row) -> list[tuple]:
    """The admin log of one row: (who, flag, message), oldest first."""
    return list(LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(row), object_id=str(row.pk))
                .order_by("pk").values_list("user_id", "action_flag", "change_message"))


def _recent(when) -> bool:
    return abs((timezone.now() - when).total_seconds()) < 60


def test_a_credit_adjustment_names_the_staff_member_and_the_reason(admin, staff):
    customer = UserFactory()
    before = credit_balance(user_id=customer.pk).available

    response = admin.post(reverse("admin:billing_creditentry_add"),
                          {"user": customer.pk, "amount": 25, "reason": "Support ticket 4411"})

    assert response.status_code == 302
    entry = CreditEntry.objects.get(user=customer, kind=CreditEntry.Kind.ADJUSTMENT)
    assert (entry.available_delta, entry.created_by_id, entry.reason) == (25, staff.pk, "Support ticket 4411")
    assert _recent(entry.created_at)
    assert [(who, flag) for who, flag, __ in _entries(entry)] == [(staff.pk, ADDITION)]
    assert credit_balance(user_id=customer.pk).available == before + 25


def test_an_adjustment_without_a_reason_changes_nothing_and_audits_nothing(admin):
    customer = UserFactory()
    before = credit_balance(user_id=customer.pk).available

    response = admin.post(reverse("admin:billing_creditentry_add"), {"user": customer.pk, "amount": 25,
                                                                      "reason": "  "})

    assert response.status_code == 200  # the form again, with the error
    assert not CreditEntry.objects.filter(user=customer, kind=CreditEntry.Kind.ADJUSTMENT).exists()
    assert LogEntry.objects.count() == 0
    assert credit_balance(user_id=customer.pk).available == before


@pytest.mark.parametrize("action, status", [("hide", PostStatus.HIDDEN), ("remove", PostStatus.REMOVED)])
def test_a_takedown_and_the_restore_are_audited_twice_over(admin, staff, action, status):
    post = PostFactory()
    changelist = reverse("admin:feed_post_changelist")

    admin.post(changelist, {"action": action, "index": 0, "reason": "nudity", "_selected_action": [post.pk]})
    assert Post.objects.get(pk=post.pk).status == status
    admin.post(changelist, {"action": "restore", "index": 0, "reason": "appeal upheld",
                            "_selected_action": [post.pk]})

    assert Post.objects.get(pk=post.pk).status == PostStatus.ACTIVE
    trail = list(ModerationAction.objects.filter(post=post).order_by("pk"))
    assert [(m.staff_id, m.action, m.reason) for m in trail] == [(staff.pk, action, "nudity"),
                                                                 (staff.pk, "restore", "appeal upheld")]
    assert all(_recent(m.created_at) for m in trail)
    assert _entries(post) == [(staff.pk, CHANGE, f"Action {action}: nudity"),
                              (staff.pk, CHANGE, "Action restore: appeal upheld")]


def test_a_refused_takedown_writes_no_audit_row(admin):
    tombstone = PostFactory(status=PostStatus.DELETED, caption="")

    admin.post(reverse("admin:feed_post_changelist"), {"action": "restore", "index": 0, "reason": "",
                                                        "_selected_action": [tombstone.pk]})

    assert Post.objects.get(pk=tombstone.pk).status == PostStatus.DELETED
    assert not ModerationAction.objects.filter(post=tombstone).exists()
    assert _entries(tombstone) == []


def test_a_cameo_decision_by_staff_is_audited(admin, staff):
    cameo = Cameo.objects.create(owner=UserFactory(), name="Ada", status=CameoStatus.REVIEW)

    admin.post(reverse("admin:accounts_cameo_changelist"), {"action": "reject", "_selected_action": [cameo.pk]})

    cameo.refresh_from_db()
    assert (cameo.status, cameo.reviewed_by_id) == (CameoStatus.REJECTED, staff.pk)
    assert _entries(cameo) == [(staff.pk, CHANGE, "Action reject")]


def _exported_payout(staff) -> Payout:
    return Payout.objects.create(user=UserFactory(), currency="usd", amount=1_250, method=Payout.Method.MANUAL,
                                 status=Payout.Status.EXPORTED, created_by=staff)


def test_a_payout_marked_paid_or_failed_names_the_staff_member(admin, staff, django_capture_on_commit_callbacks):
    paid, failed = _exported_payout(staff), _exported_payout(staff)
    changelist = reverse("admin:creators_payout_changelist")

    with django_capture_on_commit_callbacks(execute=True):
        admin.post(changelist, {"action": "mark_paid", "_selected_action": [paid.pk]})
        admin.post(changelist, {"action": "mark_failed", "reason": "Bank account closed",
                                "_selected_action": [failed.pk]})

    paid.refresh_from_db()
    failed.refresh_from_db()
    assert (paid.status, failed.status, failed.error) == ("paid", "failed", "Bank account closed")
    assert _entries(paid) == [(staff.pk, CHANGE, "Action mark_paid")]
    assert _entries(failed) == [(staff.pk, CHANGE, "Action mark_failed: Bank account closed")]
    assert _recent(LogEntry.objects.get(object_id=str(paid.pk), content_type__model="payout").action_time)


def test_a_refused_payout_action_changes_nothing_and_audits_nothing(admin, staff):
    payout = _exported_payout(staff)

    admin.post(reverse("admin:creators_payout_changelist"), {"action": "mark_failed", "reason": "",
                                                             "_selected_action": [payout.pk]})

    payout.refresh_from_db()
    assert payout.status == "exported"
    assert _entries(payout) == []


def test_a_generation_failed_by_staff_refunds_and_names_the_staff_member(admin, staff):
    customer = UserFactory()
    job, __ = gen.generation_submit(user=customer, kind="text_to_video", prompt="lanterns over a lake",
                                    duration_seconds=4, size="480x854")
    assert credit_balance(user_id=customer.pk).reserved > 0

    admin.post(reverse("admin:generation_generationjob_changelist"), {"action": "fail_with_refund",
                                                                      "_selected_action": [job.pk]})

    job.refresh_from_db()
    assert (job.status, job.error_code) == ("failed", "failed_by_staff")
    assert credit_balance(user_id=customer.pk).reserved == 0
    assert credit_balance(user_id=customer.pk).available == 100
    assert _entries(job) == [(staff.pk, CHANGE, "Action fail_with_refund")]
    assert GenerationJob.objects.count() == 1
