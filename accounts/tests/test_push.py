"""FCM push through firebase-admin's real HTTP path, against a local FCM v1 server.

The `fcm` fixture (tests/fakes/fcm.py) starts the server and points FCM_ENDPOINT
at it; nothing in firebase-admin is mocked.
"""

import logging
import time
from datetime import timedelta

import pytest

from accounts.models import Device
from accounts.push import PushRetry, push_to_user
from accounts.tests.factories import DeviceFactory, UserFactory
from tests.fakes.fcm import FCM_PROJECT

pytestmark = pytest.mark.django_db

DATA = {"type": "generation.updated", "generation_id": "42", "status": "succeeded"}


def _expected_message(token: str, expiration: str) -> dict:
    return {
        "token": token,
        "notification": {"title": "Your video is ready", "body": "Tap to watch it."},
        "data": DATA,
        # A TTL of a day, collapsed per job.
        "android": {"priority": "high", "ttl": "86400s", "collapse_key": "job:42",
                    "notification": {"tag": "job:42"}},
        "apns": {"headers": {"apns-priority": "10", "apns-push-type": "alert", "apns-expiration": expiration,
                             "apns-collapse-id": "job:42"},
                 "payload": {"aps": {"sound": "default"}}},
        "webpush": {"headers": {"Urgency": "high", "TTL": "86400", "Topic": WEB_TOPIC}},
    }


# base64url(sha256("job:42"))[:32]: web push topics are at most 32 such characters.
WEB_TOPIC = "32bXdIcXo8Z1aA_IIbN6I6pCyofwUOt4"


def _push(user) -> int:
    return push_to_user(user_id=user.pk, title="Your video is ready", body="Tap to watch it.", data=DATA,
                        collapse_key="job:42", ttl=timedelta(days=1))


def test_push_sends_one_message_to_each_device_of_the_user(fcm):
    user = UserFactory()
    DeviceFactory(user=user, fcm_token="android-1", platform=Device.Platform.ANDROID)
    DeviceFactory(user=user, fcm_token="ios-1", platform=Device.Platform.IOS)
    DeviceFactory(fcm_token="someone-else")

    before = int(time.time())
    accepted = _push(user)
    after = int(time.time())

    assert accepted == 2
    assert sorted(r.token for r in fcm.requests) == ["android-1", "ios-1"]
    sent = fcm.by_token()
    expiration = sent["android-1"].message["apns"]["headers"]["apns-expiration"]
    assert before + 86400 <= int(expiration) <= after + 86400
    assert sent["android-1"].message == _expected_message("android-1", expiration)
    assert sent["ios-1"].message == _expected_message("ios-1", expiration)
    assert fcm.rejected == []
    assert {(r.project, r.validate_only, r.authorization) for r in fcm.requests} == {(FCM_PROJECT, False, None)}
    assert Device.objects.count() == 3


def test_dead_tokens_are_deleted_and_live_ones_kept(fcm):
    user = UserFactory()
    for token in ["live-1", "unregistered-1", "malformed-1", "live-2"]:
        DeviceFactory(user=user, fcm_token=token)
    other = DeviceFactory(fcm_token="unregistered-other")  # another user's: never sent to, never touched
    fcm.unregistered |= {"unregistered-1", "unregistered-other"}
    fcm.invalid.add("malformed-1")

    accepted = _push(user)

    assert accepted == 2
    assert sorted(r.token for r in fcm.requests) == ["live-1", "live-2", "malformed-1", "unregistered-1"]
    assert sorted(Device.objects.filter(user=user).values_list("fcm_token", flat=True)) == ["live-1", "live-2"]
    assert Device.objects.filter(pk=other.pk).exists()


def test_transient_errors_reach_the_task_and_payload_errors_are_logged(fcm, caplog):
    user = UserFactory()
    busy = None
    for token in ["live-1", "busy-1", "payload-1"]:
        device = DeviceFactory(user=user, fcm_token=token)
        busy = device if token == "busy-1" else busy
    fcm.over_quota.add("busy-1")
    fcm.bad_payload.add("payload-1")

    with caplog.at_level(logging.WARNING, logger="accounts.push"):
        with pytest.raises(PushRetry) as raised:
            _push(user)

    # Only the device FCM asked to wait for is owed a retry; no Retry-After was sent.
    assert (raised.value.device_ids, raised.value.retry_after, raised.value.code) == (
        [busy.pk], None, "RESOURCE_EXHAUSTED")
    assert sorted(r.token for r in fcm.requests) == ["busy-1", "live-1", "payload-1"]
    assert sorted(Device.objects.filter(user=user).values_list("fcm_token", flat=True)) == [
        "busy-1", "live-1", "payload-1"
    ]
    failures = sorted((r.message, r.code) for r in caplog.records if r.name == "accounts.push")
    assert failures == [("push.device_failed", "INVALID_ARGUMENT")]


def test_unreachable_fcm_is_a_retry_for_the_task(fcm, settings):
    user = UserFactory()
    device = DeviceFactory(user=user, fcm_token="live-1")
    settings.FCM_ENDPOINT = "http://127.0.0.1:9"  # discard port: connection refused

    with pytest.raises(PushRetry) as raised:
        _push(user)

    assert (raised.value.device_ids, raised.value.retry_after, raised.value.code) == (
        [device.pk], None, "UNAVAILABLE")
    assert fcm.requests == []
    assert Device.objects.filter(user=user, fcm_token="live-1").exists()


def test_user_without_devices_sends_nothing(fcm):
    user = UserFactory()
    DeviceFactory(fcm_token="someone-else")

    assert _push(user) == 0
    assert fcm.requests == []


def test_push_is_off_without_firebase_project(fcm, settings):
    settings.FIREBASE_PROJECT_ID = ""
    user = UserFactory()
    DeviceFactory(user=user, fcm_token="unregistered-1")
    fcm.unregistered.add("unregistered-1")

    assert _push(user) == 0
    assert fcm.requests == []
    assert Device.objects.filter(user=user, fcm_token="unregistered-1").exists()


def test_data_values_must_be_strings(fcm):
    user = UserFactory()
    DeviceFactory(user=user, fcm_token="live-1")

    with pytest.raises(TypeError, match="generation_id"):
        push_to_user(user_id=user.pk, title="t", body="b", data={"generation_id": 42}, collapse_key="job:42",
                     ttl=timedelta(days=1))

    assert fcm.requests == []
