"""Liveness and readiness probes for the load balancer and the orchestrator."""

from __future__ import annotations

import logging
import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from kombu import Connection

from config.celery import app

logger = logging.getLogger(__name__)


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_cache() -> None:
    key = f"readyz:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=5)
    if cache.get(key) != "1":
        raise RuntimeError("cache did not return the value just written")
    cache.delete(key)


def _check_broker() -> None:
    options = dict(app.conf.broker_transport_options or {})
    with Connection(settings.CELERY_BROKER_URL, connect_timeout=settings.REDIS_SOCKET_TIMEOUT,
                    transport_options=options) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=settings.REDIS_SOCKET_TIMEOUT)


def _check_channel_layer() -> None:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer configured")

    async def roundtrip() -> None:
        channel = await layer.new_channel("readyz.")
        await layer.send(channel, {"type": "readyz.ping"})
        message = await layer.receive(channel)
        if message.get("type") != "readyz.ping":
            raise RuntimeError("channel layer returned another message")

    async_to_sync(roundtrip)()


CHECKS = {
    "database": _check_database,
    "cache": _check_cache,
    "broker": _check_broker,
    "channel_layer": _check_channel_layer,
}


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> JsonResponse:
    results: dict[str, str] = {}
    for name, check in CHECKS.items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - a probe reports any failure, whatever its type
            logger.warning("readyz.check_failed", extra={"check": name, "error": repr(exc)[:300]})
            results[name] = f"error: {type(exc).__name__}"
    failing = [name for name, result in results.items() if result != "ok"]
    body = {"status": "ok" if not failing else "unavailable", "checks": results, "failing": failing}
    return JsonResponse(body, status=200 if not failing else 503)
