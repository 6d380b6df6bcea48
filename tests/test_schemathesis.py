"""Every operation of the served OpenAPI schema, fuzzed by schemathesis, signed in.

Each operation is one test: a handful of generated requests (positive and negative data), each
checked for no 5xx, a body that matches the documented schema, a documented status code and the
documented content type. Derandomized, so a run is reproducible and a new finding is a change in
the code, not luck. Requests go in process through Django's WSGI handler, inside the test's
transaction.
"""

from __future__ import annotations

import copy

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())


@pytest.fixture
def in_test_transaction():
    """As Django's test client does: a request must not close the connection that holds the
    test's transaction (close_old_connections would, as autocommit is off inside it)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def bearer(user) -> dict[str, str]:
    from accounts.services import tokens_for_user

    return {"Authorization": f"Bearer {tokens_for_user(user)['access']}"}


@schema.parametrize()
@settings(max_examples=10, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_operation(case, bearer, in_test_transaction, stripe_fake, app_store, google_play):
    # Billing on, against the local Stripe fake and stores: without them their endpoints are a 503 by design.
    case.call_and_validate(headers=bearer, checks=CHECKS)


@pytest.mark.django_db
def test_an_undocumented_answer_is_a_finding(in_test_transaction):
    """The checks above are live: a status the schema leaves out fails the run."""
    raw = copy.deepcopy(schema.raw_schema)
    del raw["paths"]["/api/v1/me"]["get"]["responses"]["401"]
    edited = schemathesis.openapi.from_dict(raw)
    edited.app = schema.app
    case = edited["/api/v1/me"]["GET"].Case()
    with pytest.raises(FailureGroup) as failures:
        case.call_and_validate(checks=CHECKS)  # signed out: a 401 not in this copy of the schema
    assert [type(f).__name__ for f in failures.value.exceptions] == ["UndefinedStatusCode"]
