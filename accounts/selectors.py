"""Functions that read accounts state."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from config.errors import NotFound

from .models import AccountDeletion, Block, Follow, HandleReservation, Market, User


def user_handle_taken(handle: str) -> bool:
    """Taken by an account, or reserved after a purged account had it."""
    return (User.objects.filter(handle__iexact=handle).exists()
            or HandleReservation.objects.filter(handle__iexact=handle, reserved_until__gt=timezone.now()).exists())


def user_pending_deletion(user: User) -> bool:
    """Its owner asked for its deletion and it is not purged yet (the grace period)."""
    return AccountDeletion.objects.filter(user_id=user.pk, purged_at__isnull=True).exists()


# --- blocks ---------------------------------------------------------------------------------------
# "Blocked either way": a block hides each of its two users from the other, whoever made it.
# BLOCK_SIDES is the rule's one definition: the two ways a Block row relates a user to another
# (the user's field, the other's field). The forms below are built from it, and so is the plain
# SQL of feed.selectors.viewer_context (through `block_columns`).
BLOCK_SIDES = (("blocker", "blocked"), ("blocked", "blocker"))


def users_blocked_between(a: User, b: User) -> bool:
    """True when either user blocked the other."""
    either = Q()
    for own, other in BLOCK_SIDES:
        either |= Q(**{own: a, other: b})
    return Block.objects.filter(either).exists()


def not_blocked_with(*, user: User | int, field: str = "pk") -> Q:
    """A condition on rows whose `field` is a user: not blocked either way with `user`. One
    NOT IN subquery per direction, so each stays a simple lookup for the planner."""
    condition = Q()
    for own, other in BLOCK_SIDES:
        condition &= ~Q(**{f"{field}__in": Block.objects.filter(**{own: user}).values(other)})
    return condition


def block_columns() -> list[tuple[str, str]]:
    """`BLOCK_SIDES` as columns of the Block table, for hand-written SQL: (the user's, the other's)."""
    return [(Block._meta.get_field(own).column, Block._meta.get_field(other).column) for own, other in BLOCK_SIDES]


def user_visible_by_handle(*, handle: str, viewer: User | None) -> User:
    """A profile as `viewer` may see it: hidden (404) from people its owner blocked."""
    qs = User.objects.filter(handle__iexact=handle, is_active=True)
    if viewer is not None and viewer.is_authenticated:
        qs = qs.exclude(blocks_made__blocked=viewer)
        qs = qs.annotate(
            viewer_follows=Exists(Follow.objects.filter(follower=viewer, followee=OuterRef("pk"))),
            viewer_blocked=Exists(Block.objects.filter(blocker=viewer, blocked=OuterRef("pk"))),
        )
    user = qs.first()
    if user is None:
        raise NotFound(_("No such user."), code="user_not_found")
    return user


def user_followers(*, user: User) -> QuerySet[Follow]:
    return Follow.objects.filter(followee=user, follower__is_active=True).select_related("follower")


def user_following(*, user: User) -> QuerySet[Follow]:
    return Follow.objects.filter(follower=user, followee__is_active=True).select_related("followee")


# --- push alerts ----------------------------------------------------------------------------------


def push_alerts_recent() -> list[dict]:
    """FCM auth/config failures of the last day, newest first, for the admin dashboard: one
    dict per code (see accounts.push.ALERT_CODES) with count, first_seen_at, last_seen_at
    (ISO 8601) and the last error's text. Empty when push works."""
    from .push import push_alerts_read  # push imports firebase-admin; only this selector needs it

    return push_alerts_read()


def market_for_country(country: str) -> Market | None:
    """The market a country belongs to (None: no market lists it). Markets are a few dozen
    rows, matched here rather than with JSON lookups (SQLite, the embedded default, has none)."""
    country = (country or "").upper()
    if not country:
        return None
    return next((m for m in Market.objects.all() if country in {c.upper() for c in m.countries}), None)


def user_time_zone(user: User):
    """The user's market's time zone (UTC without a market, or for a zone this host lacks)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    name = user.market.time_zone if getattr(user, "market_id", None) else "UTC"
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def user_local_date(user: User):
    """Today where the user is (their market's time zone)."""
    return timezone.now().astimezone(user_time_zone(user)).date()


# --- teen protections -----------------------------------------------------------------------------
# Age comes from `birth_year` alone (no month is asked), counted the way sign-up counts it
# (`_check_birth_year`): born in Y, `this_year - Y` years old from January 1st. A user who gave no
# birth year is treated as a teen: protections cost an adult little (they lift as soon as a birth
# year is given), where "unknown = adult" would open comments, mentions and cameos of an
# unidentified child to strangers. Nothing is stored: the protections lift by themselves the
# year the user reaches their market's `teen_age`.
DEFAULT_TEEN_AGE = 18


def user_teen_age(user: User) -> int:
    return user.market.teen_age if getattr(user, "market_id", None) else DEFAULT_TEEN_AGE


def user_is_teen(user: User) -> bool:
    """Whether teen protections apply to the user now (see above)."""
    if user.birth_year is None:
        return True
    return user_local_date(user).year - user.birth_year < user_teen_age(user)


def teens_q(*, field: str = "") -> Q:
    """`user_is_teen` as a condition on rows whose `field` is a user ("" for User rows), for
    querysets (the payout runs). Counts in the UTC year: a day off at New Year at most."""
    prefix = f"{field}__" if field else ""
    oldest_teen_year = Value(timezone.now().year) - Coalesce(F(f"{prefix}market__teen_age"), Value(DEFAULT_TEEN_AGE))
    return Q(**{f"{prefix}birth_year__isnull": True}) | Q(**{f"{prefix}birth_year__gt": oldest_teen_year})


def teen_shielded_from(*, user: User, actor: User) -> bool:
    """True when `user` is a teen and `actor` an adult the teen does not follow: such an actor
    may not comment on the teen's posts, mention them or put their cameo in a video."""
    if user.pk == actor.pk or not user_is_teen(user) or user_is_teen(actor):
        return False
    return not Follow.objects.filter(follower=user, followee=actor).exists()


def user_protections(user: User) -> dict:
    """What the app shows the user about their own protections (GET /me)."""
    teen = user_is_teen(user)
    return {
        "is_teen": teen,
        "public_posts_allowed": not teen or settings.TEEN_PUBLIC_POSTS_ALLOWED,
        "strangers_may_interact": not teen,
        "cash_payouts_available": not teen,
        "daily_feed_minutes": user_daily_feed_minutes(user),
    }


def user_daily_feed_minutes(user: User) -> int | None:
    """The user's daily feed time limit in minutes (None: no limit): their own choice, else
    TEEN_DAILY_FEED_MINUTES for a teen and none for an adult."""
    if user.daily_feed_minutes is not None:
        return user.daily_feed_minutes
    return settings.TEEN_DAILY_FEED_MINUTES if user_is_teen(user) else None
