"""Production settings: `check --deploy` finds nothing, HSTS is on, the API docs are off, and
the admin answers only on its path, hosts and client addresses.

Production settings are read once per process, so those tests start Django in a subprocess
with the smallest environment production starts with; the admin's access rules are read per
request and are tested here against the test settings."""

from __future__ import annotations

import json
import os
import string
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.contrib.sessions.models import Session

from accounts.models import User
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.pki import production_signing_env

# Long, varied and not Django's generated prefix: what check --deploy asks of a SECRET_KEY.
SECRET_KEY = string.ascii_letters[:50]

PROBE = """
import json
import django
django.setup()
from django.conf import settings
from django.test import Client
from django.urls import Resolver404, resolve, reverse

def get(path, **extra):
    response = Client(**extra).get(path, secure=True)
    return [response.status_code, response.headers.get("Location"), response.headers.get("Content-Type")]

def routed(path):
    try:
        return resolve(path).url_name
    except Resolver404:
        return None

# The Swagger page itself needs collectstatic's manifest (production's static storage): its
# route is looked up, the schema (JSON) fetched.
print(json.dumps({
    "hsts": Client().get("/healthz", secure=True).headers.get("Strict-Transport-Security"),
    "docs_route": routed("/api/docs/"),
    "docs": None if routed("/api/docs/") else get("/api/docs/"),
    "schema": get("/api/schema/"),
    "admin_index": reverse("admin:index"),
    "admin_outside": get("/" + settings.ADMIN_URL_PREFIX, REMOTE_ADDR="203.0.113.9"),
    "admin_inside": get("/" + settings.ADMIN_URL_PREFIX, REMOTE_ADDR="10.1.2.3"),
    "old_admin_path": get("/admin/", REMOTE_ADDR="10.1.2.3"),
    "admin_otp_required": settings.ADMIN_OTP_REQUIRED,
}))
"""


def _database_url() -> str:
    if "DATABASE_URL" in os.environ:
        return os.environ["DATABASE_URL"]
    db = django_settings.DATABASES["default"]
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def run_production(args: list[str], **env_overrides: str) -> subprocess.CompletedProcess:
    """`python <args>` under DJANGO_ENV=production with only the variables production needs
    (nothing leaks in from the environment the tests run in)."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_ENV": "production",
        "SECRET_KEY": SECRET_KEY,
        "ALLOWED_HOSTS": "api.example.com,testserver",
        "DATABASE_URL": _database_url(),
        "REDIS_URL": os.environ.get("REDIS_URL", django_settings.REDIS_URL),
        "NUM_PROXIES": "0",
        **production_signing_env(),
        **env_overrides,
    }
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=120,
                          cwd=django_settings.BASE_DIR)


def probe(**env_overrides: str) -> dict:
    result = run_production(["-c", PROBE], **env_overrides)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_check_deploy_finds_no_issue_with_the_minimal_production_environment():
    result = run_production(["manage.py", "check", "--deploy", "--fail-level", "WARNING"])

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues" in output
    assert "WARNINGS" not in output and "ERRORS" not in output and "security.W" not in output


def test_production_sends_hsts_turns_the_docs_off_and_keeps_the_admin_to_its_addresses():
    seen = probe(ADMIN_ALLOWED_IPS="10.0.0.0/8")

    assert seen["hsts"] == "max-age=31536000; includeSubDomains; preload"
    not_found = [404, None, "application/json"]
    assert (seen["docs_route"], seen["docs"], seen["schema"]) == (None, not_found, not_found)
    assert seen["admin_index"] == "/admin/"
    assert seen["admin_outside"][0] == 404
    assert seen["admin_inside"][:2] == [302, "/admin/login/?next=/admin/"]
    assert seen["admin_otp_required"] is True  # staff need their TOTP code too


def test_production_hsts_docs_and_admin_path_are_configurable():
    seen = probe(SECURE_HSTS_SECONDS="600", SECURE_HSTS_INCLUDE_SUBDOMAINS="false", SECURE_HSTS_PRELOAD="false",
                 API_DOCS_ENABLED="true", ADMIN_URL_PREFIX="staff-7f3a", ADMIN_ALLOWED_IPS="10.0.0.0/8,2001:db8::/32")

    assert seen["hsts"] == "max-age=600"
    assert seen["docs_route"] == "docs"
    assert seen["schema"][:2] == [200, None] and seen["schema"][2].startswith("application/vnd.oai.openapi")
    assert seen["admin_index"] == "/staff-7f3a/"
    assert seen["admin_inside"][:2] == [302, "/staff-7f3a/login/?next=/staff-7f3a/"]
    assert seen["admin_outside"][0] == 404
    assert seen["old_admin_path"][0] == 404


@pytest.mark.parametrize(("variable", "value"), [
    ("ADMIN_ALLOWED_IPS", "10.0.0.0/8,not-a-network"),
    ("ADMIN_URL_PREFIX", "api/admin"),
    ("ADMIN_URL_PREFIX", "/"),
    ("ADMIN_URL_PREFIX", "staff/<str:x>"),
])
def test_production_refuses_admin_settings_that_cannot_work(variable, value):
    result = run_production(["-c", "import django; django.setup()"], **{variable: value})

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and variable in result.stderr


# --- the admin's access rules, per request ---------------------------------------------------

@pytest.fixture
def staff(db):
    return UserFactory(email="staff@example.com", is_staff=True, is_superuser=True)


def sign_in(client, **extra):
    return client.post("/admin/login/?next=/admin/", {"username": "staff@example.com", "password": DEFAULT_PASSWORD},
                       **extra)


@pytest.mark.django_db
def test_the_admin_is_a_404_outside_its_allowed_addresses_and_a_sign_in_there_changes_nothing(client, settings,
                                                                                              staff):
    settings.ADMIN_ALLOWED_IPS = ["10.0.0.0/8", "2001:db8::/32"]
    outside = {"REMOTE_ADDR": "203.0.113.9"}

    answers = [client.get(path, **outside).status_code for path in ("/admin", "/admin/", "/admin/login/",
                                                                    "/admin/feed/post/")]
    signed_in = sign_in(client, **outside)

    assert answers == [404, 404, 404, 404]
    assert signed_in.status_code == 404
    assert Session.objects.count() == 0
    assert User.objects.get(pk=staff.pk).last_login is None
    # The rest of the site is not the admin's business.
    assert client.get("/healthz", **outside).status_code == 200


@pytest.mark.django_db
def test_the_admin_works_from_allowed_addresses_only(client, settings, staff):
    settings.ADMIN_ALLOWED_IPS = ["10.0.0.0/8", "2001:db8::/32"]

    for address in ("10.1.2.3", "2001:db8::1", "::ffff:10.0.0.5"):
        page = client.get("/admin/login/", REMOTE_ADDR=address)
        signed_in = sign_in(client, REMOTE_ADDR=address)
        assert page.status_code == 200, address
        assert (signed_in.status_code, signed_in["Location"]) == (302, "/admin/"), address
        # The session the sign-in made is only good from an allowed address.
        assert client.get("/admin/", REMOTE_ADDR=address).status_code == 200, address
        assert client.get("/admin/", REMOTE_ADDR="192.0.2.1").status_code == 404, address
        client.logout()


@pytest.mark.django_db
def test_behind_proxies_the_admin_checks_the_forwarded_client_address(client, settings, staff):
    settings.ADMIN_ALLOWED_IPS = ["10.0.0.0/8"]
    settings.NUM_PROXIES = 1
    proxy = {"REMOTE_ADDR": "10.0.0.1"}  # the load balancer is inside the range; its clients need not be

    from_outside = client.get("/admin/login/", HTTP_X_FORWARDED_FOR="203.0.113.9", **proxy)
    forged = client.get("/admin/login/", HTTP_X_FORWARDED_FOR="10.9.9.9, 203.0.113.9", **proxy)
    from_inside = client.get("/admin/login/", HTTP_X_FORWARDED_FOR="10.9.9.9", **proxy)

    assert (from_outside.status_code, forged.status_code, from_inside.status_code) == (404, 404, 200)


@pytest.mark.django_db
def test_the_admin_answers_only_on_its_own_host(client, settings, staff):
    settings.ADMIN_HOSTS = ["admin.example.com"]
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "admin.example.com", "api.example.com"]

    on_api_host = client.get("/admin/login/", HTTP_HOST="api.example.com")
    signed_in_on_api_host = sign_in(client, HTTP_HOST="api.example.com")
    on_admin_host = client.get("/admin/login/", HTTP_HOST="Admin.Example.com:443")

    assert (on_api_host.status_code, signed_in_on_api_host.status_code, on_admin_host.status_code) == (404, 404, 200)
    assert Session.objects.count() == 0
    # The API stays on every host.
    assert client.get("/healthz", HTTP_HOST="api.example.com").status_code == 200


@pytest.mark.parametrize(("overrides", "message"), [
    ({"PROVENANCE_SIGNING_KEY": ""}, "PROVENANCE_REQUIRED: set PROVENANCE_SIGNING_KEY and PROVENANCE_CERT_CHAIN"),
    ({"PROVENANCE_CERT_CHAIN": ""}, "PROVENANCE_REQUIRED: set PROVENANCE_SIGNING_KEY and PROVENANCE_CERT_CHAIN"),
    ({"PROVENANCE_CERT_CHAIN": "/nonexistent/chain.pem"}, "PROVENANCE_CERT_CHAIN: no file at /nonexistent/chain.pem"),
])
def test_production_refuses_to_start_without_signing_keys(overrides, message):
    result = run_production(["manage.py", "check"], **overrides)

    assert result.returncode != 0
    assert message in result.stderr
