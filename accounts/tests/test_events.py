"""The one event path (accounts.events): per-user seq, resume over REST and the socket, expiry,
bad frames, and the embedded tailing path. Real PostgreSQL, Redis and channel layers."""

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import transaction
from django.utils import timezone

from accounts import events
from accounts.consumers import CLOSE_EVENTS_EXPIRED
from accounts.models import Event, EventCounter
from accounts.services import tokens_for_user
from accounts.tasks import prune_events
from accounts.tests.factories import UserFactory
from config.asgi import application
from tests.concurrency import at_once


def _seqs(user_id):
    return list(Event.objects.filter(user_id=user_id).order_by("seq").values_list("seq", flat=True))


@pytest.mark.django_db(transaction=True)
def test_seq_strictly_grows_per_user_across_types_and_concurrent_connections():
    user, other = UserFactory(), UserFactory()
    kinds = ["generation.updated", "post.engagement", "creator.reward", "creator.payout"]
    calls = [lambda i=i: events.event_send_on_commit(user.pk, kinds[i % 4], {"i": i}) for i in range(40)]
    calls.append(lambda: events.event_send_on_commit(other.pk, "creator.reward", {}))

    returned = at_once(calls)

    assert sorted(returned[:40]) == list(range(1, 41))
    assert _seqs(user.pk) == list(range(1, 41))
    assert returned[40] == 1 and _seqs(other.pk) == [1]
    assert EventCounter.objects.get(user_id=user.pk).last_seq == 40


@pytest.mark.django_db(transaction=True)
def test_an_event_of_a_rolled_back_transaction_is_not_stored_and_its_seq_is_reused():
    user = UserFactory()
    events.event_send_on_commit(user.pk, "x", {})
    with pytest.raises(RuntimeError), transaction.atomic():
        events.event_send_on_commit(user.pk, "x", {})
        raise RuntimeError

    assert _seqs(user.pk) == [1]
    assert events.event_send_on_commit(user.pk, "x", {}) == 2


@pytest.mark.django_db
def test_rest_resume_pages_in_order_without_gap_or_duplicate(auth_api):
    for i in range(5):
        events.event_send_on_commit(auth_api.user.pk, "t", {"i": i})

    first = auth_api.get("/api/v1/events", {"after": 1, "page_size": 2})
    second = auth_api.get(first.json()["next"])

    assert first.status_code == 200
    assert [e["seq"] for e in first.json()["results"]] == [2, 3]
    assert first.json()["results"][0] == {"type": "t", "seq": 2, "i": 1}
    assert [e["seq"] for e in second.json()["results"]] == [4, 5]
    assert second.json()["next"] is None
    assert auth_api.get("/api/v1/events", {"after": 5}).json() == {"next": None, "previous": None, "results": []}


@pytest.mark.django_db
def test_resume_from_a_pruned_seq_is_410_events_expired(auth_api, settings):
    for _ in range(3):
        events.event_send_on_commit(auth_api.user.pk, "t", {})
    Event.objects.filter(user_id=auth_api.user.pk, seq=1).update(
        created_at=timezone.now() - timedelta(seconds=settings.EVENTS_RETENTION_SECONDS + 1))

    assert prune_events() == 1
    expired = auth_api.get("/api/v1/events", {"after": 0})
    ahead = auth_api.get("/api/v1/events", {"after": 9})
    bad = auth_api.get("/api/v1/events", {"after": "x"})

    assert expired.status_code == 410 and expired.json()["error"]["code"] == "events_expired"
    assert ahead.status_code == 410
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "validation_error"
    assert [e["seq"] for e in auth_api.get("/api/v1/events", {"after": 1}).json()["results"]] == [2, 3]
    assert _seqs(auth_api.user.pk) == [2, 3]


@database_sync_to_async
def _user_and_token():
    user = UserFactory()
    return user, tokens_for_user(user)["access"]


send = database_sync_to_async(events.event_send_on_commit)


async def _frames(communicator, count):
    return [await communicator.receive_json_from(timeout=3) for _ in range(count)]


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_socket_resume_replays_then_goes_live_with_no_gap_or_duplicate_at_the_seam():
    user, token = await _user_and_token()
    for i in range(3):
        await send(user.pk, "t", {"i": i})
    communicator = WebsocketCommunicator(application, f"/ws/?token={token}&after=1")
    connecting = communicator.connect()
    # Emitted while the socket connects: before, during or after the replay read.
    await send(user.pk, "t", {"i": 3})
    assert (await connecting)[0]
    await send(user.pk, "t", {"i": 4})

    hello, *frames = await _frames(communicator, 5)

    assert hello["type"] == "hello"
    assert [f["seq"] for f in frames] == [2, 3, 4, 5]
    assert await communicator.receive_nothing(timeout=0.5)
    await communicator.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_socket_resume_from_an_expired_seq_gets_an_error_and_close_4410():
    user, token = await _user_and_token()
    for _ in range(2):
        await send(user.pk, "t", {})
    await database_sync_to_async(lambda: Event.objects.filter(user_id=user.pk, seq=1).delete())()
    communicator = WebsocketCommunicator(application, f"/ws/?token={token}&after=0")
    await communicator.connect()

    assert (await communicator.receive_json_from())["type"] == "hello"
    assert await communicator.receive_json_from() == {"type": "error", "code": "events_expired"}
    assert (await communicator.receive_output())["code"] == CLOSE_EVENTS_EXPIRED


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_non_json_binary_or_unknown_frame_gets_bad_frame_and_the_socket_stays_open():
    user, token = await _user_and_token()
    communicator = WebsocketCommunicator(application, f"/ws/?token={token}")
    await communicator.connect()
    assert await communicator.receive_json_from() == {"type": "hello", "user_id": user.pk, "seq": 0}

    for frame in ({"text_data": "ping"}, {"bytes_data": b"\x00"}, {"text_data": '{"type": "nope"}'},
                  {"text_data": "[1]"}, {"text_data": "[" * 100_000}):
        await communicator.send_to(**frame)
        assert await communicator.receive_json_from() == {"type": "error", "code": "bad_frame"}
    await communicator.send_json_to({"type": "ping"})
    assert await communicator.receive_json_from() == {"type": "pong"}
    await send(user.pk, "t", {})
    assert await communicator.receive_json_from(timeout=3) == {"type": "t", "seq": 1}
    await communicator.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_in_memory_layer_tails_events_written_by_another_connection(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.EVENTS_TAIL_INTERVAL = 0.05
    user, token = await _user_and_token()
    communicator = WebsocketCommunicator(application, f"/ws/?token={token}")
    await communicator.connect()
    assert (await communicator.receive_json_from())["seq"] == 0

    # Written as another process would: rows committed, no group send reaches this process.
    @database_sync_to_async
    def write_elsewhere():
        for i in range(3):
            with transaction.atomic():
                seq = events._next_seq(user.pk)
                Event.objects.create(user_id=user.pk, seq=seq, type="generation.updated", data={"i": i})

    await write_elsewhere()

    assert [f["seq"] for f in await _frames(communicator, 3)] == [1, 2, 3]
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


@pytest.mark.django_db
def test_engagement_without_redis_goes_through_the_log_with_growing_seqs(settings):
    settings.REDIS_URL = ""  # config.redis.get_redis() is None: no batching across processes
    from feed import realtime

    author = UserFactory()
    events.event_send_on_commit(author.pk, "generation.updated", {"job": {}})
    for _ in range(2):
        realtime.engagement_record(author_id=author.pk, post_id=7, kind="likes")

    assert list(Event.objects.filter(user_id=author.pk).order_by("seq").values_list("seq", "type")) == [
        (1, "generation.updated"), (2, "post.engagement"), (3, "post.engagement")]
    assert Event.objects.get(user_id=author.pk, seq=3).data == {
        "items": [{"post_id": 7, "likes": 1, "comments": 0, "remixes": 0}]}
