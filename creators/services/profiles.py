"""The creator profile: opting in and out, tiers, and the Stripe Connect account that
cash payouts go to."""

from __future__ import annotations

import logging
from datetime import datetime, timezone as dt_timezone
from typing import Any

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from billing.stripe_api import BillingUnavailable, require_stripe, stripe_client
from config.errors import ApplicationError, Forbidden

from .. import selectors
from ..models import CreatorProfile, Enrolment, Tier

logger = logging.getLogger(__name__)

PROFILE_FIELDS = ("country", "languages", "tiktok_handle", "instagram_handle", "youtube_handle", "payout_method")


def _require_profile(user: User) -> CreatorProfile:
    profile = selectors.creator_profile(user=user)
    if profile is None:
        raise Forbidden(_("Join the creator programme first."), code="not_a_creator")
    return profile


def _apply(profile: CreatorProfile, data: dict[str, Any]) -> None:
    for field in PROFILE_FIELDS:
        if field in data:
            setattr(profile, field, data[field])
    if profile.tier_source == CreatorProfile.TierSource.RULES:
        profile.tier = selectors.tier_for_followers(profile.user.followers_count)


@transaction.atomic
def creator_opt_in(*, user: User, data: dict[str, Any]) -> tuple[CreatorProfile, bool]:
    """Join the programme (or come back), with the profile fields given. Returns (profile, joined now)."""
    profile = CreatorProfile.objects.select_for_update().filter(user=user).first()
    joined = profile is None or not profile.active
    if profile is None:
        profile = CreatorProfile(user=user, country=user.country.upper(),
                                 languages=[code for code in [selectors.base_language(user.locale)] if code])
    if joined:
        profile.active = True
        profile.opted_in_at = timezone.now()
        profile.opted_out_at = None
    _apply(profile, data)
    try:
        with transaction.atomic():
            profile.save()
    except IntegrityError:  # two first opt-ins at once: the other one made the row
        profile = CreatorProfile.objects.select_for_update().get(user=user)
        _apply(profile, data)
        profile.save()
        joined = False
    if joined:
        logger.info("creators.opted_in", extra={"user_id": user.pk})
    return profile, joined


@transaction.atomic
def creator_profile_update(*, user: User, data: dict[str, Any]) -> CreatorProfile:
    profile = CreatorProfile.objects.select_for_update().filter(user=user, active=True).first()
    if profile is None:
        raise Forbidden(_("Join the creator programme first."), code="not_a_creator")
    _apply(profile, data)
    profile.save()
    return profile


@transaction.atomic
def creator_opt_out(*, user: User) -> None:
    """Leave the programme and every campaign. Earned rewards and the payout balance stay."""
    profile = CreatorProfile.objects.select_for_update().filter(user=user, active=True).first()
    if profile is None:
        return
    now = timezone.now()
    profile.active = False
    profile.opted_out_at = now
    profile.save(update_fields=["active", "opted_out_at", "updated_at"])
    Enrolment.objects.filter(user=user, status=Enrolment.Status.ENROLLED).update(
        status=Enrolment.Status.LEFT, left_at=now)
    logger.info("creators.opted_out", extra={"user_id": user.pk})


@transaction.atomic
def creator_tier_set(*, staff: User, user_id: int, tier: str | None) -> CreatorProfile:
    """Staff set a tier by hand; None hands the tier back to the rules (followers)."""
    if tier is not None and tier not in Tier.values:
        raise ApplicationError(_("Unknown tier %(tier)r.") % {"tier": tier}, code="tier_invalid")
    profile = CreatorProfile.objects.select_for_update().select_related("user").get(user_id=user_id)
    if tier is None:
        profile.tier_source = CreatorProfile.TierSource.RULES
        profile.tier = selectors.tier_for_followers(profile.user.followers_count)
    else:
        profile.tier_source = CreatorProfile.TierSource.STAFF
        profile.tier = tier
    profile.save(update_fields=["tier", "tier_source", "updated_at"])
    logger.info("creators.tier_set", extra={"user_id": user_id, "tier": profile.tier, "staff_id": staff.pk,
                                            "source": profile.tier_source})
    return profile


def creator_tiers_refresh() -> int:
    """Beat: store the rules' tier on rule-based profiles (the admin lists and filters by it;
    eligibility reads the rules live)."""
    changed = 0
    profiles = CreatorProfile.objects.filter(active=True, tier_source=CreatorProfile.TierSource.RULES)
    for user_id, tier, followers in profiles.values_list("user_id", "tier", "user__followers_count").iterator():
        wanted = selectors.tier_for_followers(followers)
        if wanted != tier:
            changed += CreatorProfile.objects.filter(user_id=user_id, tier_source=CreatorProfile.TierSource.RULES
                                                     ).update(tier=wanted)
    return changed


# --- Stripe Connect -----------------------------------------------------------------------------


def _connect_status(account: Any) -> str:
    capabilities = account.get("capabilities") or {}
    if account.get("payouts_enabled") and capabilities.get("transfers") == "active":
        return CreatorProfile.ConnectStatus.ENABLED
    if account.get("details_submitted"):
        return CreatorProfile.ConnectStatus.RESTRICTED
    return CreatorProfile.ConnectStatus.PENDING


def _stripe_call(action: str, user_id: int, call):
    try:
        return call()
    except stripe.StripeError as exc:
        logger.warning("creators.stripe_error", extra={"action": action, "user_id": user_id,
                                                       "error": type(exc).__name__, "code": exc.code})
        raise BillingUnavailable(_("Payouts are unavailable right now; try again in a moment.")) from exc


def creator_connect_onboard(*, user: User) -> dict[str, Any]:
    """An Express account for the creator (made once: the idempotency key is the user) and a
    fresh onboarding link to it. Stripe calls happen outside any transaction."""
    require_stripe()
    profile = _require_profile(user)
    client = stripe_client()
    if not profile.stripe_account_id:
        account = _stripe_call("account_create", user.pk, lambda: client.v1.accounts.create(
            params={"type": "express", "country": profile.country or user.country or "US",
                    "email": user.email or None, "capabilities": {"transfers": {"requested": True}},
                    "metadata": {"user_id": str(user.pk)}},
            options={"idempotency_key": f"creator-account-{user.pk}"}))
        CreatorProfile.objects.filter(user=user, stripe_account_id__isnull=True).update(
            stripe_account_id=account["id"], connect_status=_connect_status(account),
            connect_checked_at=timezone.now())
        profile.refresh_from_db()
    link = _stripe_call("account_link", user.pk, lambda: client.v1.account_links.create(params={
        "account": profile.stripe_account_id, "type": "account_onboarding",
        "refresh_url": settings.STRIPE_CONNECT_REFRESH_URL, "return_url": settings.STRIPE_CONNECT_RETURN_URL,
    }))
    logger.info("creators.connect_link", extra={"user_id": user.pk, "account": profile.stripe_account_id})
    return {"url": link["url"], "expires_at": datetime.fromtimestamp(link["expires_at"], tz=dt_timezone.utc),
            "connect_status": profile.connect_status}


def creator_connect_refresh(*, user_id: int) -> CreatorProfile:
    """Read the account's state from Stripe (Stripe is the truth; no webhook is needed)."""
    profile = CreatorProfile.objects.get(user_id=user_id)
    if not profile.stripe_account_id:
        return profile
    require_stripe()
    account = _stripe_call("account_retrieve", user_id,
                           lambda: stripe_client().v1.accounts.retrieve(profile.stripe_account_id))
    status = _connect_status(account)
    CreatorProfile.objects.filter(user_id=user_id).update(connect_status=status, connect_checked_at=timezone.now())
    profile.refresh_from_db()
    return profile
