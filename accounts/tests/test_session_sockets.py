"""An open `/ws/` socket ends with its credential: when its access token expires, and at
once when its session ends (logout, password change, suspension, deletion)."""

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework.test import APIClient

from accounts import services, sessions
from accounts.consumers import CLOSE_UNAUTHENTICATED
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from config.asgi import application

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


@database_sync_to_async
def _user():
    return UserFactory()


@database_sync_to_async
def _tokens(user):
    return services.tokens_for_user(user)


async def _open(access: str) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, f"/ws/?token={access}")
    connected, _ = await communicator.connect()
    assert connected
    assert (await communicator.receive_json_from())["type"] == "hello"
    return communicator


async def _closed_with(communicator: WebsocketCommunicator, code: str, timeout: float = 3) -> None:
    assert await communicator.receive_json_from(timeout=timeout) == {"type": "error", "code": code}
    assert await communicator.receive_output(timeout=1) == {
        "type": "websocket.close", "code": CLOSE_UNAUTHENTICATED, "reason": code}


async def test_a_socket_is_closed_when_its_access_token_expires(settings):
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "ACCESS_TOKEN_LIFETIME": timedelta(seconds=1)}
    user = await _user()
    socket = await _open((await _tokens(user))["access"])

    await _closed_with(socket, "token_expired")


async def test_logout_closes_the_sockets_of_that_session_only():
    user = await _user()
    phone, tablet = await _tokens(user), await _tokens(user)
    phone_socket, tablet_socket = await _open(phone["access"]), await _open(tablet["access"])

    await database_sync_to_async(sessions.auth_logout)(refresh=phone["refresh"], user=user)

    await _closed_with(phone_socket, "session_ended")
    assert await tablet_socket.receive_nothing(timeout=0.5)
    await tablet_socket.send_json_to({"type": "ping"})
    assert await tablet_socket.receive_json_from() == {"type": "pong"}
    await tablet_socket.disconnect()


async def test_an_access_token_of_an_ended_session_cannot_open_a_socket():
    user = await _user()
    phone = await _tokens(user)
    await database_sync_to_async(sessions.auth_logout)(refresh=phone["refresh"], user=user)

    communicator = WebsocketCommunicator(application, f"/ws/?token={phone['access']}")
    connected, _ = await communicator.connect()

    assert connected  # accepted only so the close code can reach the client
    assert await communicator.receive_json_from() == {"type": "error", "code": "session_ended"}
    assert (await communicator.receive_output())["code"] == CLOSE_UNAUTHENTICATED


@database_sync_to_async
def _change_password_over_rest(user, access: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client.post("/api/v1/me/password", {"current_password": DEFAULT_PASSWORD,
                                                "new_password": "another-long-phrase-42"}).status_code


async def test_password_change_closes_every_socket_of_the_user():
    user, bystander = await _user(), await _user()
    phone, tablet, theirs = await _tokens(user), await _tokens(user), await _tokens(bystander)
    sockets = [await _open(phone["access"]), await _open(tablet["access"])]
    their_socket = await _open(theirs["access"])

    assert await _change_password_over_rest(user, phone["access"]) == 200

    for socket in sockets:
        await _closed_with(socket, "session_ended")
    assert await their_socket.receive_nothing(timeout=0.5)
    await their_socket.disconnect()


@pytest.mark.parametrize("end", [
    lambda user: services.user_suspend(user_id=user.pk),
    lambda user: services.user_delete(user=user),
    lambda user: sessions.auth_logout_everywhere(user=user),
], ids=["suspension", "deletion", "logout_everywhere"])
async def test_suspension_deletion_and_logout_everywhere_close_the_socket(end):
    user = await _user()
    socket = await _open((await _tokens(user))["access"])

    await database_sync_to_async(end)(user)

    await _closed_with(socket, "session_ended")
