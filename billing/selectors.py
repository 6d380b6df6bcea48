"""Reads of billing state: balances, prices, entitlements."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from .models import CreditAccount


@dataclass(frozen=True)
class Balance:
    available: int
    reserved: int


def credit_balance(*, user_id: int) -> Balance:
    account = CreditAccount.objects.filter(user_id=user_id).first()
    if account is None:
        # Materialise the account (and its sign-up grant) on first read.
        from .services import _locked_account

        with transaction.atomic():
            account = _locked_account(user_id)
    return Balance(available=account.available, reserved=account.reserved)


# Credits per second of video by the short side of the frame.
_CREDITS_PER_SECOND = {480: 1, 720: 2, 1080: 4}


def generation_cost(*, kind: str, duration_seconds: int, width: int, height: int) -> int:
    short_side = min(width, height)
    rate = next((r for side, r in sorted(_CREDITS_PER_SECOND.items()) if short_side <= side), 8)
    return rate * duration_seconds


@dataclass(frozen=True)
class Entitlements:
    """What a user may do now. The billing issue derives this from the subscription;
    until then every user is on the free tier configured in settings."""

    tier: str
    max_concurrent_jobs: int
    queue_priority: int  # higher runs sooner, 0-9
    max_duration_seconds: int
    max_short_side: int
    watermark: bool


def user_entitlements(*, user_id: int) -> Entitlements:
    return Entitlements(
        tier="free",
        max_concurrent_jobs=settings.GENERATION_FREE_CONCURRENT_JOBS,
        queue_priority=0,
        max_duration_seconds=settings.GENERATION_FREE_MAX_DURATION,
        max_short_side=settings.GENERATION_FREE_MAX_SHORT_SIDE,
        watermark=True,
    )
