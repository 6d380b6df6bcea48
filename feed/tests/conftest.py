import asyncio

import pytest
from channels.layers import get_channel_layer

from accounts.realtime import user_group


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.CREDITS_SIGNUP_GRANT = 100


@pytest.fixture
def sent_tasks(monkeypatch):
    """Task messages the code sends, recorded instead of published."""
    from config.celery import app

    sent: list[tuple[str, list, dict]] = []
    monkeypatch.setattr(app, "send_task", lambda name, args=None, **kw: sent.append((name, list(args or []), kw)))
    return sent


@pytest.fixture
def events_of():
    """events_of(user) subscribes to the user's group on the Redis channel layer and returns
    a function that drains the events sent to it so far. All reads run on one event loop:
    the layer's receive buffers belong to the loop that first waited on them."""
    layer = get_channel_layer()
    loop = asyncio.new_event_loop()

    async def receive_all(channel):
        out = []
        while True:
            try:
                message = await asyncio.wait_for(layer.receive(channel), timeout=0.1)
            except TimeoutError:
                return out
            out.append(message["event"])

    def subscribe(user):
        channel = loop.run_until_complete(layer.new_channel())
        loop.run_until_complete(layer.group_add(user_group(user.pk), channel))
        return lambda: loop.run_until_complete(receive_all(channel))

    yield subscribe
    loop.run_until_complete(layer.flush())
    loop.close()
