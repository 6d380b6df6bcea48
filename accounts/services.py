"""Functions that change accounts state. Each owns its transaction."""

from __future__ import annotations

import logging
import secrets
import re
from datetime import date
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate, password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from config.errors import ApplicationError, Conflict, Forbidden

from .firebase import FirebaseIdentity, firebase_verify_id_token
from .lockout import account_locked, lockout_clear, lockout_username
from .cameos.services import cameos_relation_changed
from .models import AccountDeletion, AuthSession, Block, Device, Follow, Market, User
from .notifications import notification_retract, notifications_from_actor_delete, notify
from .realtime import user_sessions_ended_now
from .selectors import (
    market_for_country,
    user_handle_taken,
    user_is_teen,
    user_local_date,
    user_pending_deletion,
    user_teen_age,
    users_blocked_between,
)
from .tokens import access_for, token_pair

logger = logging.getLogger(__name__)


class InvalidCredentials(ApplicationError):
    status_code = 401
    code = "invalid_credentials"


class AccountPendingDeletion(ApplicationError):
    status_code = 403
    code = "account_pending_deletion"


def _pending_deletion_error() -> AccountPendingDeletion:
    return AccountPendingDeletion(_("This account is being deleted. You can still cancel the deletion."))


class TokenInvalid(ApplicationError):
    status_code = 401
    code = "token_invalid"


def _field_error(field: str, code: str, message: str) -> ApplicationError:
    return ApplicationError(message, code="validation_error", fields={field: [{"code": code, "message": message}]})


def _check_birth_year(birth_year: int | None, *, market: Market | None = None) -> None:
    """The youngest age allowed is the market's (ACCOUNTS_MIN_AGE without a market)."""
    if birth_year is None:
        return
    min_age = market.min_signup_age if market is not None else settings.ACCOUNTS_MIN_AGE
    this_year = date.today().year
    if birth_year < 1900 or birth_year > this_year:
        raise _field_error("birth_year", "birth_year_invalid", _("Enter a real birth year."))
    # Born in birth_year means at most this_year - birth_year years old today.
    if this_year - birth_year < min_age:
        raise ApplicationError(
            _("You must be at least %(age)d to use this app.") % {"age": min_age}, code="age_restricted",
            status_code=403,
        )


def _validate_password(password: str, *, user: User, field: str) -> None:
    try:
        password_validation.validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise ApplicationError(
            exc.messages[0],
            code="validation_error",
            fields={field: [{"code": e.code or "password_invalid", "message": m}
                            for e, m in zip(exc.error_list, exc.messages)]},
        ) from exc


@transaction.atomic
def tokens_for_user(user: User) -> dict[str, str]:
    """Sign in: a new session (refresh token family) and its first token pair."""
    version = User.objects.values_list("session_version", flat=True).get(pk=user.pk)
    session = AuthSession(user_id=user.pk)
    refresh = token_pair(user_id=user.pk, session_id=str(session.pk), version=version)
    session.refresh_jti = refresh["jti"]
    session.save(force_insert=True)
    return {"access": access_for(refresh), "refresh": str(refresh)}


def sessions_end(*, user_id: int, reason: str, session_ids: list[str] | None) -> None:
    """End these sessions of the user (all of them for None), in the caller's transaction.

    Their refresh tokens are blacklisted, the devices they registered stop getting the
    user's pushes, the version bump kills every access token issued so far (the user's
    other devices refresh once), and their open sockets are closed after commit.
    """
    now = timezone.now()
    sessions = AuthSession.objects.filter(user_id=user_id, ended_at__isnull=True)
    outstanding = OutstandingToken.objects.filter(user_id=user_id, expires_at__gt=now, blacklistedtoken__isnull=True)
    devices = Device.objects.filter(user_id=user_id)
    if session_ids is not None:
        sessions = sessions.filter(pk__in=session_ids)
        outstanding = outstanding.filter(jti__in=AuthSession.objects.filter(pk__in=session_ids).values("refresh_jti"))
        devices = devices.filter(session_id__in=session_ids)
    BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token_id=pk) for pk in outstanding.values_list("pk", flat=True)], ignore_conflicts=True)
    ended = sessions.update(ended_at=now, end_reason=reason)
    devices.delete()
    User.objects.filter(pk=user_id).update(session_version=F("session_version") + 1)
    if session_ids != []:
        transaction.on_commit(lambda: user_sessions_ended_now(user_id, session_ids))
    logger.info("accounts.sessions_ended", extra={"user_id": user_id, "reason": reason, "sessions": ended})


@transaction.atomic
def user_signup(
    *,
    email: str,
    password: str,
    handle: str,
    display_name: str = "",
    birth_year: int | None = None,
    locale: str = "",
    country: str = "",
) -> User:
    email = User.objects.normalize_email(email).lower()
    market = market_for_country(country)  # the client's country hint; the user may change it
    _check_birth_year(birth_year, market=market)
    if User.objects.filter(email__iexact=email).exists():
        raise _field_error("email", "email_taken", _("An account with this email already exists."))
    if user_handle_taken(handle):
        raise _field_error("handle", "handle_taken", _("This handle is taken."))
    _validate_password(password, user=User(email=email, handle=handle, display_name=display_name), field="password")
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                email=email, password=password, handle=handle, display_name=display_name or handle,
                birth_year=birth_year, locale=locale, country=country.upper(), market=market,
            )
    except IntegrityError as exc:  # lost a race with a concurrent sign-up
        raise _field_error("handle", "handle_taken", _("This handle or email is taken.")) from exc
    logger.info("accounts.signup", extra={"user_id": user.pk, "method": "password"})
    return user


def user_authenticate(*, request: HttpRequest, email: str, password: str) -> User:
    """A password sign-in, through django.contrib.auth.authenticate: django-axes counts the
    failures per account and refuses a locked one, its right password too (accounts.lockout).
    ModelBackend hashes the password once also for an unknown email, so response time does not
    reveal accounts, and refuses inactive ones."""
    user = authenticate(request, email=email.strip(), password=password)
    if user is None:
        if getattr(request, "axes_locked_out", False):
            raise account_locked(lockout_username(request, {"email": email}))
        # Deactivated by its owner's deletion request: with the right password, say so (and
        # how to cancel) instead of a wrong-password answer.
        pending = User.objects.filter(email__iexact=email.strip(), is_active=False).first() if email.strip() else None
        if pending is not None and pending.check_password(password) and user_pending_deletion(pending):
            raise _pending_deletion_error()
        raise InvalidCredentials(_("Email or password is wrong."))
    lockout_clear(email=email)
    User.objects.filter(pk=user.pk).update(last_login=timezone.now())
    return user


def user_unlock_sign_in(*, user: User) -> int:
    """Staff lift a sign-in lockout early (admin). Returns the failed attempts forgotten."""
    count = lockout_clear(email=user.email) if user.email else 0
    logger.info("accounts.sign_in_unlocked", extra={"user_id": user.pk, "attempts": count})
    return count


@transaction.atomic
def user_sessions_end(*, user: User, reason: str = AuthSession.EndReason.STAFF) -> None:
    sessions_end(user_id=user.pk, reason=reason, session_ids=None)


@transaction.atomic
def user_password_change(*, user: User, current_password: str, new_password: str) -> None:
    """Every session ends, this one too: the caller signs in again with the new password's
    tokens (the view hands them out)."""
    if not user.check_password(current_password):
        raise _field_error("current_password", "password_incorrect", _("The current password is wrong."))
    _validate_password(new_password, user=user, field="new_password")
    user.set_password(new_password)
    user.save(update_fields=["password", "updated_at"])
    sessions_end(user_id=user.pk, reason=AuthSession.EndReason.PASSWORD_CHANGED, session_ids=None)


@transaction.atomic
def user_suspend(*, user_id: int) -> None:
    """Staff suspended the account: it can no longer sign in, and every session ends now. A
    deletion pending for it is marked, so canceling the deletion cannot lift the suspension."""
    User.objects.filter(pk=user_id).update(is_active=False)
    for deletion in AccountDeletion.objects.select_for_update().filter(user_id=user_id, purged_at__isnull=True):
        deletion.state = {**deletion.state, "suspended_at": timezone.now().isoformat()}
        deletion.save(update_fields=["state"])
    sessions_end(user_id=user_id, reason=AuthSession.EndReason.SUSPENDED, session_ids=None)


@transaction.atomic
def user_delete(*, user: User) -> None:
    """Its tokens die with the row; its open sockets are closed after commit."""
    user_id = user.pk
    user.delete()
    transaction.on_commit(lambda: user_sessions_ended_now(user_id, None))


def _unique_handle(seed: str) -> str:
    base = re.sub(r"[^A-Za-z0-9_]", "", seed)[:24] or "user"
    if len(base) < 3:
        base = f"{base}user"
    candidate = base
    while user_handle_taken(candidate):
        candidate = f"{base}{secrets.randbelow(10**6):06d}"
    return candidate


def _proves_email_of(identity: FirebaseIdentity, user: User) -> bool:
    return bool(identity.email_verified and identity.email and user.email
                and identity.email.lower() == user.email.lower())


def _email_claim(user: User, identity: FirebaseIdentity) -> None:
    """The holder of the address signed in: the account is theirs from now on. An account
    whose address nobody proved may have been opened by someone else with it (account
    pre-hijacking): whoever set its password or held it through another Firebase identity
    loses it, so the password stops working and every session on it ends."""
    fields = ["firebase_uid", "email_verified", "updated_at"]
    if not user.email_verified and (user.has_usable_password() or user.firebase_uid != identity.uid):
        if user.has_usable_password():
            user.set_unusable_password()
            fields.append("password")
        sessions_end(user_id=user.pk, reason=AuthSession.EndReason.ACCOUNT_CLAIMED, session_ids=None)
        logger.info("accounts.email_claimed", extra={"user_id": user.pk})
    user.firebase_uid, user.email_verified = identity.uid, True
    user.save(update_fields=fields)


def user_sign_in_with_firebase(*, id_token: str) -> tuple[User, bool]:
    """First sign-in creates the user; later ones find it by Firebase uid.

    An account with the same email is taken over only when Firebase vouches for the
    email (email_verified): linking on an unverified email would hand the account to
    whoever typed that address into Firebase. And one whose email was never verified
    loses its password and sessions then (see _email_claim).
    """
    identity = firebase_verify_id_token(id_token)
    with transaction.atomic():
        user = User.objects.select_for_update().filter(firebase_uid=identity.uid).first()
        if user is not None:
            if not user.is_active and user_pending_deletion(user):
                raise _pending_deletion_error()
            if not user.is_active:
                raise Forbidden(_("This account is suspended."), code="account_suspended")
            if not user.email_verified and _proves_email_of(identity, user):
                _email_claim(user, identity)
            return user, False
        if identity.email:
            existing = User.objects.select_for_update().filter(email__iexact=identity.email).first()
            if existing is not None:
                if not identity.email_verified:
                    raise Conflict(_("An account with this email exists; verify the email in Firebase to link it."),
                                   code="email_taken_unverified")
                if not existing.is_active and user_pending_deletion(existing):
                    raise _pending_deletion_error()
                if not existing.is_active:
                    raise Forbidden(_("This account is suspended."), code="account_suspended")
                _email_claim(existing, identity)
                logger.info("accounts.firebase_linked", extra={"user_id": existing.pk})
                return existing, False
        seed = identity.email.split("@")[0] if identity.email else identity.name or "user"
        try:
            with transaction.atomic():
                user = User.objects.create_user(
                    email=identity.email, password=None, handle=_unique_handle(seed),
                    display_name=identity.name[:60], firebase_uid=identity.uid,
                    email_verified=bool(identity.email and identity.email_verified),
                )
        except IntegrityError:
            # The same first sign-in arrived twice at once: the other request created it.
            user = User.objects.get(firebase_uid=identity.uid)
            return user, False
    logger.info("accounts.signup", extra={"user_id": user.pk, "method": "firebase"})
    return user, True


_PROFILE_FIELDS = {"display_name", "bio", "locale", "country", "birth_year", "handle", "avatar",
                   "daily_feed_minutes"}


def _check_daily_feed_minutes(user: User, minutes: int | None) -> None:
    """A teen may only tighten the feed time limit: lower it, never lift or remove it."""
    if not user_is_teen(user):
        return
    if minutes is None or minutes > settings.TEEN_DAILY_FEED_MINUTES:
        raise ApplicationError(
            _("Accounts under %(age)d can set a daily feed limit of at most %(minutes)d minutes.")
            % {"age": user_teen_age(user), "minutes": settings.TEEN_DAILY_FEED_MINUTES},
            code="teen_restricted", status_code=403)


@transaction.atomic
def user_update(*, user: User, data: dict[str, Any]) -> User:
    unknown = set(data) - _PROFILE_FIELDS
    if unknown:
        raise ApplicationError(_("Cannot change: %(fields)s.") % {"fields": ", ".join(sorted(unknown))}, code="field_not_editable")
    if "handle" in data and data["handle"].lower() != user.handle.lower() and user_handle_taken(data["handle"]):
        raise _field_error("handle", "handle_taken", _("This handle is taken."))
    if "country" in data:
        data["country"] = data["country"].upper()
        data["market"] = market_for_country(data["country"])
    if "birth_year" in data:
        _check_birth_year(data["birth_year"], market=data.get("market", user.market))
    if "daily_feed_minutes" in data:
        # Judged on the age the rest of this change gives (a birth year in the same request counts).
        future = User(birth_year=data.get("birth_year", user.birth_year), market=data.get("market", user.market))
        future.pk = user.pk
        _check_daily_feed_minutes(future, data["daily_feed_minutes"])
    for field, value in data.items():
        setattr(user, field, value)
    try:
        with transaction.atomic():
            user.save(update_fields=[*data.keys(), "updated_at"])
    except IntegrityError as exc:
        raise _field_error("handle", "handle_taken", _("This handle is taken.")) from exc
    return user


@transaction.atomic
def follow_create(*, follower: User, followee: User) -> Follow:
    if follower.pk == followee.pk:
        raise ApplicationError(_("You cannot follow yourself."), code="follow_self")
    if users_blocked_between(follower, followee):
        raise Forbidden(_("You cannot follow this account."), code="blocked")
    follow, created = Follow.objects.get_or_create(follower=follower, followee=followee)
    if created:
        User.objects.filter(pk=follower.pk).update(following_count=F("following_count") + 1)
        User.objects.filter(pk=followee.pk).update(followers_count=F("followers_count") + 1)
        # Follows are grouped by the followee's day (their market's time zone) in the inbox.
        notify(user_id=followee.pk, type="user.followed", actor_id=follower.pk,
               group_key=f"user.followed:{user_local_date(followee).isoformat()}", dedupe_key=_follow_key(follower.pk))
        # Mutuals again: posts an unfollow took down come back up (canceled jobs stay canceled).
        cameos_relation_changed(user_ids=(follower.pk, followee.pk), reason="followed")
    return follow


def _follow_key(follower_id: int) -> str:
    return f"follow:{follower_id}"


def _follow_remove(follower_id: int, followee_id: int) -> bool:
    deleted, __ = Follow.objects.filter(follower_id=follower_id, followee_id=followee_id).delete()
    if deleted:
        notification_retract(user_id=followee_id, dedupe_key=_follow_key(follower_id))
        User.objects.filter(pk=follower_id).update(following_count=F("following_count") - 1)
        User.objects.filter(pk=followee_id).update(followers_count=F("followers_count") - 1)
    return bool(deleted)


@transaction.atomic
def follow_delete(*, follower: User, followee: User) -> None:
    if _follow_remove(follower.pk, followee.pk):
        # Mutuals no more: what either made with the other's "mutuals" cameo lacks consent now.
        cameos_relation_changed(user_ids=(follower.pk, followee.pk), reason="unfollowed")


@transaction.atomic
def block_create(*, blocker: User, blocked: User) -> Block:
    if blocker.pk == blocked.pk:
        raise ApplicationError(_("You cannot block yourself."), code="block_self")
    block, __ = Block.objects.get_or_create(blocker=blocker, blocked=blocked)
    # A block cuts the follow graph both ways, and what either caused leaves the other's inbox.
    _follow_remove(blocker.pk, blocked.pk)
    _follow_remove(blocked.pk, blocker.pk)
    notifications_from_actor_delete(user_id=blocker.pk, actor_id=blocked.pk)
    notifications_from_actor_delete(user_id=blocked.pk, actor_id=blocker.pk)
    # A block refuses each one's cameo to the other at every level, approvals included.
    cameos_relation_changed(user_ids=(blocker.pk, blocked.pk), reason="blocked")
    return block


@transaction.atomic
def block_delete(*, blocker: User, blocked: User) -> None:
    deleted, __ = Block.objects.filter(blocker=blocker, blocked=blocked).delete()
    if deleted:
        # Posts taken down by the block come back where consent holds again (jobs stay canceled).
        cameos_relation_changed(user_ids=(blocker.pk, blocked.pk), reason="unblocked")


def _still_signed_in(device: Device) -> bool:
    """Is the sign-in that registered the device alive? Rows from before sessions were
    recorded count as alive while such a sign-in could still be."""
    horizon = timezone.now() - settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"]
    if device.session is None:
        return device.last_seen_at > horizon
    return device.session.ended_at is None and device.session.refreshed_at > horizon


@transaction.atomic
def device_register(*, user: User, fcm_token: str, platform: str, app_version: str = "", locale: str = "",
                    session_id: str | None = None) -> Device:
    """Upsert by FCM token, recording the caller's session. A phone that changes account
    moves to the new user only once the old owner's session there ended (logging out ends
    it): anyone who learnt a token must not redirect its owner's pushes to themselves."""
    current = (Device.objects.select_for_update(of=("self",)).select_related("session")
               .filter(fcm_token=fcm_token).first())
    if current is not None and current.user_id != user.pk and _still_signed_in(current):
        raise Conflict(_("This device is registered to another account that is still signed in on it."),
                       code="device_registered_elsewhere")
    device, __ = Device.objects.update_or_create(
        fcm_token=fcm_token,
        defaults={"user": user, "platform": platform, "app_version": app_version, "locale": locale,
                  "last_seen_at": timezone.now(), "session_id": session_id},
    )
    return device


@transaction.atomic
def device_unregister(*, user: User, fcm_token: str) -> bool:
    deleted, __ = Device.objects.filter(user=user, fcm_token=fcm_token).delete()
    return bool(deleted)
