"""Reads of billing state: balances, prices, plans, subscriptions, entitlements."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext

from accounts.selectors import market_for_country

from .models import (
    BillingCustomer,
    CreditAccount,
    CreditEntry,
    CreditKind,
    CreditLot,
    CreditPack,
    PackPrice,
    Plan,
    PlanPrice,
    StoreProduct,
    StoreSubscription,
    StripeEvent,
    Subscription,
    WebhookAttempt,
)
from .localise import localised_text, price_display

# --- credits ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Balance:
    available: int
    reserved: int
    # Available credits per kind (plan, bonus, pack); they add up to `available`.
    by_kind: dict[str, int] = field(default_factory=dict)
    # Plan credits and when they expire, soonest first: [(amount, expires_at)].
    expiring: list[tuple[int, datetime]] = field(default_factory=list)


def credit_balance(*, user_id: int, now: datetime | None = None) -> Balance:
    """The balance as the ledger would settle it now, without writing anything: lots past
    their expiry are left out, and a user with no account yet has their sign-up grant.
    `billing.services.credits_expire_due` writes those down (the entries a ledger shows)."""
    now = now or timezone.now()
    by_kind = {kind: 0 for kind in CreditKind.values}
    account = CreditAccount.objects.filter(user_id=user_id).first()
    if account is None:
        # The ledger opens every account with the sign-up grant, a bonus lot that never expires.
        by_kind[CreditKind.BONUS] = settings.CREDITS_SIGNUP_GRANT
        return Balance(available=settings.CREDITS_SIGNUP_GRANT, reserved=0, by_kind=by_kind)
    open_lots = CreditLot.objects.filter(user_id=user_id, closed_at__isnull=True)
    expired = open_lots.filter(expires_at__lte=now).aggregate(total=Sum("remaining"))["total"] or 0
    spendable = open_lots.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now), remaining__gt=0)
    for row in spendable.values("kind").annotate(total=Sum("remaining")):
        by_kind[row["kind"]] = row["total"]
    expiring = [(lot.remaining, lot.expires_at) for lot in spendable.filter(expires_at__isnull=False)
                .order_by("expires_at", "id")]
    return Balance(available=account.available - expired, reserved=account.reserved, by_kind=by_kind,
                   expiring=expiring)


def credit_entries(*, user_id: int) -> QuerySet[CreditEntry]:
    return CreditEntry.objects.filter(user_id=user_id).prefetch_related("movements__lot")


def entry_by_kind(entry: CreditEntry) -> dict[str, int]:
    """How an entry changed each kind's available credits (from its movements)."""
    out: dict[str, int] = {}
    for movement in entry.movements.all():
        out[movement.lot.kind] = out.get(movement.lot.kind, 0) + movement.amount
    return out


# Credits per second of video by the short side of the frame.
_CREDITS_PER_SECOND = {480: 1, 720: 2, 1080: 4}


def generation_cost(*, kind: str, duration_seconds: int, width: int, height: int) -> int:
    short_side = min(width, height)
    rate = next((r for side, r in sorted(_CREDITS_PER_SECOND.items()) if short_side <= side), 8)
    return rate * duration_seconds


@dataclass(frozen=True)
class LocalizationPrice:
    """Credits of a localize job: `transcription` once (0 when subtitles came with the video), and
    `per_language` for each target (its subtitles, plus dub and burn-in when asked for)."""

    minutes: int
    transcription: int
    per_language: int
    languages: int

    @property
    def total(self) -> int:
        return self.transcription + self.per_language * self.languages


def localization_price(*, seconds: float, languages: int, dub: bool, burn_in: bool,
                       transcribe: bool) -> LocalizationPrice:
    """Per started minute of video, from settings.LOCALIZATION_CREDITS_PER_MINUTE."""
    table = settings.LOCALIZATION_CREDITS_PER_MINUTE
    minutes = max(1, math.ceil(seconds / 60))
    per_language = table["subtitles"] + (table["dub"] if dub else 0) + (table["burn_in"] if burn_in else 0)
    return LocalizationPrice(minutes=minutes, transcription=table["transcription"] * minutes if transcribe else 0,
                             per_language=per_language * minutes, languages=languages)


# --- catalogue and prices ---------------------------------------------------------------


def currency_for_user(*, user) -> str:
    """The currency a user pays in: the one their Stripe customer already uses (Stripe keeps
    one per customer), else their country's market, else the default (USD)."""
    customer = BillingCustomer.objects.filter(user_id=user.pk).first()
    if customer is not None and customer.currency:
        return customer.currency
    if user.market_id is not None:
        return user.market.currency
    return currency_for_country(user.country)


def currency_for_country(country: str) -> str:
    """The currency of the country's market, else BILLING_COUNTRY_CURRENCIES', else the default."""
    if (market := market_for_country(country)) is not None:
        return market.currency
    mapping = {k.upper(): v.lower() for k, v in settings.BILLING_COUNTRY_CURRENCIES.items()}
    return mapping.get((country or "").upper(), settings.BILLING_DEFAULT_CURRENCY)


def _pick(prices: list, currency: str, *, strict: bool):
    by_currency = {p.currency: p for p in prices}
    if currency in by_currency:
        return by_currency[currency]
    return None if strict else by_currency.get(settings.BILLING_DEFAULT_CURRENCY)


def plan_price(*, plan: Plan, currency: str, strict: bool = False) -> PlanPrice | None:
    """The plan's price in `currency`, else (unless strict) in the default currency."""
    return _pick(list(plan.prices.all()), currency, strict=strict)


def pack_price(*, pack: CreditPack, currency: str, strict: bool = False) -> PackPrice | None:
    return _pick(list(pack.prices.all()), currency, strict=strict)


def plans_on_sale() -> QuerySet[Plan]:
    return Plan.objects.filter(is_active=True).prefetch_related("prices")


def packs_on_sale() -> QuerySet[CreditPack]:
    return CreditPack.objects.filter(is_active=True).prefetch_related("prices")


def plan_for_store_product(*, store: str, product_id: str) -> Plan | None:
    """The plan an App Store / Google Play product id sells (StoreProduct, set in the admin)."""
    row = StoreProduct.objects.select_related("plan").filter(store=store, product_id=product_id).first()
    return row.plan if row else None


def plan_for_price(stripe_price_id: str) -> Plan | None:
    price = PlanPrice.objects.select_related("plan").filter(stripe_price_id=stripe_price_id).first()
    return price.plan if price else None


@dataclass(frozen=True)
class PlanLimits:
    """What a plan allows: the one definition of that shape, shown in the plans catalogue and
    in a user's entitlements (billing.serializers.PlanLimitsSerializer renders it)."""

    monthly_credits: int
    max_concurrent_jobs: int
    max_duration_seconds: int
    max_short_side: int
    queue_priority: int  # higher runs sooner, 0-9
    watermark: bool
    daily_generations: int  # generations a day; 0: no limit
    max_queued_jobs: int


def plan_limits(plan: Plan | None) -> PlanLimits:
    """A plan's limits. None is the free tier, which comes from settings (GENERATION_FREE_*),
    not from a Plan row."""
    if plan is None:
        return PlanLimits(monthly_credits=0, max_concurrent_jobs=settings.GENERATION_FREE_CONCURRENT_JOBS,
                          max_duration_seconds=settings.GENERATION_FREE_MAX_DURATION,
                          max_short_side=settings.GENERATION_FREE_MAX_SHORT_SIDE, queue_priority=0, watermark=True,
                          daily_generations=settings.GENERATION_FREE_DAILY_QUOTA,
                          max_queued_jobs=settings.GENERATION_FREE_MAX_QUEUED_JOBS)
    return PlanLimits(monthly_credits=plan.monthly_credits, max_concurrent_jobs=plan.max_concurrent_jobs,
                      max_duration_seconds=plan.max_duration_seconds, max_short_side=plan.max_short_side,
                      queue_priority=plan.queue_priority, watermark=not plan.removes_watermark,
                      daily_generations=plan.daily_generations, max_queued_jobs=plan.max_queued_jobs)


def _price_data(price: PlanPrice | PackPrice, **extra) -> dict:
    return {"currency": price.currency, "unit_amount": price.unit_amount,
            "display": price_display(price.unit_amount, price.currency), **extra}


def _texts(item) -> dict:
    name, description = localised_text(item)
    return {"name": name, "description": description}


def billing_market(*, user, country: str = ""):
    """The market whose billing rules apply (None: no market; billing everywhere, every store)."""
    if user is not None:
        return user.market if user.market_id is not None else market_for_country(user.country)
    return market_for_country(country)


def plan_catalogue(*, user, country: str = "") -> dict:
    """The plans on sale (the free tier first) and the credit packs, priced in the user's
    currency, or for a signed-out visitor (`user` None) in their `country`'s; with the
    user's current plan (None signed out). What has no price there is not sold there."""
    currency = currency_for_user(user=user) if user is not None else currency_for_country(country)
    market = billing_market(user=user, country=country)
    offered = market is None or market.billing_offered
    plans = [{"code": "free", "name": gettext("Free"), "description": gettext("Generate with the free tier's limits."),
              **asdict(plan_limits(None)), "price": None}]
    packs = []
    if offered:  # a market without billing shows the free tier only
        for plan in plans_on_sale().prefetch_related("texts"):
            price = plan_price(plan=plan, currency=currency)
            if price is not None:
                plans.append({"code": plan.code, **_texts(plan), **asdict(plan_limits(plan)),
                              "price": _price_data(price, interval="month")})
        for pack in packs_on_sale().prefetch_related("texts"):
            price = pack_price(pack=pack, currency=currency)
            if price is not None:
                packs.append({"code": pack.code, **_texts(pack), "credits": pack.credits,
                              "price": _price_data(price)})
    current = user_entitlements(user_id=user.pk).plan_code if user is not None else None
    stores = (list(market.stores) if market is not None else ["stripe", "app_store", "google_play"]) if offered else []
    return {"currency": currency, "current_plan": current, "billing_offered": offered, "stores": stores,
            "plans": plans, "packs": packs}


# --- subscriptions and entitlements -----------------------------------------------------

# Statuses in which a subscription still exists in Stripe and may bill again.
LIVE_STATUSES = (Subscription.Status.ACTIVE, Subscription.Status.TRIALING, Subscription.Status.PAST_DUE,
                 Subscription.Status.UNPAID, Subscription.Status.PAUSED)
PAID_STATUSES = (Subscription.Status.ACTIVE, Subscription.Status.TRIALING)


def current_subscription(*, user_id: int) -> Subscription | None:
    """The user's live subscription, else their latest one (ended, for history)."""
    subs = Subscription.objects.filter(user_id=user_id).select_related("plan", "paid_plan")
    return (subs.filter(status__in=LIVE_STATUSES).order_by("-created_at", "-id").first()
            or subs.order_by("-created_at", "-id").first())


@dataclass(frozen=True)
class ActiveSubscription:
    """One subscription that entitles the user now, in any store (two at once are shown)."""

    store: str  # stripe, apple or google
    subscription_id: str
    plan_code: str
    status: str
    valid_until: datetime | None


@dataclass(frozen=True)
class Entitlements(PlanLimits):
    """What a user may do now, and why (for staff and support)."""

    tier: str  # "free" or the plan's code
    plan_code: str = "free"
    plan_name: str = "Free"
    # "free", "subscription" or "grace"
    source: str = "free"
    reason: str = "No subscription."
    subscription_id: str = ""
    # Until when these hold without Stripe telling us more (period end, grace end); None for free.
    valid_until: datetime | None = None
    # Which store the winning subscription is in ("" when free).
    store: str = ""
    # Every subscription entitling the user now, best first (more than one: the user pays twice).
    active_subscriptions: tuple[ActiveSubscription, ...] = ()


def free_entitlements(reason: str, subscription_id: str = "") -> Entitlements:
    return Entitlements(**asdict(plan_limits(None)), tier="free", reason=reason, subscription_id=subscription_id)


def _paid(plan: Plan, *, source: str, reason: str, sub: Subscription, valid_until: datetime | None) -> Entitlements:
    return Entitlements(
        **asdict(plan_limits(plan)), tier=plan.code, plan_code=plan.code, plan_name=plan.name, source=source,
        reason=reason, subscription_id=sub.stripe_subscription_id, valid_until=valid_until, store="stripe",
    )


def _effective_plan(sub: Subscription, now: datetime) -> tuple[Plan | None, str]:
    """The subscribed plan, or the better plan last paid for while its period runs (a
    downgrade takes effect at the period end; an upgrade at once)."""
    plan = sub.plan
    paid = sub.paid_plan
    if paid is not None and sub.paid_through and sub.paid_through > now and (plan is None or paid.rank > plan.rank):
        return paid, f" Keeps {paid.code}, paid for until {sub.paid_through:%Y-%m-%d %H:%M} UTC."
    return plan, ""


def _fmt(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "an unknown date"


# Store subscription states that entitle, and what they are called as an entitlement source.
_STORE_ENTITLED = {StoreSubscription.Status.ACTIVE: "subscription", StoreSubscription.Status.CANCELED: "subscription",
                   StoreSubscription.Status.GRACE: "grace"}


def _store_entitlements(sub: StoreSubscription, now: datetime) -> Entitlements | None:
    """A store subscription's entitlement, or None: the store's own state decides (active,
    canceled but not yet expired, in the store's billing grace), never past its end."""
    source = _STORE_ENTITLED.get(sub.status)
    until = sub.grace_until if sub.status == StoreSubscription.Status.GRACE else sub.expires_at
    if source is None or sub.plan is None or until is None or until <= now:
        return None
    store = StoreSubscription._meta.get_field("store").choices
    label = dict(store).get(sub.store, sub.store)
    return Entitlements(
        **asdict(plan_limits(sub.plan)), tier=sub.plan.code, plan_code=sub.plan.code, plan_name=sub.plan.name,
        source=source, store=sub.store, subscription_id=sub.store_key[:100], valid_until=until,
        reason=f"{label} subscription on {sub.plan.code} is {sub.status} until {_fmt(until)}.",
    )


def user_entitlements(*, user_id: int, now: datetime | None = None) -> Entitlements:
    """What the user is entitled to now, from every store: the best active subscription wins
    (higher plan rank, then the later end); the others are listed beside it."""
    now = now or timezone.now()
    candidates: list[tuple[int, Entitlements]] = []
    stripe = _stripe_entitlements(user_id=user_id, now=now)
    if stripe.tier != "free":
        candidates.append((_plan_rank(stripe.plan_code), stripe))
    for sub in StoreSubscription.objects.filter(user_id=user_id).select_related("plan"):
        ent = _store_entitlements(sub, now)
        if ent is not None:
            candidates.append((sub.plan.rank, ent))
    if not candidates:
        return stripe
    far = datetime.max.replace(tzinfo=now.tzinfo)
    candidates.sort(key=lambda c: (c[0], c[1].valid_until or far), reverse=True)
    listed = tuple(ActiveSubscription(store=e.store, subscription_id=e.subscription_id, plan_code=e.plan_code,
                                      status=e.source, valid_until=e.valid_until) for _, e in candidates)
    best = candidates[0][1]
    if len(listed) > 1:
        others = ", ".join(f"{a.store} {a.plan_code}" for a in listed[1:])
        best = replace(best, reason=f"{best.reason} Also active: {others}.")
    return replace(best, active_subscriptions=listed)


def _plan_rank(code: str) -> int:
    return Plan.objects.filter(code=code).values_list("rank", flat=True).first() or 0


def _stripe_entitlements(*, user_id: int, now: datetime) -> Entitlements:
    """The entitlement of the user's Stripe subscription as Stripe last told us: paid while
    active or trialing, paid for BILLING_GRACE_DAYS after the period a failed payment was for
    began (past due), free otherwise."""
    sub = current_subscription(user_id=user_id)
    if sub is None:
        return free_entitlements("No subscription.")
    grace = timedelta(days=settings.BILLING_GRACE_DAYS)
    sid = sub.stripe_subscription_id
    plan, kept = _effective_plan(sub, now)
    if plan is None:
        return free_entitlements(f"Subscription {sid} is on price {sub.stripe_price_id}, which is no plan of ours.",
                                 sid)
    if sub.status in PAID_STATUSES:
        end = sub.current_period_end
        if end is not None and now > end + grace:
            # Stripe should have renewed or ended it long ago: our copy is stale, so do not
            # hand out paid limits on it (the next event or a replay refreshes it).
            return free_entitlements(f"Subscription {sid} is {sub.status} but its period ended {_fmt(end)} and "
                                     "nothing newer was heard from Stripe.", sid)
        what = "trial" if sub.status == Subscription.Status.TRIALING else "subscription"
        ending = (f" It cancels at the period end, {_fmt(end)}." if sub.cancel_at_period_end
                  else f" Renews {_fmt(end)}.")
        return _paid(plan, source="subscription", sub=sub, valid_until=end,
                     reason=f"Paid {what} {sid} on {plan.code} is {sub.status}.{ending}{kept}")
    if sub.status == Subscription.Status.PAST_DUE:
        # The failed payment is the renewal of the current period: grace counts from its start.
        started = sub.current_period_start or sub.synced_at
        grace_end = started + grace
        if now < grace_end:
            return _paid(plan, source="grace", sub=sub, valid_until=grace_end,
                         reason=f"Payment for subscription {sid} failed; {plan.code} is kept during the grace "
                                f"period until {_fmt(grace_end)}.{kept}")
        return free_entitlements(f"Payment for subscription {sid} failed and the grace period ended "
                                 f"{_fmt(grace_end)}.", sid)
    return free_entitlements(f"Subscription {sid} is {sub.status}.", sid)


# --- the admin dashboard --------------------------------------------------------------------


def failed_stripe_events() -> QuerySet[StripeEvent]:
    """Stored events whose processing failed (and was not replayed since)."""
    return StripeEvent.objects.filter(status=StripeEvent.Status.FAILED)


def failing_webhook_attempts(*, since: datetime) -> QuerySet[WebhookAttempt]:
    """Webhook requests answered 5xx since `since`: Stripe retries them, and keeps failing
    while the secret is missing or processing breaks."""
    return WebhookAttempt.objects.filter(received_at__gte=since, http_status__gte=500)
