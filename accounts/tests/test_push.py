"""FCM push through firebase-admin's real HTTP path, against a local FCM v1 server.

The `fcm` fixture (tests/fakes/fcm.py) starts the server and points FCM_ENDPOINT
at it; nothing in firebase-admin is mocked.
"""

import logging

import pytest

from accounts.models import Device
from accounts.push import push_to_user
from accounts.tests.factories import DeviceFactory, UserFactory
from tests.fakes.fcm import FCM_PROJECT

pytestmark = pytest.mark.django_db

DATA = {"type": "generation.updated", "generation_id": "42", "status": "succeeded"}


def _expected_message(token: str) -> dict:
    return {
        "token": token,
        "notification": {"title": "Your video is ready", "body": "Tap to watch it."},
        "data": DATA,
        "android": {"priority": "high"},
        "apns": {"headers": {"apns-priority": "10", "apns-push-type": "alert"},
                 "payload": {"aps": {"sound": "default"}}},
        "webpush": {"headers": {"Urgency": "high"}},
    }


def _push(user) -> int:
    return push_to_user(user_id=user.pk, title="Your video is ready", body="Tap to watch it.", data=DATA)


def test_push_sends_one_message_to_each_device_of_the_user(fcm):
    user = UserFactory()
    DeviceFactory(user=user, fcm_token="android-1", platform=Device.Platform.ANDROID)
    DeviceFactory(user=user, fcm_token="ios-1", platform=Device.Platform.IOS)
    DeviceFactory(fcm_token="someone-else")

    accepted = _push(user)

    assert accepted == 2
    assert sorted(r.token for r in fcm.requests) == ["android-1", "ios-1"]
    sent = fcm.by_token()
    assert sent["android-1"].message == _expected_message("android-1")
    assert sent["ios-1"].message == _expected_message("ios-1")
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


def test_transient_and_payload_errors_keep_the_device_and_do_not_raise(fcm, caplog):
    user = UserFactory()
    for token in ["live-1", "busy-1", "payload-1"]:
        DeviceFactory(user=user, fcm_token=token)
    fcm.over_quota.add("busy-1")
    fcm.bad_payload.add("payload-1")

    with caplog.at_level(logging.WARNING, logger="accounts.push"):
        accepted = _push(user)

    assert accepted == 1
    assert sorted(r.token for r in fcm.requests) == ["busy-1", "live-1", "payload-1"]
    assert sorted(Device.objects.filter(user=user).values_list("fcm_token", flat=True)) == [
        "busy-1", "live-1", "payload-1"
    ]
    failures = sorted((r.message, r.code) for r in caplog.records if r.name == "accounts.push")
    assert failures == [("push.device_failed", "INVALID_ARGUMENT"), ("push.device_failed", "RESOURCE_EXHAUSTED")]


def test_unreachable_fcm_is_logged_not_raised(fcm, settings, caplog):
    user = UserFactory()
    DeviceFactory(user=user, fcm_token="live-1")
    settings.FCM_ENDPOINT = "http://127.0.0.1:9"  # discard port: connection refused

    with caplog.at_level(logging.WARNING, logger="accounts.push"):
        accepted = _push(user)

    assert accepted == 0
    assert fcm.requests == []
    logged = [(r.message, r.code) for r in caplog.records if r.name == "accounts.push"]
    assert logged == [("push.device_failed", "UNAVAILABLE")]
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
        push_to_user(user_id=user.pk, title="t", body="b", data={"generation_id": 42})

    assert fcm.requests == []
