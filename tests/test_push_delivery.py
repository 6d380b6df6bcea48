"""Push delivery end to end: the Celery push tasks against the local FCM v1 server
(tests/fakes/fcm.py), through firebase-admin's real HTTP path.

A task's retry is Celery's own Task.retry; only the broker publish is recorded instead
of sent (`published`), so the countdown and the devices of the retry are asserted, and
nothing ever sleeps."""

from __future__ import annotations

import json

import pytest
from celery.exceptions import Retry
from firebase_admin import messaging

from accounts import push
from accounts.models import Device
from accounts.selectors import push_alerts_recent
from accounts.tests.factories import DeviceFactory, UserFactory
from generation import tasks as generation_tasks
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


@pytest.fixture(autouse=True)
def no_alerts():
    from django.core.cache import cache

    cache.delete_many([f"push:alert:{code}:{part}" for code in push.ALERT_CODES for part in ("count", "first", "last")])


def _run(task, *args, retries: int = 0, **kwargs):
    """Run `task` as a worker would run its message (try number `retries + 1`)."""
    task.push_request(id="task-1", args=list(args), kwargs=kwargs, retries=retries, called_directly=False,
                      is_eager=False, delivery_info={})
    try:
        return task.run(*args, **kwargs)
    finally:
        task.pop_request()


def _finished_job(**devices):
    job = GenerationJobFactory(status=JobStatus.SUCCEEDED)
    made = {token: DeviceFactory(user=job.user, fcm_token=token) for token in devices or ["phone-1"]}
    return job, made


def test_429_with_retry_after_is_retried_with_that_countdown_for_the_failed_device_only(fcm, published):
    job, devices = _finished_job(**{"phone-ok": 1, "phone-busy": 1})
    fcm.fail("quota", token="phone-busy", retry_after="60")

    with pytest.raises(Retry) as raised:
        _run(generation_tasks.notify_generation_finished, str(job.pk))

    assert raised.value.when == 60
    [(name, args, kwargs, options)] = published
    assert (name, list(args), kwargs, options["countdown"]) == (
        generation_tasks.services.NOTIFY_TASK, [str(job.pk)], {"device_ids": [devices["phone-busy"].pk]}, 60)
    assert sorted(r.token for r in fcm.requests) == ["phone-busy", "phone-ok"]
    # The retry goes to the busy phone alone: the other one is not pushed twice.
    assert _run(generation_tasks.notify_generation_finished, str(job.pk), retries=1,
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
            _run(generation_tasks.notify_generation_finished, str(job.pk), retries=retries)
        countdowns.append(published[-1][3]["countdown"])

    assert countdowns == [15, 30, 60, 120, 240]
    # Retries spent: the task gives up (logged) and returns; nothing more is sent.
    fcm.fail(kind)
    assert _run(generation_tasks.notify_generation_finished, str(job.pk), retries=push.PUSH_MAX_RETRIES) == 0
    assert len(published) == push.PUSH_MAX_RETRIES
    assert len(fcm.requests) == push.PUSH_MAX_RETRIES + 1
    assert Device.objects.filter(pk=devices["phone-1"].pk).exists()


def test_503_with_retry_after_holds_no_worker(fcm, published):
    """firebase-admin used to retry 503 in place, sleeping through each Retry-After: one
    request now, and the wait is the retry's countdown."""
    job, _ = _finished_job()
    fcm.fail("unavailable", retry_after="120", times=5)

    with pytest.raises(Retry) as raised:
        _run(generation_tasks.notify_generation_finished, str(job.pk))

    assert raised.value.when == 120
    assert len(fcm.requests) == 1


def test_retry_after_over_an_hour_is_given_up(fcm, published):
    job, _ = _finished_job()
    fcm.fail("quota", retry_after="7200")

    assert _run(generation_tasks.notify_generation_finished, str(job.pk)) == 0
    assert published == []


def test_dead_token_is_pruned_without_retry(fcm, published):
    job, devices = _finished_job(**{"phone-gone": 1, "phone-ok": 1})
    fcm.fail("unregistered", token="phone-gone")

    assert _run(generation_tasks.notify_generation_finished, str(job.pk)) == 1
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

    assert _run(generation_tasks.notify_generation_finished, str(job.pk)) == 0

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

    assert _run(generation_tasks.notify_generation_finished, str(job.pk)) == 0

    assert [alert["code"] for alert in push_alerts_recent()] == ["fcm_unauthenticated"]


def test_no_alerts_when_push_works(fcm, published):
    job, _ = _finished_job()

    assert _run(generation_tasks.notify_generation_finished, str(job.pk)) == 1
    assert push_alerts_recent() == []


# --- contract: what we send is what firebase-admin encodes, and the fake accepts it -----------

MESSAGES = {
    "generation.updated": ({"type": "generation.updated", "job_id": "7", "status": "succeeded", "seq": "3"}, "job:7"),
    "creator.reward": ({"type": "creator.reward", "reward_id": "1", "campaign_id": "2"}, "reward:1"),
    "creator.submission": ({"type": "creator.submission", "submission_id": "1", "campaign_id": "2",
                            "status": "accepted"}, "submission:1"),
    "creator.payout": ({"type": "creator.payout", "payout_id": "1", "status": "paid"}, "payout:1"),
    "creator.campaign_closed": ({"type": "creator.campaign_closed", "campaign_id": "2",
                                 "reason": "budget_exhausted"}, "campaign:2"),
}


def test_every_push_type_has_a_ttl_and_a_sample():
    assert set(MESSAGES) == set(push.PUSH_TTLS)


@pytest.mark.parametrize("kind", sorted(MESSAGES))
def test_every_message_we_send_is_v1_valid_and_sent_as_firebase_admin_encodes_it(fcm, kind):
    data, collapse_key = MESSAGES[kind]
    user = UserFactory()
    DeviceFactory(user=user, fcm_token="phone-1")

    assert push.push_to_user(user_id=user.pk, title="T", body="B", data=data, collapse_key=collapse_key) == 1

    [request] = fcm.requests
    multicast = push.push_message(["phone-1"], title="T", body="B", data=data, ttl=push.PUSH_TTLS[kind],
                                  collapse_key=collapse_key)
    single = messaging.Message(token="phone-1", data=multicast.data, notification=multicast.notification,
                               android=multicast.android, apns=multicast.apns, webpush=multicast.webpush)
    encoded = messaging._MessagingService.encode_message(single)
    seconds = int(push.PUSH_TTLS[kind].total_seconds())
    assert validate_message(encoded) == []
    assert encoded["android"]["ttl"] == f"{seconds}s"
    assert encoded["android"]["collapse_key"] == encoded["apns"]["headers"]["apns-collapse-id"] == collapse_key
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
    data, collapse_key = MESSAGES["generation.updated"]
    multicast = push.push_message(["phone-1"], title="T", body="B", data=data, ttl=push.PUSH_TTLS["generation.updated"],
                                  collapse_key=collapse_key)
    encoded = json.loads(json.dumps(messaging._MessagingService.encode_message(messaging.Message(
        token="phone-1", data=multicast.data, notification=multicast.notification, android=multicast.android,
        apns=multicast.apns, webpush=multicast.webpush))))
    change(encoded)

    assert [item.split(":")[0] for item in validate_message(encoded)] == [complaint]
