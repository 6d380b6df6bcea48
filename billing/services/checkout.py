"""Purchases started by the user: Stripe customer, Checkout Sessions, plan changes, portal.

Every create call to Stripe carries an idempotency key derived from our own row
(the user for the customer, the CheckoutSession or PlanChange id otherwise), so a
retried request (by the library, or by us after a timeout) never makes a second
customer, session or subscription change.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from config.errors import ApplicationError, Conflict, Forbidden, NotFound

from .. import selectors
from ..models import BillingCustomer, CheckoutSession, CreditPack, Plan, PlanChange, Subscription
from ..stripe_api import BillingUnavailable, plain, stripe_client
from .subscriptions import subscription_apply

logger = logging.getLogger(__name__)


class PaymentFailed(ApplicationError):
    status_code = 402
    code = "payment_failed"


@contextlib.contextmanager
def stripe_errors() -> Iterator[None]:
    """Stripe's failures in our error shape: a declined card is the user's to fix (402),
    anything else is ours (502) and is logged."""
    try:
        yield
    except stripe.CardError as exc:
        raise PaymentFailed(exc.user_message or "Your card was declined.") from exc
    except stripe.StripeError as exc:
        logger.warning("billing.stripe_error", extra={"error": type(exc).__name__, "code": exc.code,
                                                      "http_status": exc.http_status})
        raise BillingUnavailable(_("Payments are unavailable right now; try again in a moment.")) from exc


def _ts(moment) -> int:
    return int(moment.timestamp())


# --- customer -----------------------------------------------------------------------------


def customer_ensure(*, user: User) -> BillingCustomer:
    """The user's Stripe customer, created once. Two concurrent first purchases send the
    same idempotency key, so Stripe answers both with one customer."""
    existing = BillingCustomer.objects.filter(user=user).first()
    if existing is not None:
        return existing
    with stripe_errors():
        customer = stripe_client().v1.customers.create(
            params={"email": user.email or "", "name": user.display_name or user.handle,
                    "metadata": {"user_id": str(user.pk), "handle": user.handle}},
            options={"idempotency_key": f"customer-{user.pk}"},
        )
    try:
        with transaction.atomic():
            return BillingCustomer.objects.create(user=user, stripe_customer_id=customer["id"])
    except IntegrityError:
        return BillingCustomer.objects.get(user=user)


# --- checkout -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckoutResult:
    """Either a Checkout Session to send the user to, or (for a subscriber changing plan)
    the subscription after the change."""

    checkout: CheckoutSession | None = None
    plan_change: PlanChange | None = None
    subscription: Subscription | None = None
    created: bool = True


def _live_subscription(user: User) -> Subscription | None:
    return (Subscription.objects.filter(user=user, status__in=selectors.LIVE_STATUSES)
            .select_related("plan", "paid_plan").order_by("-created_at").first())


def checkout_start(*, user: User, plan_code: str | None = None, pack_code: str | None = None,
                   idempotency_key: str | None = None) -> CheckoutResult:
    """Start buying a plan or a pack for `user` (always the signed-in user: nothing in
    the request can name another customer).

    A subscriber choosing another plan gets a subscription update, never a second
    subscription; one still owing a payment is sent to the portal first.
    """
    if (plan_code is None) == (pack_code is None):
        raise ApplicationError(_("Choose a plan or a pack."), code="plan_or_pack_required")
    market = selectors.billing_market(user=user)
    if market is not None and not market.billing_offered:
        raise Forbidden(_("Purchases are not offered in your country yet."), code="billing_not_offered")
    plan = pack = None
    if plan_code is not None:
        plan = Plan.objects.filter(code=plan_code, is_active=True).prefetch_related("prices").first()
        if plan is None:
            raise NotFound(_("No such plan."), code="plan_not_found")
    else:
        pack = CreditPack.objects.filter(code=pack_code, is_active=True).prefetch_related("prices").first()
        if pack is None:
            raise NotFound(_("No such pack."), code="pack_not_found")

    if (replayed := _replayed(user, idempotency_key, plan, pack)) is not None:
        return replayed

    if plan is not None:
        live = _live_subscription(user)
        if live is not None:
            if live.status in selectors.PAID_STATUSES:
                return plan_change(user=user, subscription=live, plan=plan)
            raise Conflict(_("Your subscription has an unpaid invoice: update your payment method in the billing "
                             "portal first."), code="subscription_payment_due")

    customer = customer_ensure(user=user)
    with transaction.atomic():
        # The customer row serialises this user's purchases (and the webhooks about them).
        customer = BillingCustomer.objects.select_for_update().get(pk=customer.pk)
        # Again under the lock: the same request sent twice at once waits here for the first.
        if (replayed := _replayed(user, idempotency_key, plan, pack)) is not None:
            return replayed
        currency = customer.currency or selectors.currency_for_user(user=user)
        strict = bool(customer.currency)
        price = (selectors.plan_price(plan=plan, currency=currency, strict=strict) if plan
                 else selectors.pack_price(pack=pack, currency=currency, strict=strict))
        if price is None:
            raise Conflict(_("This is not sold in your currency."), code="price_unavailable")
        if plan is not None:
            reused = _reuse_or_expire_open_plan_checkouts(user, price.stripe_price_id)
            if reused is not None:
                return CheckoutResult(checkout=reused, created=False)
        session = CheckoutSession.objects.create(
            user=user, kind=CheckoutSession.Kind.PLAN if plan else CheckoutSession.Kind.PACK, plan=plan, pack=pack,
            currency=price.currency, unit_amount=price.unit_amount, stripe_price_id=price.stripe_price_id,
            credits=pack.credits if pack else 0, idempotency_key=idempotency_key or None,
        )
        expires_at = timezone.now() + timedelta(minutes=settings.BILLING_CHECKOUT_EXPIRE_MINUTES)
        metadata = {"checkout_id": str(session.pk), "user_id": str(user.pk)}
        params: dict = {
            "mode": "subscription" if plan else "payment",
            "customer": customer.stripe_customer_id,
            "client_reference_id": str(session.pk),
            "line_items": [{"price": price.stripe_price_id, "quantity": 1}],
            "success_url": settings.BILLING_CHECKOUT_SUCCESS_URL,
            "cancel_url": settings.BILLING_CHECKOUT_CANCEL_URL,
            "expires_at": _ts(expires_at),
            "metadata": metadata,
        }
        if plan:
            params["subscription_data"] = {"metadata": {**metadata, "plan": plan.code}}
        else:
            params["payment_intent_data"] = {"metadata": {**metadata, "pack": pack.code}}
        with stripe_errors():
            created = stripe_client().v1.checkout.sessions.create(
                params=params, options={"idempotency_key": f"checkout-{session.pk}"})
        session.stripe_session_id = created["id"]
        session.url = created["url"] or ""
        session.expires_at = expires_at
        session.save(update_fields=["stripe_session_id", "url", "expires_at"])
    logger.info("billing.checkout_started", extra={"user_id": user.pk, "checkout_id": str(session.pk),
                                                   "kind": session.kind, "price": session.stripe_price_id})
    return CheckoutResult(checkout=session)


def _replayed(user: User, key: str | None, plan: Plan | None, pack: CreditPack | None) -> CheckoutResult | None:
    """The checkout a request with this Idempotency-Key already made, if any."""
    if not key:
        return None
    previous = CheckoutSession.objects.filter(user=user, idempotency_key=key).first()
    if previous is None:
        return None
    if previous.plan_id != (plan.pk if plan else None) or previous.pack_id != (pack.pk if pack else None):
        raise Conflict(_("This Idempotency-Key was used for a different purchase."), code="idempotency_key_reused")
    return CheckoutResult(checkout=previous, created=False)


def _reuse_or_expire_open_plan_checkouts(user: User, price_id: str) -> CheckoutSession | None:
    """At most one open subscription checkout per user, so two tabs cannot both end in a
    subscription: the same price gets the open session back, another price expires it."""
    soon = timezone.now() + timedelta(minutes=5)
    for open_session in CheckoutSession.objects.filter(user=user, kind=CheckoutSession.Kind.PLAN,
                                                       status=CheckoutSession.Status.OPEN):
        if open_session.stripe_price_id == price_id and open_session.expires_at and open_session.expires_at > soon:
            return open_session
        if open_session.stripe_session_id:
            with stripe_errors():
                remote = stripe_client().v1.checkout.sessions.retrieve(open_session.stripe_session_id)
                if remote["status"] == "open":
                    remote = stripe_client().v1.checkout.sessions.expire(open_session.stripe_session_id)
            if remote["status"] == "complete":
                raise Conflict(_("A purchase of yours is being completed; try again in a moment."),
                               code="checkout_in_progress")
        open_session.status = CheckoutSession.Status.EXPIRED
        open_session.save(update_fields=["status"])
    return None


# --- plan change for a subscriber ------------------------------------------------------


def plan_change(*, user: User, subscription: Subscription, plan: Plan) -> CheckoutResult:
    """Move a paying subscriber to another plan, in place.

    Upgrade: at once, the prorated difference invoiced and charged now
    (`error_if_incomplete`: a declined card leaves the old plan and answers 402); the
    paid invoice tops the period's credits up to the new plan's. Downgrade: the price
    changes with no proration, the next renewal bills the lower price, and the user
    keeps the plan they paid for until the period ends.
    """
    current = subscription.plan
    if current is not None and current.pk == plan.pk:
        raise Conflict(_("You are already on %(plan)s.") % {"plan": plan.name}, code="already_subscribed")
    price = selectors.plan_price(plan=plan, currency=subscription.currency, strict=True)
    if price is None:
        raise Conflict(_("This plan is not sold in your subscription's currency."), code="price_unavailable")
    upgrade = current is None or plan.rank > current.rank
    change = PlanChange.objects.create(
        user=user, stripe_subscription_id=subscription.stripe_subscription_id, from_plan=current, to_plan=plan,
        direction=PlanChange.Direction.UPGRADE if upgrade else PlanChange.Direction.DOWNGRADE,
        stripe_price_id=price.stripe_price_id,
    )
    client = stripe_client()
    try:
        with stripe_errors():
            remote = client.v1.subscriptions.retrieve(subscription.stripe_subscription_id)
            item = remote["items"]["data"][0]
            params: dict = {
                "items": [{"id": item["id"], "price": price.stripe_price_id}],
                # Choosing a plan means staying: a cancellation scheduled earlier is undone.
                "cancel_at_period_end": False,
                "metadata": {"plan": plan.code, "plan_change_id": str(change.pk)},
            }
            if upgrade:
                params.update(proration_behavior="always_invoice", payment_behavior="error_if_incomplete")
            else:
                params.update(proration_behavior="none")
            updated = client.v1.subscriptions.update(subscription.stripe_subscription_id, params=params,
                                                     options={"idempotency_key": f"plan-change-{change.pk}"})
    except ApplicationError as exc:
        change.status = PlanChange.Status.FAILED
        change.error = exc.message[:300]
        change.save(update_fields=["status", "error"])
        raise
    with transaction.atomic():
        customer = BillingCustomer.objects.select_for_update().get(user=user)
        synced = subscription_apply(plain(updated), customer=customer)
        change.status = PlanChange.Status.DONE
        change.save(update_fields=["status"])
    logger.info("billing.plan_changed", extra={"user_id": user.pk, "subscription": subscription.stripe_subscription_id,
                                               "from": current.code if current else None, "to": plan.code,
                                               "direction": change.direction})
    return CheckoutResult(plan_change=change, subscription=synced)


# --- portal -------------------------------------------------------------------------------


def portal_session_create(*, user: User) -> str:
    """A Stripe customer portal URL (payment method, invoices, plan changes, cancel)."""
    customer = BillingCustomer.objects.filter(user=user).first()
    if customer is None:
        raise Conflict(_("You have not bought anything yet."), code="no_billing_account")
    with stripe_errors():
        # Each portal visit is its own session; the key still makes the library's retries
        # of this very request return the one session.
        session = stripe_client().v1.billing_portal.sessions.create(
            params={"customer": customer.stripe_customer_id, "return_url": settings.BILLING_PORTAL_RETURN_URL},
            options={"idempotency_key": f"portal-{customer.stripe_customer_id}-{uuid.uuid4()}"},
        )
    return session["url"]
