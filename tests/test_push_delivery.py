"""Push delivery end to end: the Celery push tasks against the local FCM v1 server
(tests/fakes/fcm.py), through firebase-admin's real HTTP path.

A task's retry is Celery's own Task.retry; only the broker publish is recorded instead
of sent (`published`), so the countdown and the devices of the retry are asserted, and
nothing ever sleeps."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from celery.exceptions import Retry
from firebase_admin import messaging

from accounts import push
from accounts.models import Device
from accounts.selectors import push_alerts_recent
from accounts.tests.factories import DeviceFactory, UserFactory
from accounts.models import Notification
from accounts.notifications import notification_types
from accounts.notifications.services import PUSH_TASK
from accounts.tasks import push_notification
from generation.models import JobStatus
from generation.tests.factories import GenerationJobFactory
from tests.fakes.fcm import validate_message

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(monkeypatch):
    """Task messages sent (a retry re-sends its task), as (name, args, kwargs, options)."""
    from config.celery import app

    sent: list[tuple] = []
    monkeypatch.setattr(app, "send_task",
                        lambda name, args=None, kwargs=None, **options: sent.append((name, args, kwargs, options)))
    return sent


def _run(task, *args, retries: int = 0, **kwargs):
    """Run `task` as a worker would run its message (try number `retries + 1`)."""
    task.push_request(id="task-1", args=list(args), kwargs=kwargs, retries=retries, called_directly=False,
                      is_eager=False, delivery_info={})
    try:
        return task.run(*args, **kwargs)
    finally:
        task.pop_request()


def _finished_job(**devices):
    """A finished job's notification (what the worker's success writes) and the owner's devices."""
    job = GenerationJobFactory(status=JobStatus.SUCCEEDED)
    made = {token: DeviceFactory(user=job.user, fcm_token=token) for token in devices or ["phone-1"]}
    job.notification = Notification.objects.create(user=job.user, type="generation.succeeded",
                                                   group_key=f"generation:{job.pk}", data={"job_id": str(job.pk)})
    return job, made


def test_429_with_retry_after_is_retried_with_that_countdown_for_the_failed_device_only(fcm, published):
    job, devices = _finished_job(**{"phone-ok": 1, "phone-busy": 1})
    fcm.fail("quota", token="phone-busy", retry_after="60")

    with pytest.raises(Retry) as raised:
        _run(push_notification, job.notification.pk)

    assert raised.value.when == 60
    [(name, args, kwargs, options)] = published
    assert (name, list(args), kwargs, options["countdown"]) == (
        PUSH_TASK, [job.notification.pk], {"device_ids": [devices["phone-busy"].pk]}, 60)
    assert sorted(r.token for r in fcm.requests) == ["phone-busy", "phone-ok"]
    # The retry goes to the busy phone alone: the other one is not pushed twice.
    assert _run(push_notification, job.notification.pk, retries=1,
                device_ids=[devices["phone-busy"].pk]) == 1
    assert sorted(r.token for r in fcm.requests) == ["phone-busy", "phone-busy", "phone-ok"]
    assert Device.objects.filter(user=job.user).count() == 2


@pytest.mark.parametrize("kind", ["quota", "unavailable", "internal"])
def test_transient_errors_without_retry_after_back_off_bounded(fcm, published, kind):
    job, devices = _finished_job()
    countdowns = []
    for retries in range(push.PUSH_MAX_RETRIES):
        fcm.fail(kind)
        with pytest.raises(Retry):
            _run(push_notification, job.notification.pk, retries=retries)
        countdowns.append(published[-1][3]["countdown"])

    assert countdowns == [15, 30, 60, 120, 240]
    # Retries spent: the task gives up (logged) and returns; nothing more is sent.
    fcm.fail(kind)
    assert _run(push_notification, job.notification.pk, retries=push.PUSH_MAX_RETRIES) == 0
    assert len(published) == push.PUSH_MAX_RETRIES
    assert len(fcm.requests) == push.PUSH_MAX_RETRIES + 1
    assert Device.objects.filter(pk=devices["phone-1"].pk).exists()


def test_503_with_retry_after_holds_no_worker(fcm, published):
    """firebase-admin used to retry 503 in place, sleeping through each Retry-After: one
    request now, and the wait is the retry's countdown."""
    job, _ = _finished_job()
    fcm.fail("unavailable", retry_after="120", times=5)

    with pytest.raises(Retry) as raised:
        _run(push_notification, job.notification.pk)

    assert raised.value.when == 120
    assert len(fcm.requests) == 1


def test_retry_after_over_an_hour_is_given_up(fcm, published):
    job, _ = _finished_job()
    fcm.fail("quota", retry_after="7200")

    assert _run(push_notification, job.notification.pk) == 0
    assert published == []


def test_dead_token_is_pruned_without_retry(fcm, published):
    job, devices = _finished_job(**{"phone-gone": 1, "phone-ok": 1})
    fcm.fail("unregistered", token="phone-gone")

    assert _run(push_notification, job.notification.pk) == 1
    assert published == []
    assert list(Device.objects.filter(user=job.user).values_list("fcm_token", flat=True)) == ["phone-ok"]


@pytest.mark.parametrize(("kind", "code"), [
    ("third_party_auth", "third_party_auth_error"),
    ("unauthenticated", "fcm_unauthenticated"),
    ("permission_denied", "fcm_permission_denied"),
    ("sender_id_mismatch", "sender_id_mismatch"),
])
def test_auth_and_config_failures_alert_staff_and_keep_the_devices(fcm, published, caplog, kind, code):
    job, devices = _finished_job(**{"phone-1": 1, "phone-2": 1})
    fcm.fail(kind, times=2)

    assert _run(push_notification, job.notification.pk) == 0

    assert published == []  # retrying cannot fix credentials
    assert Device.objects.filter(user=job.user).count() == 2
    [alert] = push_alerts_recent()
    assert (alert["code"], alert["count"]) == (code, 1)
    assert alert["first_seen_at"] and alert["last_seen_at"] and alert["detail"]
    errors = [(r.message, r.code) for r in caplog.records if r.name == "accounts.push" and r.levelname == "ERROR"]
    assert errors == [("push.auth_failed", code)]


def test_authorization_is_checked_when_the_fake_expects_credentials(fcm, published):
    job, _ = _finished_job()
    fcm.expected_authorization = "Bearer test-token"  # the app sends none (no credentials file)

    assert _run(push_notification, job.notification.pk) == 0

    assert [alert["code"] for alert in push_alerts_recent()] == ["fcm_unauthenticated"]


def test_no_alerts_when_push_works(fcm, published):
    job, _ = _finished_job()

    assert _run(push_notification, job.notification.pk) == 1
    assert push_alerts_recent() == []


# --- contract: what we send is what firebase-admin encodes, and the fake accepts it -----------

# A sample of each type's data, as its app writes it.
SAMPLES = {
    "generation.succeeded": {"job_id": "7f9c", "error_code": ""},
    "generation.failed": {"job_id": "7f9c", "error_code": "render_failed"},
    "creator.reward": {"reward_id": 1, "campaign_id": 2, "kind": "credits", "amount": 100, "currency": ""},
    "creator.submission": {"submission_id": 1, "campaign_id": 2, "status": "rejected", "review_reason": "Blurry."},
    "creator.payout": {"payout_id": 1, "status": "paid", "amount": 1250, "currency": "usd"},
    "creator.campaign_closed": {"campaign_id": 2, "reason": "budget_exhausted"},
    "user.followed": {},
    "post.liked": {"post_id": 3},
    "post.remixed": {"post_id": 3, "remix_id": 4},
    "post.commented": {"post_id": 3, "comment_id": 5},
    "comment.replied": {"post_id": 3, "comment_id": 6, "parent_id": 5},
    "mention": {"post_id": 3, "comment_id": 5},
    "cameo.requested": {"cameo_id": "c1"},
    "cameo.approved": {"cameo_id": "c1"},
    "cameo.revoked": {"cameo_id": "c1"},
    "cameo.verified": {"cameo_id": "c1"},
    "cameo.rejected": {"cameo_id": "c1"},
    "cameo.job_canceled": {"job_id": "7f9c", "cameo_id": "c1"},
    "cameo.post_taken_down": {"post_id": 3, "cameo_id": "c1"},
    "account.export_ready": {"export_id": "9b2e"},
}


def test_every_notification_type_has_a_sample():
    assert set(SAMPLES) == set(notification_types())


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_every_push_we_send_is_v1_valid_and_sent_as_firebase_admin_encodes_it(fcm, kind):
    user, actor = UserFactory(), UserFactory(display_name="Ana")
    DeviceFactory(user=user, fcm_token="phone-1")
    note = Notification.objects.create(user=user, type=kind, group_key=f"{kind}:sample", actor=actor,
                                       data=SAMPLES[kind])

    assert _run(push_notification, note.pk) == 1

    [request] = fcm.requests
    ttl = notification_types()[kind].push_ttl
    title, body = request.message["notification"]["title"], request.message["notification"]["body"]
    assert title and body
    multicast = push.push_message(["phone-1"], title=title, body=body, data=request.message["data"], ttl=ttl,
                                  collapse_key=note.group_key)
    single = messaging.Message(token="phone-1", data=multicast.data, notification=multicast.notification,
                               android=multicast.android, apns=multicast.apns, webpush=multicast.webpush)
    encoded = messaging._MessagingService.encode_message(single)
    seconds = int(ttl.total_seconds())
    assert validate_message(encoded) == []
    assert encoded["data"]["type"] == kind and encoded["data"]["notification_id"] == str(note.pk)
    assert encoded["android"]["ttl"] == f"{seconds}s"
    assert encoded["android"]["collapse_key"] == encoded["apns"]["headers"]["apns-collapse-id"] == note.group_key
    assert encoded["webpush"]["headers"]["TTL"] == str(seconds)
    wire = dict(request.message)
    assert wire.pop("apns")["headers"].keys() == encoded.pop("apns")["headers"].keys()  # expiration moves on
    assert wire == encoded
    assert fcm.rejected == []


@pytest.mark.parametrize(("change", "complaint"), [
    (lambda m: m["android"].update(ttl="3600"), "message.android.ttl"),
    (lambda m: m["android"].update(ttl=3600), "message.android.ttl"),
    (lambda m: m["apns"]["headers"].update({"apns-expiration": "tomorrow"}), "message.apns.headers.apns-expiration"),
    (lambda m: m["apns"]["headers"].update({"apns-collapse-id": "x" * 65}), "message.apns.headers.apns-collapse-id"),
    (lambda m: m["webpush"]["headers"].update(Topic="job:7/with/slashes"), "message.webpush.headers.Topic"),
    (lambda m: m["data"].update(seq=3), "message.data.seq"),
    (lambda m: m.update(tokens=["a"]), "message.tokens"),
    (lambda m: m["android"].update(collapseKey="x"), "message.android.collapseKey"),
])
def test_the_fake_refuses_what_fcm_would(fcm, change, complaint):
    multicast = push.push_message(["phone-1"], title="T", body="B", data={"type": "generation.succeeded", "job_id": "7"},
                                  ttl=timedelta(days=1), collapse_key="generation:7")
    encoded = json.loads(json.dumps(messaging._MessagingService.encode_message(messaging.Message(
        token="phone-1", data=multicast.data, notification=multicast.notification, android=multicast.android,
        apns=multicast.apns, webpush=multicast.webpush))))
    change(encoded)

    assert [item.split(":")[0] for item in validate_message(encoded)] == [complaint]
