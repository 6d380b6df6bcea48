"""State from Stripe: subscriptions, paid invoices, completed checkouts, refunds.

Called by the webhook handlers (and by plan changes). Subscription state is always
the subscription object fetched from Stripe at processing time, never the event's
snapshot: events arrive late, twice and out of order, and the fetched object is the
truth whatever the order. Each function runs under the user's BillingCustomer row
lock, so two events about one user never interleave their writes.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from .. import selectors
from ..models import BillingCustomer, CheckoutSession, CreditEntry, CreditKind, CreditLot, Plan, Subscription
from ..stripe_api import plain, stripe_client
from . import ledger

logger = logging.getLogger(__name__)

# Invoices that start or renew a period grant the plan's monthly credits.
_PERIOD_REASONS = {"subscription_create", "subscription_cycle"}


def _dt(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), tz=UTC) if value else None


def _locked_customer(**lookup: Any) -> BillingCustomer | None:
    return BillingCustomer.objects.select_for_update().filter(**lookup).first()


def subscription_apply(remote: dict, *, customer: BillingCustomer) -> Subscription | None:
    """Write a Stripe subscription object onto our mirror row (caller holds the customer lock)."""
    if remote.get("customer") != customer.stripe_customer_id:
        logger.warning("billing.subscription_customer_mismatch",
                       extra={"subscription": remote.get("id"), "customer": remote.get("customer"),
                              "expected": customer.stripe_customer_id})
        return None
    items = (remote.get("items") or {}).get("data") or []
    item = items[0] if items else {}
    price = item.get("price") or {}
    now = timezone.now()
    fields = {
        "user_id": customer.user_id,
        "stripe_customer_id": customer.stripe_customer_id,
        "stripe_price_id": price.get("id", ""),
        "plan": selectors.plan_for_price(price.get("id", "")),
        "currency": price.get("currency", "") or remote.get("currency", ""),
        "status": remote["status"],
        # Since API version 2025-03-31 the period lives on the item; older versions had it on the subscription.
        "current_period_start": _dt(item.get("current_period_start") or remote.get("current_period_start")),
        "current_period_end": _dt(item.get("current_period_end") or remote.get("current_period_end")),
        "cancel_at_period_end": bool(remote.get("cancel_at_period_end")),
        "cancel_at": _dt(remote.get("cancel_at")),
        "canceled_at": _dt(remote.get("canceled_at")),
        "ended_at": _dt(remote.get("ended_at")),
        "trial_end": _dt(remote.get("trial_end")),
        "synced_at": now,
    }
    sub, created = Subscription.objects.update_or_create(
        stripe_subscription_id=remote["id"], defaults=fields,
        create_defaults={**fields, "created_at": _dt(remote.get("created")) or now},
    )
    if not customer.currency and sub.currency:
        customer.currency = sub.currency
        customer.save(update_fields=["currency"])
    logger.info("billing.subscription_synced", extra={"user_id": customer.user_id, "subscription": sub.pk,
                                                      "status": sub.status, "new": created,
                                                      "plan": sub.plan.code if sub.plan else None})
    return sub


@transaction.atomic
def subscription_sync(*, stripe_subscription_id: str, stripe_customer_id: str) -> Subscription | None:
    """Fetch the subscription from Stripe and mirror it. Unknown customers are not ours: ignored."""
    customer = _locked_customer(stripe_customer_id=stripe_customer_id)
    if customer is None:
        logger.warning("billing.unknown_customer", extra={"customer": stripe_customer_id,
                                                          "subscription": stripe_subscription_id})
        return None
    remote = plain(stripe_client().v1.subscriptions.retrieve(stripe_subscription_id))
    return subscription_apply(remote, customer=customer)


def _invoice_subscription_id(invoice: dict) -> str:
    details = ((invoice.get("parent") or {}).get("subscription_details") or {})
    sub = details.get("subscription") or invoice.get("subscription") or ""
    return sub if isinstance(sub, str) else sub.get("id", "")


def _invoice_plan(invoice: dict) -> tuple[Plan | None, datetime | None]:
    """The plan an invoice paid for and the end of the period it covers: its non-negative
    line on one of our plans' prices with the latest period (a proration invoice also has
    a negative line for the unused time on the old plan)."""
    best: tuple | None = None
    for line in (invoice.get("lines") or {}).get("data") or []:
        price_details = ((line.get("pricing") or {}).get("price_details") or {})
        price_id = price_details.get("price") or (line.get("price") or {}).get("id") or ""
        plan = selectors.plan_for_price(price_id)
        if plan is None or (line.get("amount") or 0) < 0:
            continue
        end = (line.get("period") or {}).get("end") or 0
        if best is None or (end, plan.rank) > best[:2]:
            best = (end, plan.rank, plan)
    if best is None:
        return None, None
    return best[2], _dt(best[0])


@transaction.atomic
def invoice_paid(*, invoice: dict) -> CreditEntry | None:
    """A subscription invoice was paid: mirror the subscription, remember the plan paid for,
    and grant the period's plan credits once per invoice (key `invoice:<id>`)."""
    customer = _locked_customer(stripe_customer_id=invoice.get("customer") or "")
    sub_id = _invoice_subscription_id(invoice)
    if customer is None or not sub_id:
        logger.info("billing.invoice_ignored", extra={"invoice": invoice.get("id"), "subscription": sub_id,
                                                      "known_customer": customer is not None})
        return None
    sub = subscription_sync(stripe_subscription_id=sub_id, stripe_customer_id=customer.stripe_customer_id)
    plan, period_end = _invoice_plan(invoice)
    if sub is None or plan is None or period_end is None:
        logger.warning("billing.invoice_without_plan", extra={"invoice": invoice.get("id"), "subscription": sub_id})
        return None
    if sub.paid_through is None or (period_end, plan.rank) > (sub.paid_through, sub.paid_plan.rank
                                                              if sub.paid_plan else -1):
        sub.paid_plan, sub.paid_through = plan, period_end
        sub.save(update_fields=["paid_plan", "paid_through"])

    key = f"invoice:{invoice['id']}"
    existing = CreditEntry.objects.filter(idempotency_key=key).first()
    if existing is not None:
        return existing
    reason = invoice.get("billing_reason")
    if reason in _PERIOD_REASONS:
        amount = plan.monthly_credits
    elif reason == "subscription_update":
        # An upgrade mid-period: top the period's plan credits up to the new plan's allowance.
        granted = (CreditLot.objects.filter(user_id=customer.user_id, kind=CreditKind.PLAN, expires_at=period_end)
                   .aggregate(total=Sum("amount"))["total"] or 0)
        amount = plan.monthly_credits - granted
    else:
        amount = 0
    if amount <= 0:
        return None
    return ledger.credits_grant(user_id=customer.user_id, amount=amount, kind=CreditKind.PLAN, expires_at=period_end,
                                key=key, reference=key, reason=f"{plan.name} credits ({reason})")


def _checkout_row(session: dict) -> CheckoutSession | None:
    try:
        checkout_id = uuid.UUID(str(session.get("client_reference_id") or ""))
    except ValueError:
        return None
    return (CheckoutSession.objects.select_related("user", "pack", "plan")
            .filter(pk=checkout_id, stripe_session_id=session.get("id")).first())


@transaction.atomic
def checkout_completed(*, session: dict) -> CheckoutSession | None:
    """A Checkout Session finished: a subscription to mirror, or a pack whose credits to grant
    (once per session, key `pack:<checkout id>`). The user is our row's, never the payload's."""
    ours = _checkout_row(session)
    if ours is None:
        logger.warning("billing.checkout_unknown", extra={"session": session.get("id")})
        return None
    customer = _locked_customer(user_id=ours.user_id)
    if customer is None or session.get("customer") != customer.stripe_customer_id:
        # Our session, but paid by another customer: grant nothing to anyone.
        logger.warning("billing.checkout_customer_mismatch",
                       extra={"session": session.get("id"), "customer": session.get("customer"),
                              "checkout_id": str(ours.pk)})
        return None
    ours = CheckoutSession.objects.select_for_update(of=("self",)).select_related("pack").get(pk=ours.pk)
    if ours.status != CheckoutSession.Status.COMPLETE:
        ours.status = CheckoutSession.Status.COMPLETE
        ours.completed_at = timezone.now()
    if ours.kind == CheckoutSession.Kind.PLAN:
        ours.stripe_subscription_id = session.get("subscription") or ours.stripe_subscription_id
        ours.save(update_fields=["status", "completed_at", "stripe_subscription_id"])
        if ours.stripe_subscription_id:
            subscription_sync(stripe_subscription_id=ours.stripe_subscription_id,
                              stripe_customer_id=customer.stripe_customer_id)
    else:
        ours.stripe_payment_intent_id = session.get("payment_intent") or ours.stripe_payment_intent_id
        ours.save(update_fields=["status", "completed_at", "stripe_payment_intent_id"])
        # Delayed payment methods complete unpaid; checkout.session.async_payment_succeeded follows.
        if session.get("payment_status") == "paid":
            ledger.credits_grant(user_id=ours.user_id, amount=ours.credits, kind=CreditKind.PACK,
                                 key=f"pack:{ours.pk}", reference=f"pack:{ours.pk}",
                                 reason=f"Credit pack {ours.pack.code}")
    if not customer.currency:
        customer.currency = ours.currency
        customer.save(update_fields=["currency"])
    return ours


@transaction.atomic
def checkout_expired(*, session: dict) -> CheckoutSession | None:
    """An abandoned Checkout Session expired: it can no longer complete."""
    ours = _checkout_row(session)
    if ours is None or ours.status != CheckoutSession.Status.OPEN:
        return None
    CheckoutSession.objects.filter(pk=ours.pk, status=CheckoutSession.Status.OPEN).update(
        status=CheckoutSession.Status.EXPIRED)
    return ours


@transaction.atomic
def charge_refunded(*, charge_id: str) -> CreditEntry | None:
    """A charge was refunded (fully or partly). For a pack, claw back the refunded share of
    its credits, only what is still unspent. Amounts come from the charge fetched now."""
    client = stripe_client()
    charge = plain(client.v1.charges.retrieve(charge_id))
    intent = charge.get("payment_intent") or ""
    if not intent:
        return None
    ours = CheckoutSession.objects.filter(kind=CheckoutSession.Kind.PACK, stripe_payment_intent_id=intent).first()
    if ours is None:
        paid = plain(client.v1.invoice_payments.list(params={"payment": {"type": "payment_intent",
                                                                          "payment_intent": intent}, "limit": 1}))
        if paid["data"]:
            return _invoice_refunded(charge, invoice_id=paid["data"][0]["invoice"])
        # The refund may be processed before the purchase's own event: complete it from Stripe first.
        for session in plain(client.v1.checkout.sessions.list(params={"payment_intent": intent, "limit": 1}))["data"]:
            checkout_completed(session=session)
        ours = CheckoutSession.objects.filter(kind=CheckoutSession.Kind.PACK, stripe_payment_intent_id=intent).first()
    if ours is None:
        logger.info("billing.refund_not_a_pack", extra={"charge": charge_id, "payment_intent": intent})
        return None
    customer = _locked_customer(user_id=ours.user_id)
    if customer is None or charge.get("customer") != customer.stripe_customer_id:
        logger.warning("billing.refund_customer_mismatch", extra={"charge": charge_id, "checkout_id": str(ours.pk)})
        return None
    refunded = int(charge.get("amount_refunded") or 0)
    if not refunded:
        return None
    return ledger.credits_clawback(
        user_id=ours.user_id, source=f"pack:{ours.pk}", refunded_fraction=(refunded, int(charge["amount"])),
        key=f"clawback:{charge['id']}:{refunded}",
        reason=f"Refund of credit pack {ours.pack.code if ours.pack else ''} (charge {charge['id']}).",
    )


def _invoice_refunded(charge: dict, *, invoice_id: str) -> CreditEntry | None:
    """A subscription invoice's charge was refunded: claw back the refunded share of that
    period's plan credits (lot `invoice:<id>`), only what is still unspent."""
    customer = _locked_customer(stripe_customer_id=charge.get("customer") or "")
    refunded = int(charge.get("amount_refunded") or 0)
    if customer is None or not refunded:
        logger.info("billing.invoice_refund_ignored", extra={"charge": charge["id"], "invoice": invoice_id})
        return None
    return ledger.credits_clawback(
        user_id=customer.user_id, source=f"invoice:{invoice_id}", refunded_fraction=(refunded, int(charge["amount"])),
        key=f"clawback:{charge['id']}:{refunded}", reason=f"Refund of invoice {invoice_id} (charge {charge['id']}).",
    )
