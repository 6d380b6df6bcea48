"""Billing and generation together: jobs spend plan credits first and a canceled job's
credits go back to the lots they came from."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from billing import services
from billing.models import CreditEntry
from billing.selectors import credit_balance

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _setup(settings, tmp_path, monkeypatch):
    from config.celery import app

    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.GENERATION_BACKEND = "preview"
    settings.CREDITS_SIGNUP_GRANT = 100
    monkeypatch.setattr(app, "send_task", lambda *args, **kwargs: None)


def test_a_job_spends_plan_credits_first_and_a_cancel_puts_them_back(auth_api):
    user = auth_api.user
    services.credits_grant(user_id=user.pk, amount=6, kind="plan", key="invoice:in_1", reference="invoice:in_1",
                           expires_at=timezone.now() + timedelta(days=30))
    services.credits_grant(user_id=user.pk, amount=50, kind="pack", key="pack:p1", reference="pack:p1")

    created = auth_api.post("/api/v1/generations", {"kind": "text_to_video", "prompt": "a red kite over dunes",
                                                    "duration_seconds": 8, "size": "720x1280"}, format="multipart")

    assert created.status_code == 201, created.json()
    assert credit_balance(user_id=user.pk).by_kind == {"plan": 0, "bonus": 90, "pack": 50}
    history = auth_api.get("/api/v1/billing/credits").json()["results"]
    assert (history[0]["kind"], history[0]["available_delta"], history[0]["by_kind"]) == (
        "reserve", -16, {"plan": -6, "bonus": -10})

    canceled = auth_api.post(f"/api/v1/generations/{created.json()['id']}/cancel")

    assert canceled.status_code == 200
    assert credit_balance(user_id=user.pk).by_kind == {"plan": 6, "bonus": 100, "pack": 50}
    release = CreditEntry.objects.get(kind="release")
    assert sorted((m.lot.kind, m.amount) for m in release.movements.select_related("lot")) == [
        ("bonus", 10), ("plan", 6)]
