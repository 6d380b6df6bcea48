"""Log lines: JSON and plain formats, the request id (django-guid) and the user id on records."""

import copy
import io
import json
import logging
import os
import subprocess
import sys
import uuid
from datetime import datetime
from logging.config import DictConfigurator
from pathlib import Path

import pytest
from celery.signals import before_task_publish
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import AsyncClient
from django.urls import path
from django_guid import clear_guid, set_guid
from rest_framework.test import APIClient

from accounts.consumers import UserSocketConsumer
from accounts.services import tokens_for_user
from accounts.tests.factories import UserFactory
from accounts.ws_auth import JwtAuthMiddleware
from config.logging import bind_user_id
from generation.models import GenerationJob
from tests.worker import WorkerProcess, purge_queues, wait_until

ROOT = Path(__file__).resolve().parent.parent
GENERATION = {"kind": "text_to_video", "prompt": "a fox in the snow", "duration_seconds": 4, "size": "480x854"}


@pytest.fixture(autouse=True)
def _no_log_context():
    """The test client runs every request in this thread's context: leave none of it to the next test."""
    clear_guid()
    bind_user_id(None)
    yield
    clear_guid()
    bind_user_id(None)


@pytest.fixture
def console():
    """console("json" | "plain"): the handler LOGGING configured, with its filters, writing with
    that LOGGING formatter into a buffer that the fixture returns."""
    handler = next(h for h in logging.getLogger().handlers if h.name == "console")
    formatter, stream = handler.formatter, handler.stream
    buffer = io.StringIO()
    handler.setStream(buffer)

    def use(name: str) -> io.StringIO:
        config = copy.deepcopy(settings.LOGGING["formatters"][name])
        handler.setFormatter(DictConfigurator({}).configure_formatter(config))
        return buffer

    yield use
    handler.setFormatter(formatter)
    handler.setStream(stream)


def _json_lines(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


@database_sync_to_async
def _user_and_token():
    user = UserFactory()
    return user, tokens_for_user(user)["access"]


def test_json_line_has_timestamp_level_logger_message_every_extra_request_id_and_user_id(console):
    buffer = console("json")
    set_guid("5f0c7d0e8b8a4f7c9a3e2d1c0b9a8f7e")
    bind_user_id(42)

    logging.getLogger("generation.services").info(
        "generation.transition", extra={"job_id": "j-1", "from": "queued", "to": "running", "seq": 2})

    [line] = _json_lines(buffer)
    timestamp = line.pop("timestamp")
    assert datetime.fromisoformat(timestamp).utcoffset().total_seconds() == 0
    assert line == {"level": "INFO", "logger": "generation.services", "message": "generation.transition",
                    "request_id": "5f0c7d0e8b8a4f7c9a3e2d1c0b9a8f7e", "user_id": 42,
                    "job_id": "j-1", "from": "queued", "to": "running", "seq": 2}


def test_json_line_outside_any_request_has_null_ids_and_an_own_user_id_extra_wins(console):
    buffer = console("json")
    bind_user_id(42)
    logging.getLogger("accounts.push").info("push.sent", extra={"user_id": 7, "devices": 1})
    bind_user_id(None)
    logging.getLogger("config").warning("plain.message")

    first, second = _json_lines(buffer)
    assert (first["user_id"], first["request_id"], first["devices"]) == (7, None, 1)
    del second["timestamp"]
    assert second == {"level": "WARNING", "logger": "config", "message": "plain.message",
                      "request_id": None, "user_id": None}


def test_plain_line_appends_extra_fields_and_the_known_ids(console):
    buffer = console("plain")
    logging.getLogger("generation.services").info("generation.transition", extra={"job_id": "j-1", "to": "running"})
    set_guid("5f0c7d0e8b8a4f7c9a3e2d1c0b9a8f7e")
    bind_user_id(42)
    logging.getLogger("feed").info("feed.flushed")

    first, second = [line.split(" ", 2)[2] for line in buffer.getvalue().splitlines()]
    assert first == "INFO generation.services generation.transition job_id=j-1 to=running"
    assert second == "INFO feed feed.flushed request_id=5f0c7d0e8b8a4f7c9a3e2d1c0b9a8f7e user_id=42"


def _setting(name: str, **env: str) -> subprocess.CompletedProcess:
    code = f"from django.conf import settings; print(settings.{name})"
    environ = {k: v for k, v in os.environ.items() if k not in {"LOG_FORMAT", "DJANGO_ENV"}}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env={**environ, "DJANGO_SETTINGS_MODULE": "config.settings", **env})


def test_log_format_is_json_in_production_and_plain_elsewhere_unless_set():
    production = {"DJANGO_ENV": "production", "SECRET_KEY": "x" * 40, "NUM_PROXIES": "0", "PROVENANCE_REQUIRED": "false"}
    assert _setting("LOG_FORMAT", **production).stdout == "json\n"
    assert _setting("LOG_FORMAT", **production, LOG_FORMAT="plain").stdout == "plain\n"
    assert _setting("LOG_FORMAT", DJANGO_ENV="development").stdout == "plain\n"
    refused = _setting("LOG_FORMAT", DJANGO_ENV="development", LOG_FORMAT="xml")
    assert refused.returncode == 1
    assert "LOG_FORMAT must be json or plain, not 'xml'" in refused.stderr


# --- Request id -----------------------------------------------------------------------


def _is_new_id(value: str) -> bool:
    return len(value) == 32 and uuid.UUID(hex=value).version == 4


def test_a_valid_incoming_request_id_is_returned():
    given = str(uuid.uuid4())
    response = APIClient().get("/healthz", HTTP_X_REQUEST_ID=given)
    assert response["X-Request-ID"] == given
    assert "Access-Control-Expose-Headers" not in response


def test_without_a_request_id_each_request_gets_a_new_one():
    client = APIClient()
    first, second = client.get("/healthz")["X-Request-ID"], client.get("/healthz")["X-Request-ID"]
    assert _is_new_id(first) and _is_new_id(second)
    assert first != second


@pytest.mark.parametrize("given", ["a" * 500, f"{uuid.uuid4()}\nX-Forged: 1", "not a uuid"])
def test_an_invalid_request_id_is_replaced_not_echoed(given):
    response = APIClient().get("/healthz", HTTP_X_REQUEST_ID=given)
    returned = response["X-Request-ID"]
    assert _is_new_id(returned)
    assert returned != given
    assert "X-Forged" not in response
    assert all(given not in value for value in response.headers.values())


@pytest.mark.django_db
def test_records_of_a_request_carry_its_request_id_and_the_authenticated_user(auth_api, api, user, console):
    buffer = console("json")
    given = uuid.uuid4().hex
    missing = f"/api/v1/generations/{uuid.uuid4()}"

    assert auth_api.get(missing, HTTP_X_REQUEST_ID=given).status_code == 404
    anonymous = api.get(missing)
    assert anonymous.status_code == 401

    assert [(line["logger"], line["message"], line["status_code"], line["request_id"], line["user_id"])
            for line in _json_lines(buffer)] == [
        ("django.request", f"Not Found: {missing}", 404, given, user.pk),
        ("django.request", f"Unauthorized: {missing}", 401, anonymous["X-Request-ID"], None),
    ]


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_under_asgi_the_request_id_is_returned_and_on_the_records_with_the_user(console):
    buffer = console("json")
    user, token = await _user_and_token()
    given = uuid.uuid4().hex
    missing = f"/api/v1/generations/{uuid.uuid4()}"

    response = await AsyncClient().get(missing, headers={"Authorization": f"Bearer {token}", "X-Request-ID": given})

    assert (response.status_code, response["X-Request-ID"]) == (404, given)
    assert [(line["message"], line["request_id"], line["user_id"]) for line in _json_lines(buffer)] == [
        (f"Not Found: {missing}", given, user.pk),
    ]


@pytest.mark.django_db
def test_a_bad_token_leaves_no_user_id(api, console):
    buffer = console("json")
    api.credentials(HTTP_AUTHORIZATION="Bearer nonsense")
    assert api.get("/api/v1/generations").status_code == 401
    assert [(line["message"], line["user_id"]) for line in _json_lines(buffer)] == \
        [("Unauthorized: /api/v1/generations", None)]


# A real commit: on_commit callbacks run inside the request, as in production (captured ones would
# run after it, when django-guid has already cleared the id).
@pytest.mark.django_db(transaction=True)
def test_a_task_enqueued_during_a_request_carries_its_request_id(client_for):
    published: list[tuple[str, str | None]] = []

    def record(sender, headers, **kwargs):
        published.append((sender, headers.get("X-Request-ID")))

    given = uuid.uuid4().hex
    before_task_publish.connect(record, weak=False)
    try:
        first = client_for(UserFactory()).post("/api/v1/generations", GENERATION, HTTP_X_REQUEST_ID=given)
        second = client_for(UserFactory()).post("/api/v1/generations", GENERATION)
    finally:
        before_task_publish.disconnect(record)
        purge_queues()

    assert (first.status_code, second.status_code) == (201, 201)
    assert second["X-Request-ID"] != given
    assert published == [("generation.tasks.render_generation", given),
                         ("generation.tasks.render_generation", second["X-Request-ID"])]


@pytest.mark.django_db(transaction=True)
def test_the_worker_logs_a_task_with_the_request_id_of_the_request_that_enqueued_it(settings, tmp_path, user):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.GENERATION_BACKEND = "preview"
    settings.GENERATION_FPS = 8
    purge_queues()
    worker = WorkerProcess({"LOG_FORMAT": "json"}, tmp_path / "worker.log").start()
    try:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_for_user(user)['access']}")
        given = uuid.uuid4().hex
        response = client.post("/api/v1/generations", GENERATION, HTTP_X_REQUEST_ID=given)
        assert response.status_code == 201, response.json()
        job_id = response.json()["id"]
        wait_until(lambda: GenerationJob.objects.get(pk=job_id).status == "succeeded", timeout=60, what="render")
    finally:
        worker.stop()

    lines = [json.loads(line) for line in worker.output().splitlines() if line.startswith("{")]
    transitions = [line for line in lines if line["message"] == "generation.transition"]
    assert [(line["job_id"], line["to"]) for line in transitions][:1] == [(job_id, "running")]
    assert transitions[-1]["to"] == "succeeded"
    assert {line["request_id"] for line in transitions} == {given}


# --- Websocket --------------------------------------------------------------------------


class _LoggingConsumer(UserSocketConsumer):
    async def receive_json(self, content, **kwargs) -> None:
        logging.getLogger("tests.ws").info("ws.received")
        await super().receive_json(content, **kwargs)


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_records_logged_by_a_socket_carry_its_user_and_no_other(console):
    buffer = console("json")
    app = JwtAuthMiddleware(URLRouter([path("ws/", _LoggingConsumer.as_asgi())]))
    (first, first_token), (second, second_token) = await _user_and_token(), await _user_and_token()
    sockets = [WebsocketCommunicator(app, f"/ws/?token={token}") for token in (first_token, second_token)]
    for socket in sockets:
        assert (await socket.connect())[0]
        assert (await socket.receive_json_from())["type"] == "hello"

    for socket in (sockets[1], sockets[0]):
        await socket.send_json_to({"type": "ping"})
        assert await socket.receive_json_from() == {"type": "pong"}
    for socket in sockets:
        await socket.disconnect()
    logging.getLogger("tests.ws").info("ws.outside")

    assert [(line["message"], line["user_id"]) for line in _json_lines(buffer) if line["logger"] == "tests.ws"] == [
        ("ws.received", second.pk), ("ws.received", first.pk), ("ws.outside", None),
    ]
