"""The OpenAPI schema says what the API does: cursor pages, the one error shape and the error
responses of every operation, JSON first for a generation, and the index at / and /api/v1/."""

from __future__ import annotations

import json

import pytest
import yaml

from accounts.models import User

# Every list read in cursor pages ({next, previous, results}).
PAGINATED = [
    "/api/v1/generations",
    "/api/v1/feed/following", "/api/v1/feed/for-you", "/api/v1/feed/trending",
    "/api/v1/users/{handle}/posts", "/api/v1/users/{handle}/followers", "/api/v1/users/{handle}/following",
    "/api/v1/creators/me/rewards", "/api/v1/creators/me/payouts",
    "/api/v1/hashtags/{tag}/posts", "/api/v1/posts/{post_id}/remixes", "/api/v1/posts/{post_id}/comments",
    "/api/v1/comments/{comment_id}/replies",
]
METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def spec() -> dict:
    from rest_framework.test import APIClient

    response = APIClient().get("/api/schema/?format=json")
    assert response.status_code == 200
    return json.loads(response.content)


def _operations(spec: dict):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def _resolve(spec: dict, schema: dict) -> dict:
    ref = schema.get("$ref")
    return spec["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref else schema


def test_every_cursor_list_is_documented_as_a_page(spec):
    for path in PAGINATED:
        operation = spec["paths"][path]["get"]
        page = _resolve(spec, operation["responses"]["200"]["content"]["application/json"]["schema"])
        assert set(page["properties"]) == {"next", "previous", "results"}, path
        assert page["properties"]["results"]["type"] == "array", path
        assert page["properties"]["next"]["nullable"] is True, path
        names = {p["name"] for p in operation["parameters"] if p["in"] == "query"}
        assert {"cursor", "page_size"} <= names, path
    # No other GET of the API answers a page while documenting a bare array.
    for path, method, operation in _operations(spec):
        schema = operation["responses"].get("200", {}).get("content", {}).get("application/json", {}).get("schema")
        if method == "get" and schema and schema.get("type") == "array":
            assert path not in PAGINATED


def test_a_list_answers_the_documented_page(auth_api):
    body = auth_api.get("/api/v1/generations").json()
    assert set(body) == {"next", "previous", "results"}


def test_one_error_component_in_config_errors_shape(spec):
    error = spec["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    detail = _resolve(spec, error["properties"]["error"])
    assert set(detail["required"]) == {"code", "message", "fields"}
    assert set(detail["properties"]) == {"code", "message", "fields", "retry_after", "max_bytes", "required", "have"}


def test_every_operation_lists_its_error_responses(spec):
    count = 0
    for path, method, operation in _operations(spec):
        count += 1
        responses = operation["responses"]
        errors = {code: r for code, r in responses.items() if code >= "400"}
        assert errors, (method, path)
        for code, response in errors.items():
            assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
            assert response["description"].startswith("Error codes: `"), (method, path, code)
        signed_in = {"jwtAuth": []} in operation.get("security", []) and {} not in operation["security"]
        assert ("`not_authenticated`" in responses.get("401", {}).get("description", "")) == signed_in, (method, path)
        if "requestBody" in operation:
            assert {"400", "413", "415"} <= set(responses), (method, path)
            assert "`request_too_large`" in responses["413"]["description"]
        if "{" in path:
            assert "`not_found`" in responses["404"]["description"], (method, path)
    assert count >= 75


@pytest.mark.parametrize(("method", "path", "status", "code"), [
    ("post", "/api/v1/generations", "429", "throttled"),
    ("post", "/api/v1/generations", "429", "queue_full"),
    ("post", "/api/v1/generations", "429", "queue_busy"),
    ("post", "/api/v1/generations", "402", "insufficient_credits"),
    ("post", "/api/v1/generations", "409", "idempotency_key_reused"),
    ("post", "/api/v1/generations", "400", "idempotency_key_invalid"),
    ("post", "/api/v1/auth/login", "429", "account_locked"),
    ("post", "/api/v1/auth/signup", "429", "throttled"),
    ("post", "/api/v1/posts/{post_id}/like", "404", "post_not_found"),
    ("get", "/api/v1/generations/{job_id}", "404", "generation_not_found"),
    ("get", "/api/v1/users/{handle}", "404", "user_not_found"),
    ("get", "/api/v1/feed/for-you", "400", "cursor_invalid"),
    ("post", "/api/v1/billing/checkout", "503", "billing_not_configured"),
    ("get", "/api/v1/me", "401", "token_invalid"),
    ("post", "/api/v1/creators/me/connect", "403", "not_a_creator"),
])
def test_an_operation_names_the_codes_of_its_errors(spec, method, path, status, code):
    assert f"`{code}`" in spec["paths"][path][method]["responses"][status]["description"]


def test_reads_are_not_documented_as_throttled_where_only_writes_are(spec):
    assert "429" not in spec["paths"]["/api/v1/generations"]["get"]["responses"]
    assert "429" not in spec["paths"]["/api/v1/posts/{post_id}/comments"]["get"]["responses"]
    assert "429" in spec["paths"]["/api/v1/posts/{post_id}/comments"]["post"]["responses"]


def test_a_generation_body_is_json_first_and_multipart_for_an_image(spec):
    content = spec["paths"]["/api/v1/generations"]["post"]["requestBody"]["content"]
    assert list(content) == ["application/json", "multipart/form-data"]
    as_json = _resolve(spec, content["application/json"]["schema"])["properties"]
    as_form = _resolve(spec, content["multipart/form-data"]["schema"])["properties"]
    assert "image" not in as_json and as_form["image"]["format"] == "binary"
    assert set(as_form) - set(as_json) == {"image"}


def test_the_schema_is_yaml_and_json_on_asking(api):
    response = api.get("/api/schema/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    assert yaml.safe_load(response.content)["openapi"].startswith("3.")
    response = api.get("/api/schema/?format=json")
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    assert json.loads(response.content)["info"]["title"] == "Clipsocial API"


@pytest.mark.parametrize("path", ["/", "/api/v1/"])
def test_the_index_names_the_api_and_links_its_docs(api, path):
    response = api.get(path)
    assert response.status_code == 200
    assert response.json() == {
        "name": "Clipsocial API", "version": "1.0.0", "api": "http://testserver/api/v1/",
        "docs": "http://testserver/api/docs/", "schema": "http://testserver/api/schema/",
        "schema_json": "http://testserver/api/schema/?format=json",
    }


@pytest.mark.parametrize("path", ["/", "/api/v1/"])
def test_the_index_links_no_docs_where_they_are_off(api, settings, path):
    settings.API_DOCS_ENABLED = False
    assert api.get(path).json() == {"name": "Clipsocial API", "version": "1.0.0", "api": "http://testserver/api/v1/"}


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/api/v1/"])
def test_the_index_refuses_a_write_in_the_error_shape(api, path):
    users = User.objects.count()
    response = api.post(path, {"handle": "x"}, format="json")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert response["Allow"] == "GET, HEAD"
    assert User.objects.count() == users
