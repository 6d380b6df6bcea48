"""The `/ws/` socket through the full ASGI app and the Redis channel layer."""

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from rest_framework_simplejwt.tokens import AccessToken

from accounts.consumers import CLOSE_UNAUTHENTICATED
from accounts.realtime import user_group
from accounts.services import tokens_for_user
from accounts.tests.factories import UserFactory
from config.asgi import application, build_websocket_app

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


@database_sync_to_async
def _user_and_token():
    user = UserFactory()
    return user, tokens_for_user(user)["access"]


async def _refused_with(communicator: WebsocketCommunicator, code: str) -> None:
    connected, _ = await communicator.connect()
    assert connected  # accepted only so the close code can reach the client
    assert await communicator.receive_json_from() == {"type": "error", "code": code}
    closed = await communicator.receive_output()
    assert closed == {"type": "websocket.close", "code": CLOSE_UNAUTHENTICATED, "reason": "unauthenticated"}


async def test_token_in_query_joins_user_group_and_receives_group_messages(settings):
    assert settings.CHANNEL_LAYERS["default"]["BACKEND"] == "channels_redis.core.RedisChannelLayer"
    user, token = await _user_and_token()
    communicator = WebsocketCommunicator(application, f"/ws/?token={token}")

    connected, _ = await communicator.connect()

    assert connected
    assert await communicator.receive_json_from() == {"type": "hello", "user_id": user.pk, "seq": 0}
    await get_channel_layer().group_send(user_group(user.pk), {"type": "user.event",
                                                               "event": {"type": "test.event", "seq": 1}})
    assert await communicator.receive_json_from(timeout=3) == {"type": "test.event", "seq": 1}
    await communicator.send_json_to({"type": "ping"})
    assert await communicator.receive_json_from() == {"type": "pong"}
    await communicator.disconnect()


async def test_messages_for_another_user_are_not_delivered():
    user, token = await _user_and_token()
    other, _ = await _user_and_token()
    communicator = WebsocketCommunicator(application, f"/ws/?token={token}")
    await communicator.connect()
    await communicator.receive_json_from()

    await get_channel_layer().group_send(user_group(other.pk), {"type": "user.event", "event": {"type": "x"}})

    assert await communicator.receive_nothing(timeout=0.5)
    await communicator.disconnect()


async def test_token_in_subprotocol_header_is_accepted_with_bearer_subprotocol():
    user, token = await _user_and_token()
    communicator = WebsocketCommunicator(application, "/ws/", subprotocols=["bearer", token])

    connected, subprotocol = await communicator.connect()

    assert connected
    assert subprotocol == "bearer"
    assert await communicator.receive_json_from() == {"type": "hello", "user_id": user.pk, "seq": 0}
    await communicator.disconnect()


async def test_no_token_is_closed_with_4401():
    await _refused_with(WebsocketCommunicator(application, "/ws/"), "token_missing")


async def test_bad_token_is_closed_with_4401():
    await _refused_with(WebsocketCommunicator(application, "/ws/?token=not-a-token"), "token_invalid")


async def test_expired_token_is_closed_with_4401():
    user, _ = await _user_and_token()
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=-timedelta(seconds=5))

    await _refused_with(WebsocketCommunicator(application, f"/ws/?token={token}"), "token_invalid")


async def test_refresh_token_is_not_accepted_as_access_token():
    user, _ = await _user_and_token()
    refresh = await database_sync_to_async(lambda: tokens_for_user(user)["refresh"])()

    await _refused_with(WebsocketCommunicator(application, f"/ws/?token={refresh}"), "token_invalid")


async def test_browser_from_foreign_origin_is_refused_at_handshake():
    _, token = await _user_and_token()
    communicator = WebsocketCommunicator(application, f"/ws/?token={token}",
                                         headers=[(b"origin", b"https://evil.example")])

    connected, _ = await communicator.connect()

    assert not connected


async def test_browser_from_allowed_origin_is_accepted(settings):
    settings.WS_ALLOWED_ORIGINS = ["https://app.example.com"]
    app = build_websocket_app()  # the validator reads the setting when built
    _, token = await _user_and_token()
    communicator = WebsocketCommunicator(app, f"/ws/?token={token}",
                                         headers=[(b"origin", b"https://app.example.com")])

    connected, _ = await communicator.connect()

    assert connected
    await communicator.disconnect()
