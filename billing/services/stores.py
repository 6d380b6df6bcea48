"""App Store and Google Play subscriptions in the one entitlement model.

Each store module (`apple`, `google`) turns what its store signed into a `StoreState`
and calls `store_subscription_apply`, which:
- finds our user: the row's (once linked, a purchase stays with its user), else the
  account token we handed out (Apple appAccountToken, Google obfuscatedExternalAccountId),
  else the signed-in client who posted it; a purchase linked to someone else is refused
  (409 `purchase_linked_to_another_account`) and changes nothing;
- writes the state unless an older one (by the store's signing time) arrives after a newer;
- grants the period's plan credits once per store transaction (key `<store>:tx:<id>`); an
  upgrade inside a period tops the period up to the new plan's credits;
- claws back a refunded transaction's unspent credits.
Every call runs under the subscription row's lock, so copies of one purchase serialise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from config.errors import Conflict

from .. import selectors
from ..models import CreditKind, CreditLot, StoreAccountToken, StoreSubscription
from . import ledger

logger = logging.getLogger(__name__)


class PurchaseLinkedToAnotherAccount(Conflict):
    code = "purchase_linked_to_another_account"


@dataclass(frozen=True)
class StoreState:
    store: str
    store_key: str
    product_id: str
    status: str
    transaction_id: str
    expires_at: datetime | None
    state_at: datetime
    period_start: datetime | None = None
    grace_until: datetime | None = None
    auto_renew: bool = False
    renews_to_product_id: str = ""
    environment: str = ""
    account_token: str = ""
    # This transaction's period was paid (grant its credits) / refunded (claw them back).
    paid: bool = True
    refunded: bool = False
    acknowledged: bool = False
    # Another subscription this one replaced (Google's linkedPurchaseToken): its user carries over.
    linked_key: str = ""
    # Plan lots of this store expiring inside (top_up_after, expires_at] overlap this period
    # and count toward it (an upgrade's top-up); None: a new period, granted in full.
    top_up_after: datetime | None = None
    # Apple: a state is about one transaction, so a transaction ending earlier than the one held
    # (a late notification or a restore of an old period) never replaces it. Google: the
    # fetched state is always today's.
    by_period: bool = False


def _is_newer(sub: StoreSubscription, state: StoreState) -> bool:
    if sub.state_at is None:
        return True
    if state.by_period and sub.expires_at and state.expires_at:
        return (state.expires_at, state.state_at) >= (sub.expires_at, sub.state_at)
    return state.state_at >= sub.state_at


def store_account_token(*, user_id: int) -> str:
    """The token the app passes to the store at purchase (created on first use)."""
    try:
        with transaction.atomic():
            row, _ = StoreAccountToken.objects.get_or_create(user_id=user_id)
    except IntegrityError:
        row = StoreAccountToken.objects.get(user_id=user_id)
    return str(row.token)


def _token_user(token: str) -> int | None:
    if not token:
        return None
    try:
        return StoreAccountToken.objects.filter(token=token).values_list("user_id", flat=True).first()
    except ValidationError:  # not a UUID: not a token of ours
        return None


def _credit_key(state: StoreState) -> str:
    return f"{state.store}:tx:{state.transaction_id}"


def _grant(sub: StoreSubscription, state: StoreState) -> None:
    plan = sub.plan
    if plan is None or not state.paid or state.refunded or state.expires_at is None or not state.transaction_id:
        return
    if sub.status == StoreSubscription.Status.REVOKED and sub.latest_transaction_id == state.transaction_id:
        return  # refunded before its purchase was heard of: nothing to grant
    key = _credit_key(state)
    if CreditLot.objects.filter(user_id=sub.user_id, source=key).exists():
        return
    # An upgrade inside a running period: what this store's open plan lots already gave counts.
    granted = 0
    if state.top_up_after is not None:
        granted = (CreditLot.objects.filter(user_id=sub.user_id, kind=CreditKind.PLAN, closed_at__isnull=True,
                                            source__startswith=f"{state.store}:tx:",
                                            expires_at__gt=state.top_up_after,
                                            expires_at__lte=state.expires_at)
                   .aggregate(total=Sum("amount"))["total"] or 0)
    amount = plan.monthly_credits - granted
    if amount <= 0:
        return
    ledger.credits_grant(user_id=sub.user_id, amount=amount, kind=CreditKind.PLAN, expires_at=state.expires_at,
                         key=key, reference=key, reason=f"{plan.name} credits ({state.store} {state.transaction_id})")


def _clawback(sub: StoreSubscription, state: StoreState) -> None:
    key = _credit_key(state)
    ledger.credits_clawback(user_id=sub.user_id, source=key, refunded_fraction=(1, 1), key=f"clawback:{key}",
                            reason=f"Refund of {state.store} transaction {state.transaction_id}.")


def _locked_row(state: StoreState, user_id: int) -> StoreSubscription:
    now = timezone.now()
    try:
        with transaction.atomic():
            StoreSubscription.objects.get_or_create(
                store=state.store, store_key=state.store_key,
                defaults={"user_id": user_id, "status": state.status, "product_id": state.product_id,
                          "created_at": now})
    except IntegrityError:
        pass  # a concurrent copy created it
    return StoreSubscription.objects.select_for_update().get(store=state.store, store_key=state.store_key)


@transaction.atomic
def store_subscription_apply(*, state: StoreState, user_id: int | None = None) -> StoreSubscription | None:
    """Apply what a store said about one subscription. `user_id`: the signed-in client who
    posted it (None for a notification). Returns None when the purchase is no user's yet."""
    existing = (StoreSubscription.objects.filter(store=state.store, store_key=state.store_key)
                .values_list("user_id", flat=True).first())
    token_user = _token_user(state.account_token)
    linked = (StoreSubscription.objects.filter(store=state.store, store_key=state.linked_key)
              .values_list("user_id", flat=True).first() if state.linked_key else None)
    owner = existing or token_user or linked or user_id
    if owner is None:
        # Nobody to give it to yet: the app posts the purchase after buying, and that links it.
        logger.info("billing.store_purchase_unlinked", extra={"store": state.store, "key": state.store_key[:40],
                                                              "transaction": state.transaction_id})
        return None
    if user_id is not None and (owner != user_id or (token_user is not None and token_user != user_id)):
        logger.warning("billing.store_purchase_other_account",
                       extra={"store": state.store, "user_id": user_id, "owner": owner,
                              "transaction": state.transaction_id})
        raise PurchaseLinkedToAnotherAccount("This purchase belongs to another account.")
    sub = _locked_row(state, owner)
    if _is_newer(sub, state):
        sub.product_id = state.product_id
        sub.plan = selectors.plan_for_store_product(store=state.store, product_id=state.product_id)
        sub.status = state.status
        sub.latest_transaction_id = state.transaction_id
        sub.period_start = state.period_start
        sub.expires_at = state.expires_at
        sub.grace_until = state.grace_until
        sub.auto_renew = state.auto_renew
        sub.renews_to_product_id = state.renews_to_product_id
        sub.environment = state.environment
        sub.acknowledged = sub.acknowledged or state.acknowledged
        sub.state_at = state.state_at
        sub.synced_at = timezone.now()
        sub.save()
    else:
        logger.info("billing.store_state_stale", extra={"store": state.store, "subscription": sub.pk,
                                                        "transaction": state.transaction_id})
    # Credits follow the transaction the state is about, whatever order states arrive in.
    if state.refunded:
        _clawback(sub, state)
    else:
        sub_for_grant = sub if sub.latest_transaction_id == state.transaction_id else _with_plan(sub, state)
        _grant(sub_for_grant, state)
    logger.info("billing.store_subscription_synced", extra={"store": state.store, "subscription": sub.pk,
                                                            "user_id": sub.user_id, "status": sub.status,
                                                            "plan": sub.plan.code if sub.plan else None})
    return sub


def _with_plan(sub: StoreSubscription, state: StoreState) -> StoreSubscription:
    """The row as of an older transaction (its own plan), for that transaction's credits."""
    older = StoreSubscription(pk=sub.pk, user_id=sub.user_id, store=sub.store, store_key=sub.store_key)
    older.plan = selectors.plan_for_store_product(store=state.store, product_id=state.product_id)
    return older


def store_handler(source: str) -> Callable[[dict], object] | None:
    """The handler of a stored notification from `source` (billing.services.webhooks runs it)."""
    from . import apple, google  # they build on this module

    return {"apple": apple.apple_notification_handle, "google": google.google_notification_handle}.get(source)
