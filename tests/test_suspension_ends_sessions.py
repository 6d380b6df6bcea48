"""Staff suspending a post's author (feed moderation) ends the author's sessions at once:
the open socket closes with 4401, the refresh token is dead."""

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework.test import APIClient

from accounts.consumers import CLOSE_UNAUTHENTICATED
from accounts.services import tokens_for_user
from accounts.tests.factories import UserFactory
from config.asgi import application
from feed import services as feed_services
from feed.models import ModerationAction
from feed.tests.factories import PostFactory

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


@database_sync_to_async
def _author_post_and_tokens():
    post = PostFactory()
    return post, tokens_for_user(post.author)


async def test_suspending_the_author_closes_their_socket_and_kills_their_refresh_token():
    post, tokens = await _author_post_and_tokens()
    staff = await database_sync_to_async(UserFactory)(is_staff=True)
    socket = WebsocketCommunicator(application, f"/ws/?token={tokens['access']}")
    assert (await socket.connect())[0]
    assert (await socket.receive_json_from())["type"] == "hello"

    await database_sync_to_async(feed_services.post_moderate)(
        staff=staff, post_id=post.pk, action=ModerationAction.Action.SUSPEND_AUTHOR, reason="spam")

    assert await socket.receive_json_from(timeout=3) == {"type": "error", "code": "session_ended"}
    assert (await socket.receive_output(timeout=1))["code"] == CLOSE_UNAUTHENTICATED
    refresh = await database_sync_to_async(APIClient().post)("/api/v1/auth/refresh", {"refresh": tokens["refresh"]})
    assert refresh.json()["error"]["code"] == "session_ended"
