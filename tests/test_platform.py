"""Cross-app plumbing: error shape, health probes, OpenAPI, settings guards, Celery config."""

import os
import subprocess
import sys

import pytest
from django.conf import settings as django_settings

from tests.pki import production_signing_env

pytestmark = pytest.mark.django_db


def test_unknown_api_path_is_404_in_error_shape(api):
    response = api.get("/api/v1/does-not-exist")

    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not found.", "fields": {}}}


def test_a_post_to_an_unknown_api_path_is_a_json_404_not_a_csrf_page():
    from django.test import Client

    response = Client(enforce_csrf_checks=True).post("/api/v1/does-not-exist", {"a": 1},
                                                     content_type="application/json")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_wrong_method_is_405_in_error_shape(auth_api):
    response = auth_api.put("/api/v1/me", {})

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_unsupported_media_type_is_415_in_error_shape(api):
    response = api.post("/api/v1/auth/login", data="x", content_type="text/csv")

    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_healthz(api):
    response = api.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_all_dependencies_up(api):
    response = api.get("/readyz")

    assert response.status_code == 200, response.json()
    assert response.json()["checks"] == {"database": "ok", "cache": "ok", "broker": "ok", "channel_layer": "ok"}


def test_readyz_names_a_stopped_broker(api, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1

    response = api.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["broker"]
    assert body["checks"]["database"] == "ok"


def test_readyz_names_stopped_cache_and_channel_layer(api, settings):
    dead = "redis://127.0.0.1:1/0"
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": dead}}
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",
                                           "CONFIG": {"hosts": [dead]}}}

    response = api.get("/readyz")

    assert response.status_code == 503
    assert response.json()["failing"] == ["cache", "channel_layer"]


def test_openapi_schema_and_docs_page(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    docs = api.get("/api/docs/")

    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for expected in ["/api/v1/auth/signup", "/api/v1/auth/firebase", "/api/v1/me", "/api/v1/me/devices",
                     "/api/v1/users/{handle}/follow"]:
        assert expected in paths
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content


def _run_settings(env_overrides: dict) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}}
    env.update(env_overrides)
    return subprocess.run([sys.executable, "-c", "import django; django.setup()"], env=env,
                          capture_output=True, text=True, timeout=60, cwd=django_settings.BASE_DIR)


def test_production_refuses_default_secret_key():
    result = _run_settings({"DJANGO_ENV": "production"})

    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_refuses_debug():
    result = _run_settings({"DJANGO_ENV": "production", "SECRET_KEY": "x" * 50, "DEBUG": "true"})

    assert result.returncode != 0
    assert "DEBUG" in result.stderr


def test_production_starts_with_real_settings():
    result = _run_settings({"DJANGO_ENV": "production", "SECRET_KEY": "x" * 50, "ALLOWED_HOSTS": "api.example.com",
                            "NUM_PROXIES": "0", **production_signing_env()})

    assert result.returncode == 0, result.stderr


def test_celery_reliability_settings():
    from config.celery import app

    conf = app.conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert [q.name for q in conf.task_queues] == ["default", "gpu"]
    assert conf.task_serializer == "json" and conf.accept_content == ["json"]
    assert conf.task_soft_time_limit < conf.task_time_limit < conf.broker_transport_options["visibility_timeout"]
    # Renders name their queue on the task (for .delay) and where they are sent (test_api checks
    # the message); no route table repeats it. The rest go to the default queue.
    from generation.tasks import render_generation

    assert render_generation.queue == "gpu"
    assert conf.task_routes is None
    assert app.amqp.router.route({}, "generation.tasks.sweep_generations")["queue"].name == "default"
    assert app.amqp.router.route({}, "accounts.tasks.anything")["queue"].name == "default"
