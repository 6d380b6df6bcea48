"""The creator programme's step of an account purge (accounts.deletion.registry), registered in
CreatorsConfig.ready.

Money owed is settled before anything goes: a Stripe payout in flight makes the purge wait;
unpaid cash rewards are sent (Stripe Connect, when the account can receive them and no
transfer of theirs failed) or recorded as a manual payout for staff. Rewards, payouts and the
enrolments they belong to are kept (accounting), pointed at the placeholder user; the profile
and the submissions go."""

from __future__ import annotations

import logging

from django.db.models import Exists, OuterRef

from accounts.deletion.registry import PurgeContext
from config.errors import ApplicationError

from ..models import Campaign, CreatorProfile, Enrolment, Payout, Reward, Submission
from .payouts import payout_create

logger = logging.getLogger(__name__)

HANDLES = ("creators.CreatorProfile.user", "creators.Submission.user", "creators.Submission.reviewed_by",
           "creators.Campaign.created_by", "creators.Payout.created_by")
ANONYMISES = ("creators.Payout.user", "creators.Reward.user", "creators.Enrolment.user")


def _unpaid_currencies(user_id: int) -> list[str]:
    return sorted(set(Reward.objects.filter(user_id=user_id, kind=Campaign.BudgetKind.CASH, payout__isnull=True)
                      .values_list("currency", flat=True)))


def account_payouts_hold(ctx: PurgeContext) -> str | None:
    uid = ctx.user_id
    if Payout.objects.filter(user_id=uid, status=Payout.Status.PENDING).exists():
        return "payout_in_flight"
    profile = CreatorProfile.objects.filter(user_id=uid).first()
    if profile is None:
        return None
    by_stripe = (profile.connect_status == CreatorProfile.ConnectStatus.ENABLED and bool(profile.stripe_account_id)
                 and not Payout.objects.filter(user_id=uid, status=Payout.Status.FAILED).exists())
    sent = False
    for currency in _unpaid_currencies(uid):
        method = Payout.Method.STRIPE if by_stripe else Payout.Method.MANUAL
        try:
            payout = payout_create(user_id=uid, currency=currency, method=method)
        except ApplicationError as exc:
            # A minor's cash waits unpaid (no cash to minors); the rewards stay on record.
            logger.info("creators.deletion_payout_refused", extra={"user_id": uid, "code": exc.code})
            continue
        sent = sent or (payout is not None and payout.status == Payout.Status.PENDING)
    return "payout_in_flight" if sent else None


def account_creator_purge(ctx: PurgeContext) -> None:
    uid, placeholder = ctx.user_id, ctx.placeholder_id
    Submission.objects.filter(user_id=uid).delete()
    rewarded = Reward.objects.filter(enrolment=OuterRef("pk"))
    Enrolment.objects.filter(user_id=uid).exclude(Exists(rewarded)).delete()
    Enrolment.objects.filter(user_id=uid).update(user_id=placeholder)
    Reward.objects.filter(user_id=uid).update(user_id=placeholder)
    Payout.objects.filter(user_id=uid).update(user_id=placeholder, stripe_account_id="")
    CreatorProfile.objects.filter(user_id=uid).delete()
