"""Billing's step of an account purge (accounts.deletion.registry), registered in
BillingConfig.ready.

- An App Store or Google Play subscription can only be canceled by its owner in the store:
  the deletion is refused (409 store_subscription_active) unless the request confirms it.
- A Stripe subscription is set to cancel at the period's end when the deletion is asked for
  (and back, if it is canceled); the purge waits until Stripe confirmed the cancel.
- The ledger and the payment records are kept (legal retention), pointed at the deleted
  account's placeholder user, which names nobody.
"""

from __future__ import annotations

import logging

import stripe
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.deletion.registry import PurgeContext
from accounts.models import User
from config.errors import ApplicationError, Conflict

from ..models import (
    BillingCustomer,
    CheckoutSession,
    CreditAccount,
    CreditEntry,
    CreditLot,
    DailyUsage,
    PlanChange,
    StoreAccountToken,
    StoreSubscription,
    Subscription,
)
from ..selectors import LIVE_STATUSES
from ..stripe_api import plain, stripe_client, stripe_configured
from .subscriptions import subscription_apply

logger = logging.getLogger(__name__)

HANDLES = ("billing.DailyUsage.user", "billing.CreditEntry.created_by", "billing.StripeEvent.replayed_by")
ANONYMISES = ("billing.BillingCustomer.user", "billing.CheckoutSession.user", "billing.Subscription.user",
              "billing.PlanChange.user", "billing.CreditAccount.user", "billing.CreditEntry.user",
              "billing.CreditLot.user", "billing.StoreAccountToken.user", "billing.StoreSubscription.user")

# A store subscription in these states will bill again unless its owner cancels it in the store.
STORE_RENEWING = (StoreSubscription.Status.ACTIVE, StoreSubscription.Status.GRACE,
                  StoreSubscription.Status.BILLING_RETRY, StoreSubscription.Status.ON_HOLD,
                  StoreSubscription.Status.PAUSED)


def account_store_check(*, user: User, confirm_store_subscription: bool = False, **_options) -> None:
    stores = sorted(set(StoreSubscription.objects.filter(user_id=user.pk, status__in=STORE_RENEWING)
                        .values_list("store", flat=True)))
    if stores and not confirm_store_subscription:
        raise Conflict(
            _("You have an active App Store or Google Play subscription. Deleting your account does not cancel "
              "it: cancel it in the store's subscription settings, then delete your account (or confirm that "
              "you want to delete it anyway)."),
            code="store_subscription_active", fields={"stores": stores})


def _uncanceled(user_id: int):
    return Subscription.objects.filter(user_id=user_id, status__in=LIVE_STATUSES, cancel_at_period_end=False)


def _set_cancel_at_period_end(sub: Subscription, flag: bool) -> bool:
    """Ask Stripe, then mirror its answer; False when Stripe could not be reached or refused."""
    try:
        remote = stripe_client().v1.subscriptions.update(sub.stripe_subscription_id,
                                                         params={"cancel_at_period_end": flag})
    except (stripe.StripeError, ApplicationError) as exc:
        logger.warning("billing.deletion_cancel_failed", extra={"user_id": sub.user_id, "subscription": sub.pk,
                                                                 "cancel": flag, "error": str(exc)[:200]})
        return False
    with transaction.atomic():
        customer = BillingCustomer.objects.select_for_update().filter(user_id=sub.user_id).first()
        if customer is not None:
            subscription_apply(plain(remote), customer=customer)
    return True


def _stripe_cancel(user_id: int) -> list[str]:
    done = []
    if not stripe_configured():
        return done
    for sub in _uncanceled(user_id):
        if _set_cancel_at_period_end(sub, True):
            done.append(sub.stripe_subscription_id)
    return done


def account_stripe_cancel(*, user: User) -> dict | None:
    canceled = _stripe_cancel(user.pk)
    return {"stripe_canceled": canceled} if canceled else None


def account_stripe_restore(*, user: User, state: dict) -> None:
    """The deletion was canceled: the subscriptions it set to end renew again."""
    for sub in Subscription.objects.filter(user_id=user.pk, status__in=LIVE_STATUSES, cancel_at_period_end=True,
                                           stripe_subscription_id__in=state.get("stripe_canceled") or []):
        _set_cancel_at_period_end(sub, False)


def account_billing_hold(ctx: PurgeContext) -> str | None:
    _stripe_cancel(ctx.user_id)
    return "stripe_cancel_pending" if _uncanceled(ctx.user_id).exists() else None


def account_billing_purge(ctx: PurgeContext) -> None:
    uid, placeholder = ctx.user_id, ctx.placeholder_id
    DailyUsage.objects.filter(user_id=uid).delete()
    for model in (CheckoutSession, Subscription, PlanChange, CreditEntry, CreditLot, StoreSubscription):
        model.objects.filter(user_id=uid).update(user_id=placeholder)
    # One row per user, keyed by it: the key moves (nothing points at these rows).
    for model in (BillingCustomer, CreditAccount, StoreAccountToken):
        model.objects.filter(user_id=uid).update(user_id=placeholder)
