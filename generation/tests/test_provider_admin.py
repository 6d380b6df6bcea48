"""The admin's provider card, alerts and the cost and margin table per plan and provider per day."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from generation.models import JobStatus, ProviderAlert
from generation.selectors import provider_costs_by_day
from generation.services import providers
from generation.tests.factories import GenerationJobFactory

pytestmark = pytest.mark.django_db


def job(**fields):
    defaults = dict(status=JobStatus.SUCCEEDED, finished_at=timezone.now(), duration_seconds=4)
    return GenerationJobFactory(**{**defaults, **fields})


def test_cost_and_margin_are_summed_per_day_plan_and_backend(settings):
    settings.GENERATION_CREDIT_VALUE_USD = 0.05
    job(plan_code="free", backend="openai", cost=16, provider_cost_usd=Decimal("0.40"))
    job(plan_code="free", backend="openai", cost=16, provider_cost_usd=Decimal("0.80"))  # rendered twice
    job(plan_code="pro", backend="preview", cost=16, provider_cost_usd=Decimal("0"))
    job(plan_code="pro", backend="openai", cost=16, provider_cost_usd=None)  # no price configured
    job(plan_code="free", backend="openai", cost=16, status=JobStatus.FAILED, provider_cost_usd=Decimal("9"))

    rows = {(r["plan_code"], r["backend"]): r for r in provider_costs_by_day(since=timezone.now().replace(hour=0))}

    free = rows[("free", "openai")]
    assert (free["jobs"], free["seconds"], free["credits"], free["revenue_usd"], free["cost_usd"],
            free["margin_usd"]) == (2, 8, 32, Decimal("1.6000"), Decimal("1.2000"), Decimal("0.4000"))
    assert rows[("pro", "preview")]["margin_usd"] == Decimal("0.8000")
    assert (rows[("pro", "openai")]["unpriced"], rows[("pro", "openai")]["cost_usd"]) == (1, Decimal("0"))
    assert len(rows) == 3


def test_the_cost_page_and_the_provider_card_render(admin_client):
    job(plan_code="free", backend="openai", cost=16, provider_cost_usd=Decimal("2.00"))
    providers.provider_alert_raise(provider="openai", code="provider_quota_exhausted", message="spent")
    providers.breaker_open("runway", seconds=60, reason="failures")

    page = admin_client.get(reverse("admin:generation_generationjob_provider_costs")).content.decode()
    dashboard = admin_client.get(reverse("admin:index")).content.decode()
    alerts = admin_client.get(reverse("admin:generation_provideralert_changelist")).content.decode()

    assert re.search(r"<td>free</td><td>openai</td><td>1</td><td>4</td><td>16</td><td>0\.1600</td><td>2\.0000</td>"
                     r'<td style="color:#ba2121">-1\.8400</td>', page)
    assert "Video providers" in dashboard and "Backends skipped (circuit open)" in dashboard
    assert "provider_quota_exhausted" in alerts


def test_resolving_an_alert_closes_it_and_tries_the_provider_again(admin_client):
    providers.provider_quota_exhausted(job_id=None, backend="remote", message="spent")
    alert = ProviderAlert.objects.get()
    assert (alert.provider, providers.breaker_is_open("openai")) == ("openai", True)

    admin_client.post(reverse("admin:generation_provideralert_changelist"),
                      {"action": "resolve", "_selected_action": [alert.pk]})

    alert.refresh_from_db()
    assert alert.resolved_at is not None
    assert not providers.breaker_is_open("openai") and not providers.breaker_is_open("remote")
