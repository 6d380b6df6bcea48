"""Functions that change accounts state. Each owns its transaction."""

from __future__ import annotations

import logging
import secrets
import re
from datetime import date
from typing import Any

from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import RefreshToken

from config.errors import ApplicationError, Conflict, Forbidden

from .firebase import firebase_verify_id_token
from .models import Block, Device, Follow, User
from .selectors import user_handle_taken, users_blocked_between

logger = logging.getLogger(__name__)


class InvalidCredentials(ApplicationError):
    status_code = 401
    code = "invalid_credentials"


class TokenInvalid(ApplicationError):
    status_code = 401
    code = "token_invalid"


def _field_error(field: str, code: str, message: str) -> ApplicationError:
    return ApplicationError(message, code="validation_error", fields={field: [{"code": code, "message": message}]})


def _check_birth_year(birth_year: int | None) -> None:
    if birth_year is None:
        return
    this_year = date.today().year
    if birth_year < 1900 or birth_year > this_year:
        raise _field_error("birth_year", "birth_year_invalid", "Enter a real birth year.")
    # Born in birth_year means at most this_year - birth_year years old today.
    if this_year - birth_year < settings.ACCOUNTS_MIN_AGE:
        raise ApplicationError(
            f"You must be at least {settings.ACCOUNTS_MIN_AGE} to use this app.", code="age_restricted", status_code=403
        )


def tokens_for_user(user: User) -> dict[str, str]:
    refresh = RefreshToken.for_user(user)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


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
    _check_birth_year(birth_year)
    if User.objects.filter(email__iexact=email).exists():
        raise _field_error("email", "email_taken", "An account with this email already exists.")
    if user_handle_taken(handle):
        raise _field_error("handle", "handle_taken", "This handle is taken.")
    candidate = User(email=email, handle=handle, display_name=display_name)
    try:
        password_validation.validate_password(password, user=candidate)
    except DjangoValidationError as exc:
        raise ApplicationError(
            exc.messages[0],
            code="validation_error",
            fields={"password": [{"code": e.code or "password_invalid", "message": m}
                                 for e, m in zip(exc.error_list, exc.messages)]},
        ) from exc
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                email=email, password=password, handle=handle, display_name=display_name or handle,
                birth_year=birth_year, locale=locale, country=country.upper(),
            )
    except IntegrityError as exc:  # lost a race with a concurrent sign-up
        raise _field_error("handle", "handle_taken", "This handle or email is taken.") from exc
    logger.info("accounts.signup", extra={"user_id": user.pk, "method": "password"})
    return user


def user_authenticate(*, email: str, password: str) -> User:
    user = User.objects.filter(email__iexact=email.strip()).first()
    if user is None:
        # Spend the same time as a real check so response time does not reveal accounts.
        User().set_password(password)
        raise InvalidCredentials("Email or password is wrong.")
    if not user.check_password(password) or not user.is_active:
        raise InvalidCredentials("Email or password is wrong.")
    User.objects.filter(pk=user.pk).update(last_login=timezone.now())
    return user


def auth_refresh(*, refresh: str) -> dict[str, str]:
    """Rotate: the old refresh token is blacklisted, a new pair is returned."""
    try:
        token = RefreshToken(refresh)
        token.check_blacklist()
        user = User.objects.filter(pk=token.payload.get(settings.SIMPLE_JWT["USER_ID_CLAIM"]), is_active=True).first()
        if user is None:
            raise TokenInvalid("The account is gone or suspended.")
        with transaction.atomic():
            token.blacklist()
            fresh = RefreshToken.for_user(user)
    except TokenError as exc:
        raise TokenInvalid("The refresh token is invalid, expired or already used.") from exc
    return {"access": str(fresh.access_token), "refresh": str(fresh)}


def auth_logout(*, refresh: str, user: User) -> None:
    try:
        token = RefreshToken(refresh)
    except TokenError as exc:
        raise TokenInvalid("The refresh token is invalid or expired.") from exc
    if str(token.payload.get(settings.SIMPLE_JWT["USER_ID_CLAIM"])) != str(user.pk):
        raise Forbidden("This refresh token belongs to another account.", code="token_not_yours")
    token.blacklist()


def _unique_handle(seed: str) -> str:
    base = re.sub(r"[^A-Za-z0-9_]", "", seed)[:24] or "user"
    if len(base) < 3:
        base = f"{base}user"
    candidate = base
    while user_handle_taken(candidate):
        candidate = f"{base}{secrets.randbelow(10**6):06d}"
    return candidate


def user_sign_in_with_firebase(*, id_token: str) -> tuple[User, bool]:
    """First sign-in creates the user; later ones find it by Firebase uid.

    A password account is linked only when Firebase vouches for the email
    (email_verified): linking on an unverified email would hand the account to
    whoever typed that address into Firebase.
    """
    identity = firebase_verify_id_token(id_token)
    with transaction.atomic():
        user = User.objects.select_for_update().filter(firebase_uid=identity.uid).first()
        if user is not None:
            if not user.is_active:
                raise Forbidden("This account is suspended.", code="account_suspended")
            return user, False
        if identity.email:
            existing = User.objects.select_for_update().filter(email__iexact=identity.email).first()
            if existing is not None:
                if not identity.email_verified:
                    raise Conflict("An account with this email exists; verify the email in Firebase to link it.",
                                   code="email_taken_unverified")
                if not existing.is_active:
                    raise Forbidden("This account is suspended.", code="account_suspended")
                existing.firebase_uid = identity.uid
                existing.save(update_fields=["firebase_uid", "updated_at"])
                logger.info("accounts.firebase_linked", extra={"user_id": existing.pk})
                return existing, False
        seed = identity.email.split("@")[0] if identity.email else identity.name or "user"
        try:
            with transaction.atomic():
                user = User.objects.create_user(
                    email=identity.email, password=None, handle=_unique_handle(seed),
                    display_name=identity.name[:60], firebase_uid=identity.uid,
                )
        except IntegrityError:
            # The same first sign-in arrived twice at once: the other request created it.
            user = User.objects.get(firebase_uid=identity.uid)
            return user, False
    logger.info("accounts.signup", extra={"user_id": user.pk, "method": "firebase"})
    return user, True


_PROFILE_FIELDS = {"display_name", "bio", "locale", "country", "birth_year", "handle", "avatar"}


@transaction.atomic
def user_update(*, user: User, data: dict[str, Any]) -> User:
    unknown = set(data) - _PROFILE_FIELDS
    if unknown:
        raise ApplicationError(f"Cannot change: {', '.join(sorted(unknown))}.", code="field_not_editable")
    if "handle" in data and data["handle"].lower() != user.handle.lower() and user_handle_taken(data["handle"]):
        raise _field_error("handle", "handle_taken", "This handle is taken.")
    if "birth_year" in data:
        _check_birth_year(data["birth_year"])
    if "country" in data:
        data["country"] = data["country"].upper()
    for field, value in data.items():
        setattr(user, field, value)
    try:
        with transaction.atomic():
            user.save(update_fields=[*data.keys(), "updated_at"])
    except IntegrityError as exc:
        raise _field_error("handle", "handle_taken", "This handle is taken.") from exc
    return user


@transaction.atomic
def follow_create(*, follower: User, followee: User) -> Follow:
    if follower.pk == followee.pk:
        raise ApplicationError("You cannot follow yourself.", code="follow_self")
    if users_blocked_between(follower, followee):
        raise Forbidden("You cannot follow this account.", code="blocked")
    follow, created = Follow.objects.get_or_create(follower=follower, followee=followee)
    if created:
        User.objects.filter(pk=follower.pk).update(following_count=F("following_count") + 1)
        User.objects.filter(pk=followee.pk).update(followers_count=F("followers_count") + 1)
    return follow


def _follow_remove(follower_id: int, followee_id: int) -> bool:
    deleted, _ = Follow.objects.filter(follower_id=follower_id, followee_id=followee_id).delete()
    if deleted:
        User.objects.filter(pk=follower_id).update(following_count=F("following_count") - 1)
        User.objects.filter(pk=followee_id).update(followers_count=F("followers_count") - 1)
    return bool(deleted)


@transaction.atomic
def follow_delete(*, follower: User, followee: User) -> None:
    _follow_remove(follower.pk, followee.pk)


@transaction.atomic
def block_create(*, blocker: User, blocked: User) -> Block:
    if blocker.pk == blocked.pk:
        raise ApplicationError("You cannot block yourself.", code="block_self")
    block, _ = Block.objects.get_or_create(blocker=blocker, blocked=blocked)
    # A block cuts the follow graph both ways.
    _follow_remove(blocker.pk, blocked.pk)
    _follow_remove(blocked.pk, blocker.pk)
    return block


@transaction.atomic
def block_delete(*, blocker: User, blocked: User) -> None:
    Block.objects.filter(blocker=blocker, blocked=blocked).delete()


@transaction.atomic
def device_register(*, user: User, fcm_token: str, platform: str, app_version: str = "", locale: str = "") -> Device:
    """Upsert by FCM token: a phone that changes account moves to the new user."""
    device, _ = Device.objects.update_or_create(
        fcm_token=fcm_token,
        defaults={"user": user, "platform": platform, "app_version": app_version, "locale": locale,
                  "last_seen_at": timezone.now()},
    )
    return device


@transaction.atomic
def device_unregister(*, user: User, fcm_token: str) -> bool:
    deleted, _ = Device.objects.filter(user=user, fcm_token=fcm_token).delete()
    return bool(deleted)
