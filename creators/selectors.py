"""Reads of the creator programme: markets and eligibility, localised campaign text,
eligible engagement (the anti-fraud counting), progress, earnings, leaderboards, burn-down."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, F, Max, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.selectors import market_for_country, not_blocked_with
from config.errors import NotFound
from feed.models import Like, Post, PostStatus, ShareClick

from .models import (
    TIER_RANK,
    Campaign,
    CampaignTask,
    CampaignText,
    CreatorProfile,
    Enrolment,
    Payout,
    Reward,
    Submission,
    TaskProgress,
    Tier,
)

# --- who the creator is: market, languages, tier ------------------------------------------


def base_language(tag: str) -> str:
    return (tag or "").replace("_", "-").split("-")[0].lower()


def creator_profile(*, user: User) -> CreatorProfile | None:
    """The user's profile while they are in the programme (opted in)."""
    return CreatorProfile.objects.filter(user=user, active=True).first()


@dataclass(frozen=True)
class Market:
    country: str
    languages: tuple[str, ...]  # base codes, most preferred first
    user: User | None = field(default=None, compare=False, repr=False)

    @property
    def market(self) -> str | None:
        """The code of the country's accounts.Market: the user's own when the country is theirs,
        else looked up once per user object (read only for campaigns that target markets)."""
        if self.user is None:
            found = market_for_country(self.country)
        elif self.user.market_id is not None and self.country == (self.user.country or "").upper():
            found = self.user.market
        else:
            cache = self.user.__dict__.setdefault("_markets_by_country", {})
            if self.country not in cache:
                cache[self.country] = market_for_country(self.country)
            found = cache[self.country]
        return found.code if found is not None else None


def market_of(*, user: User, profile: CreatorProfile | None) -> Market:
    """A creator's market is what they told the programme (the languages they make videos in);
    anyone else's is their account's country and app language."""
    country = (profile.country if profile is not None and profile.country else user.country).upper()
    declared = profile.languages if profile is not None and profile.languages else [user.locale]
    languages: list[str] = []
    for code in map(base_language, declared):
        if code and code not in languages:
            languages.append(code)
    return Market(country=country, languages=tuple(languages), user=user)


def tier_for_followers(followers: int) -> str:
    tier = Tier.STARTER
    for name in Tier.values:
        needed = settings.CREATORS_TIER_FOLLOWERS.get(name)
        if needed is not None and followers >= int(needed) and TIER_RANK[name] > TIER_RANK[tier]:
            tier = name
    return tier


def effective_tier(*, profile: CreatorProfile, user: User) -> str:
    if profile.tier_source == CreatorProfile.TierSource.STAFF:
        return profile.tier
    # Followers move every minute; the rules are read at the moment they matter.
    return tier_for_followers(user.followers_count)


# --- campaigns ------------------------------------------------------------------------------


def live_campaigns(*, now: datetime | None = None) -> QuerySet[Campaign]:
    now = now or timezone.now()
    return Campaign.objects.filter(status=Campaign.Status.ACTIVE, starts_at__lte=now, ends_at__gt=now)


def market_problem(*, campaign: Campaign, market: Market) -> str | None:
    targeted = {m.code for m in campaign.markets.all()}
    if targeted and market.market not in targeted:
        return "not_in_market"
    if not targeted and campaign.countries and market.country not in {c.upper() for c in campaign.countries}:
        return "not_in_market"
    if campaign.languages and not set(market.languages) & {base_language(c) for c in campaign.languages}:
        return "language_not_targeted"
    return None


def campaigns_for(*, user: User, now: datetime | None = None) -> list[Campaign]:
    """Live campaigns of the user's market (country) and languages, newest first. Live
    campaigns are a handful at a time, so the market is matched here rather than with JSON
    lookups (which SQLite, the embedded default, does not have)."""
    market = market_of(user=user, profile=creator_profile(user=user))
    live = live_campaigns(now=now).prefetch_related("texts", "tasks", "markets").order_by("-starts_at", "-id")
    return [campaign for campaign in live if market_problem(campaign=campaign, market=market) is None]


def campaign_visible(*, campaign_id: int) -> Campaign:
    """Any campaign staff have launched (a creator may follow a link to one outside their market)."""
    campaign = (Campaign.objects.exclude(status=Campaign.Status.DRAFT).filter(pk=campaign_id)
                .prefetch_related("texts", "tasks", "markets").first())
    if campaign is None:
        raise NotFound(_("No such campaign."), code="campaign_not_found")
    return campaign


def language_preferences(*, user: User, profile: CreatorProfile | None) -> list[str]:
    """The languages to show campaign text in, best first: the app's locale (regional variant,
    then base language), then the creator's other languages."""
    prefs: list[str] = []
    locale = (user.locale or "").replace("_", "-").lower()
    for code in (locale, base_language(locale), *market_of(user=user, profile=profile).languages):
        if code and code not in prefs:
            prefs.append(code)
    return prefs


def campaign_text(*, campaign: Campaign, preferences: list[str]) -> CampaignText | None:
    """The text in the first preferred language the campaign has, else its default language,
    else any (lowest language code, so the fallback is stable)."""
    texts = {text.language.lower(): text for text in campaign.texts.all()}
    for code in (*preferences, campaign.default_language.lower()):
        if code in texts:
            return texts[code]
    return texts[min(texts)] if texts else None


def eligibility_problem(*, campaign: Campaign, user: User, profile: CreatorProfile | None) -> str | None:
    """Why the user may not enrol, as a stable code; None when they may."""
    if profile is None:
        return "not_a_creator"
    problem = market_problem(campaign=campaign, market=market_of(user=user, profile=profile))
    if problem is not None:
        return problem
    if TIER_RANK[effective_tier(profile=profile, user=user)] < TIER_RANK[campaign.min_tier]:
        return "tier_too_low"
    if user.followers_count < campaign.min_followers:
        return "not_enough_followers"
    if campaign.is_cash and profile.payout_method != CreatorProfile.PayoutMethod.CASH:
        return "cash_payouts_not_chosen"
    return None


def enrolments_by_campaign(*, user: User, campaign_ids: list[int]) -> dict[int, Enrolment]:
    return {e.campaign_id: e for e in Enrolment.objects.filter(user=user, campaign_id__in=campaign_ids)}


# --- eligible engagement ------------------------------------------------------------------


def _eligible_users(creator_id: int) -> QuerySet[User]:
    return User.objects.filter(is_active=True).exclude(pk=creator_id).filter(not_blocked_with(user=creator_id))


def own_view_allowance(*, post: Post, until: datetime) -> int:
    """The most views the creator can have added to their own post: the feed counts one view
    per viewer, post and UTC day, so one per day since it was posted."""
    return max(0, (until.date() - post.created_at.date()).days + 1)


def eligible_count(*, post: Post, creator_id: int, kind: str, until: datetime) -> int:
    """Engagement on `post` up to `until` that counts toward a milestone.

    Likes and remixes are rows with an author: they count when that account is not the
    creator, is active, is not blocked either way with the creator, and was at least
    CREATORS_MIN_ACCOUNT_AGE_DAYS old when it engaged (so accounts made for the purpose
    count only once they are old, and their earlier engagement never does).
    Share clicks are distinct visitors of the creator's own tracking links of the post.
    Views are only a counter in the feed (no row per viewer), so they are the post's
    views_count less what the creator can have added themselves (one a day).
    """
    age = timedelta(days=settings.CREATORS_MIN_ACCOUNT_AGE_DAYS)
    if kind == CampaignTask.Kind.LIKES:
        return Like.objects.filter(
            post=post, created_at__lte=until, user__in=_eligible_users(creator_id),
            user__created_at__lte=F("created_at") - age,
        ).count()
    if kind == CampaignTask.Kind.REMIXES:
        return Post.objects.filter(
            parent=post, status=PostStatus.ACTIVE, created_at__lte=until, author__in=_eligible_users(creator_id),
            author__created_at__lte=F("created_at") - age,
        ).count()
    if kind == CampaignTask.Kind.SHARE_CLICKS:
        return (ShareClick.objects.filter(share__post=post, share__user_id=creator_id, created_at__lte=until)
                .values("visitor").distinct().count())
    if kind == CampaignTask.Kind.VIEWS:
        views = Post.objects.filter(pk=post.pk).values_list("views_count", flat=True).first() or 0
        return max(0, views - own_view_allowance(post=post, until=until))
    raise ValueError(f"not an engagement task: {kind!r}")


def task_deadline(*, task: CampaignTask, post: Post, campaign: Campaign) -> datetime:
    return min(post.created_at + timedelta(days=task.window_days or 0), campaign.ends_at)


# --- progress, earnings, leaderboard ---------------------------------------------------------


def submissions_of(*, user: User, campaign: Campaign) -> QuerySet[Submission]:
    return (Submission.objects.filter(user=user, campaign=campaign)
            .prefetch_related("progress", "rewards").order_by("-submitted_at", "-id"))


def task_states(*, user: User, campaign: Campaign) -> list[dict]:
    """Per task of the campaign: the best eligible count among the user's submissions, and
    the reward if the task paid."""
    tasks = list(campaign.tasks.all())
    rewards = {r.task_id: r for r in Reward.objects.filter(user=user, campaign=campaign)}
    best: dict[int, int] = {}
    for row in (TaskProgress.objects.filter(submission__user=user, submission__campaign=campaign)
                .values("task_id").annotate(best=Max("value"))):
        best[row["task_id"]] = row["best"]
    accepted = Submission.objects.filter(user=user, campaign=campaign, status=Submission.Status.ACCEPTED).exists()
    out = []
    for task in tasks:
        reward = rewards.get(task.pk)
        if task.kind == CampaignTask.Kind.PUBLISH:
            value = 1 if accepted or reward else 0
        else:
            value = best.get(task.pk, 0)
        state = "rewarded" if reward else ("in_progress" if value or accepted else "open")
        out.append({"task": task, "value": value, "state": state, "reward": reward})
    return out


def leaderboard(*, campaign: Campaign, viewer: User | None = None, limit: int = 50) -> list[Enrolment]:
    """Creators by what they earned here; ties go to whoever got there first."""
    qs = Enrolment.objects.filter(campaign=campaign, earned__gt=0, user__is_active=True).select_related("user")
    if viewer is not None:
        qs = qs.filter(not_blocked_with(user=viewer, field="user"))
    return list(qs.order_by("-earned", "last_reward_at", "id")[:limit])


def rewards_of(*, user: User) -> QuerySet[Reward]:
    return Reward.objects.filter(user=user).select_related("campaign", "task", "payout")


def payouts_of(*, user: User) -> QuerySet[Payout]:
    return Payout.objects.filter(user=user)


def earnings(*, user: User) -> dict:
    credits = Reward.objects.filter(user=user, kind=Campaign.BudgetKind.CREDITS).aggregate(
        total=Sum("amount"), count=Count("id"))
    cash: dict[str, dict[str, int]] = {}

    def bucket(currency: str) -> dict[str, int]:
        return cash.setdefault(currency, {"earned": 0, "paid": 0, "in_payout": 0, "balance": 0})

    rows = (Reward.objects.filter(user=user, kind=Campaign.BudgetKind.CASH)
            .values("currency", "payout__status").annotate(total=Sum("amount")))
    for row in rows:
        entry = bucket(row["currency"])
        entry["earned"] += row["total"]
        status = row["payout__status"]
        if status is None:
            entry["balance"] += row["total"]
        elif status == Payout.Status.PAID:
            entry["paid"] += row["total"]
        else:
            entry["in_payout"] += row["total"]
    return {
        "credits": {"earned": credits["total"] or 0, "rewards": credits["count"]},
        "cash": [{"currency": currency, **values} for currency, values in sorted(cash.items())],
    }


def budget_burn_down(*, campaign: Campaign) -> list[dict]:
    """Spend per day since launch, with what was left at the end of each day."""
    rows = (Reward.objects.filter(campaign=campaign).annotate(day=TruncDate("created_at"))
            .values("day").annotate(spent=Sum("amount"), rewards=Count("id")).order_by("day"))
    left = campaign.budget_total
    out: list[dict] = []
    for row in rows:
        left -= row["spent"]
        out.append({"day": row["day"], "spent": row["spent"], "rewards": row["rewards"], "remaining": left})
    return out


def review_queue() -> QuerySet[Submission]:
    return Submission.objects.filter(status__in=[Submission.Status.PENDING_REVIEW, Submission.Status.FLAGGED])


def manual_payouts_due() -> QuerySet:
    """(user_id, currency) of each unpaid cash balance whose creator cannot take a Connect
    transfer (no enabled account): what staff pay by hand."""
    return (Reward.objects.filter(kind=Campaign.BudgetKind.CASH, payout__isnull=True)
            .exclude(user__creator_profile__connect_status=CreatorProfile.ConnectStatus.ENABLED)
            .values_list("user_id", "currency").distinct())


# Currencies Stripe counts in whole units (no cents).
ZERO_DECIMAL_CURRENCIES = {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
                           "xaf", "xof", "xpf"}

PAYOUT_CSV_COLUMNS = ["payout_id", "reference", "user_id", "handle", "email", "country", "currency", "amount_minor",
                      "amount", "status", "created_at"]


def payouts_csv(*, payouts: list[Payout]) -> str:
    """Manual payouts for the finance team: one row each, the reference being the payout's
    idempotency key so a bank transfer can be matched back to exactly one payout."""
    users = {u.pk: u for u in User.objects.filter(pk__in={p.user_id for p in payouts})
             .select_related("creator_profile")}
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(PAYOUT_CSV_COLUMNS)
    for payout in payouts:
        user = users[payout.user_id]
        profile = getattr(user, "creator_profile", None)
        places = 0 if payout.currency in ZERO_DECIMAL_CURRENCIES else 2
        writer.writerow([
            payout.pk, payout.idempotency_key, user.pk, user.handle, user.email or "",
            (profile.country if profile is not None else "") or user.country, payout.currency, payout.amount,
            f"{payout.amount / 10 ** places:.{places}f}", payout.status, payout.created_at.isoformat(),
        ])
    return out.getvalue()


# --- the admin: campaign builder choices, dashboard -------------------------------------------

# A live campaign with at most this share (percent) of its budget left is "near budget".
NEAR_BUDGET_PERCENT = 10


def campaigns_near_budget() -> QuerySet[Campaign]:
    """Active campaigns with NEAR_BUDGET_PERCENT or less of their budget left."""
    return (Campaign.objects.filter(status=Campaign.Status.ACTIVE)
            .alias(left_scaled=F("budget_remaining") * 100, total_scaled=F("budget_total") * NEAR_BUDGET_PERCENT)
            .filter(left_scaled__lte=F("total_scaled")))


def market_country_codes() -> list[str]:
    """Countries a campaign can target: those with their own prices (BILLING_COUNTRY_CURRENCIES)
    and those users and creators declared."""
    codes = {c.upper() for c in settings.BILLING_COUNTRY_CURRENCIES}
    codes.update(User.objects.exclude(country="").values_list("country", flat=True).distinct())
    codes.update(CreatorProfile.objects.exclude(country="").values_list("country", flat=True).distinct())
    return sorted(c.upper() for c in codes if len(c) == 2)


def market_languages() -> list[tuple[str, str]]:
    """(base code, name) of the languages the app knows (settings.LANGUAGES), one per base code."""
    names: dict[str, str] = {}
    for code, name in settings.LANGUAGES:
        names.setdefault(base_language(code), str(name).split(" (")[0])
    return sorted(names.items(), key=lambda item: item[1])
