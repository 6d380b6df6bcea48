"""Account deletion: the owner asks (re-authenticated) and the account is deactivated at once;
it may cancel within ACCOUNT_DELETION_GRACE_DAYS; after that the beat task purges it through
the steps every app registered (accounts.deletion.registry), then accounts' own, last.

The purge is resumable: each step is recorded as done in the transaction that did it, and
every step only looks for the user's rows, so a run that crashed halfway is finished by the
next. A step's hold (a payout in flight, a running job, an unconfirmed Stripe cancel) makes
the run wait for the next beat, before anything is deleted.
"""

from __future__ import annotations

import logging
import secrets
import time
from datetime import timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Greatest
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from config.errors import ApplicationError, Conflict, Forbidden

from ..cameos.hooks import consent_changed
from ..cameos.models import Cameo, CameoChallenge, CameoStatus
from ..cameos.services import cameos_relation_changed
from ..exports.services import account_exports_delete
from ..firebase import FirebaseIdentity, firebase_verify_id_token
from ..models import AccountDeletion, AuthSession, Follow, HandleReservation, User
from ..services import sessions_end
from .registry import PurgeContext, purge_steps

logger = logging.getLogger(__name__)

# The foreign keys to the user that accounts' own last step (and the row's delete) takes care of.
ACCOUNTS_HANDLES = (
    "accounts.Follow.follower", "accounts.Follow.followee", "accounts.Block.blocker", "accounts.Block.blocked",
    "accounts.AuthSession.user", "accounts.Device.user", "accounts.EventCounter.user", "accounts.Event.user",
    "accounts.Notification.user", "accounts.Notification.actor", "accounts.NotificationMarker.user",
    "accounts.NotificationSetting.user", "accounts.CameoChallenge.user", "accounts.Cameo.owner",
    "accounts.Cameo.reviewed_by", "accounts.CameoGrant.user", "accounts.User_groups.user",
    "accounts.User_user_permissions.user", "accounts.AccountDeletion.user", "token_blacklist.OutstandingToken.user",
    "admin.LogEntry.user", "otp_totp.TOTPDevice.user", "accounts.AccountExport.user",
)
# The deletion row keeps its placeholder: the anonymous user, not the person.
ACCOUNTS_ANONYMISES = ("accounts.AccountDeletion.placeholder",)

PLACEHOLDER_PREFIX = "deleted_"


class ReauthRequired(ApplicationError):
    status_code = 400
    code = "reauth_required"


class ReauthFailed(ApplicationError):
    status_code = 403
    code = "reauth_failed"


class ReauthStale(ApplicationError):
    status_code = 403
    code = "reauth_stale"


def _firebase_identity(id_token: str) -> FirebaseIdentity:
    """A Firebase ID token as a re-authentication: valid, and from a sign-in at most
    ACCOUNT_REAUTH_MAX_AGE_SECONDS old (an hour-old token from a stolen phone does not count)."""
    try:
        identity = firebase_verify_id_token(id_token)
    except ApplicationError as exc:
        if exc.status_code != 401:  # Firebase not configured or unreachable: say so
            raise
        raise ReauthFailed(_("The sign-in could not be confirmed.")) from exc
    if time.time() - identity.auth_time > settings.ACCOUNT_REAUTH_MAX_AGE_SECONDS:
        minutes = max(1, settings.ACCOUNT_REAUTH_MAX_AGE_SECONDS // 60)
        raise ReauthStale(ngettext("Sign in again, then try within %(minutes)d minute.",
                                   "Sign in again, then try within %(minutes)d minutes.", minutes)
                          % {"minutes": minutes})
    return identity


def _reauthenticate(user: User, *, password: str, id_token: str) -> None:
    if id_token:
        identity = _firebase_identity(id_token)
        if not user.firebase_uid or identity.uid != user.firebase_uid:
            raise ReauthFailed(_("The sign-in could not be confirmed."))
        return
    if not password:
        raise ReauthRequired(_("Confirm it is you: give your password or sign in again."))
    if not user.has_usable_password() or not user.check_password(password):
        raise ReauthFailed(_("The sign-in could not be confirmed."))


def account_delete_request(*, user: User, password: str = "", id_token: str = "",
                           confirm_store_subscription: bool = False) -> AccountDeletion:
    """Re-authenticate, let every app refuse (before anything changes), then deactivate: the
    account can no longer sign in, every session and socket ends, and it leaves every list
    (they all show active accounts only). The apps then act on it (Stripe ends the
    subscription at the period's end) and the purge waits ACCOUNT_DELETION_GRACE_DAYS."""
    _reauthenticate(user, password=password, id_token=id_token)
    steps = purge_steps()
    for step in steps:
        if step.check is not None:
            step.check(user=user, confirm_store_subscription=confirm_store_subscription)
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        if not locked.is_active or AccountDeletion.objects.filter(user_id=locked.pk).exists():
            raise Conflict(_("This account is already being deleted."), code="deletion_already_requested")
        now = timezone.now()
        deletion = AccountDeletion.objects.create(
            user=locked, requested_at=now, purge_after=now + timedelta(days=settings.ACCOUNT_DELETION_GRACE_DAYS))
        User.objects.filter(pk=locked.pk).update(is_active=False)
        sessions_end(user_id=locked.pk, reason=AuthSession.EndReason.ACCOUNT_DELETED, session_ids=None)
        # Their likeness is lent to nobody from now: others' jobs with it are canceled and
        # others' posts with it taken down (given back if the deletion is canceled).
        cameos_relation_changed(user_ids=(locked.pk,), reason="owner_deleting")
    state = {}
    for step in steps:
        if step.on_request is not None:
            done = step.on_request(user=user)
            if done:
                state[step.name] = done
    if state:
        AccountDeletion.objects.filter(pk=deletion.pk).update(state=state)
        deletion.state = state
    logger.info("accounts.deletion_requested", extra={"user_id": user.pk, "deletion_id": deletion.pk,
                                                      "purge_after": deletion.purge_after.isoformat()})
    return deletion


def _cancel_user(*, email: str, password: str, id_token: str) -> User:
    if id_token:
        identity = _firebase_identity(id_token)
        user = User.objects.filter(firebase_uid=identity.uid).first()
        if user is None:
            raise ReauthFailed(_("The sign-in could not be confirmed."))
        return user
    if not email or not password:
        raise ReauthRequired(_("Give the account's email and password, or sign in with Firebase."))
    user = User.objects.filter(email__iexact=email.strip()).first() if email.strip() else None
    if user is None:
        User().set_password(password)  # the same hashing time as for a real account
        raise ReauthFailed(_("The sign-in could not be confirmed."))
    if not user.has_usable_password() or not user.check_password(password):
        raise ReauthFailed(_("The sign-in could not be confirmed."))
    return user


def account_delete_cancel(*, email: str = "", password: str = "", id_token: str = "") -> User:
    """The owner, not signed in (the account is deactivated), takes the deletion back within the
    grace period: the account is active again, as it was (its sessions stay ended)."""
    user = _cancel_user(email=email, password=password, id_token=id_token)
    with transaction.atomic():
        deletion = AccountDeletion.objects.select_for_update().filter(user_id=user.pk, purged_at__isnull=True).first()
        if deletion is None:
            raise Conflict(_("This account is not being deleted."), code="deletion_not_pending")
        now = timezone.now()
        if deletion.purge_after <= now or deletion.steps_done or (deletion.claimed_until or now) > now:
            raise Conflict(_("The grace period is over: the account is being deleted."), code="deletion_grace_over")
        if deletion.state.get("suspended_at"):
            raise Forbidden(_("This account is suspended: its deletion cannot be canceled."), code="account_suspended")
        state = deletion.state
        deletion.delete()
        User.objects.filter(pk=user.pk).update(is_active=True)
        cameos_relation_changed(user_ids=(user.pk,), reason="owner_deletion_canceled")
    for step in purge_steps():
        if step.on_cancel is not None:
            step.on_cancel(user=user, state=state.get(step.name) or {})
    user.refresh_from_db()
    logger.info("accounts.deletion_canceled", extra={"user_id": user.pk})
    return user


# --- the purge --------------------------------------------------------------------------------

def _placeholder_create() -> User:
    """The anonymous user one purged account's kept rows (ledger, payments) point at: no email,
    no password, no name; inactive, so no list shows it and nobody signs in as it."""
    return User.objects.create_user(email=None, password=None, handle=f"{PLACEHOLDER_PREFIX}{secrets.token_hex(6)}",
                                    display_name="", is_active=False, birth_year=None, country="", locale="")


def _claim(deletion_id: int, now) -> bool:
    lease = now + timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
    return bool(AccountDeletion.objects
                .filter(pk=deletion_id, purged_at__isnull=True, purge_after__lte=now, user__isnull=False)
                .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
                .update(claimed_until=lease, attempts=F("attempts") + 1, last_attempt_at=now))


def account_purge(*, deletion_id: int, now=None) -> str:
    """Purge one due deletion: "purged", "held" (a step's hold: tried again next beat) or
    "skipped" (not due, already purged, or another run holds it)."""
    now = now or timezone.now()
    if not _claim(deletion_id, now):
        return "skipped"
    try:
        with transaction.atomic():
            deletion = AccountDeletion.objects.select_for_update().get(pk=deletion_id)
            if deletion.placeholder_id is None:
                deletion.placeholder = _placeholder_create()
                deletion.save(update_fields=["placeholder"])
        ctx = PurgeContext(user_id=deletion.user_id, placeholder_id=deletion.placeholder_id, deletion_id=deletion.pk)
        done = list(deletion.steps_done)
        steps = [step for step in purge_steps() if step.name not in done]
        for step in steps:
            reason = step.hold(ctx) if step.hold is not None else None
            if reason:
                AccountDeletion.objects.filter(pk=deletion.pk).update(hold_reason=reason)
                logger.info("accounts.purge_held", extra={"deletion_id": deletion.pk, "step": step.name,
                                                          "reason": reason})
                return "held"
        for step in steps:
            with transaction.atomic():
                step.purge(ctx)
                done.append(step.name)
                AccountDeletion.objects.filter(pk=deletion.pk).update(steps_done=done)
        with transaction.atomic():
            _accounts_purge(ctx)
            AccountDeletion.objects.filter(pk=deletion.pk).update(purged_at=timezone.now(), hold_reason="",
                                                                  state={}, steps_done=[*done, "accounts"])
    finally:
        AccountDeletion.objects.filter(pk=deletion_id).update(claimed_until=None)
    logger.info("accounts.purged", extra={"deletion_id": deletion_id, "placeholder_id": ctx.placeholder_id})
    return "purged"


def accounts_purge_due(*, now=None) -> dict[str, int]:
    """The beat task: every deletion whose grace period is over."""
    now = now or timezone.now()
    counts = {"purged": 0, "held": 0, "skipped": 0}
    # Those not tried yet first: one that keeps failing does not keep the others waiting.
    ids = list(AccountDeletion.objects.filter(purged_at__isnull=True, purge_after__lte=now, user__isnull=False)
               .order_by(F("last_attempt_at").asc(nulls_first=True), "purge_after").values_list("pk", flat=True))
    for deletion_id in ids:
        counts[account_purge(deletion_id=deletion_id, now=now)] += 1
    return counts


def _delete_files_on_commit(names: list[str]) -> None:
    names = [name for name in names if name]
    if names:
        transaction.on_commit(lambda: [default_storage.delete(name) for name in names])


def _accounts_purge(ctx: PurgeContext) -> None:
    """Accounts' own part, after every app's: cameos and their media, the follow graph with the
    others' counters, tokens, the avatar, the handle's reservation, then the row itself (its
    cascade takes blocks, sessions, devices, events, notifications, settings)."""
    user = User.objects.select_for_update().get(pk=ctx.user_id)
    files = [user.avatar.name]
    # Other people's jobs and posts with the cameo lose it as when its owner deletes it.
    for cameo in Cameo.objects.select_for_update().filter(owner_id=user.pk).exclude(status=CameoStatus.DELETED) \
            .order_by("pk"):
        cameo.status, cameo.deleted_at = CameoStatus.DELETED, timezone.now()
        cameo.save(update_fields=["status", "deleted_at", "updated_at"])
        consent_changed(cameo=cameo, reason="cameo_deleted")
    for clip, reference in Cameo.objects.filter(owner_id=user.pk).values_list("clip", "reference_image"):
        files += [clip, reference]
    Cameo.objects.filter(owner_id=user.pk).delete()
    CameoChallenge.objects.filter(user_id=user.pk).delete()
    User.objects.filter(follower_edges__follower_id=user.pk).update(
        followers_count=Greatest(F("followers_count") - 1, 0))
    User.objects.filter(following_edges__followee_id=user.pk).update(
        following_count=Greatest(F("following_count") - 1, 0))
    Follow.objects.filter(Q(follower_id=user.pk) | Q(followee_id=user.pk)).delete()
    # A token's text carries the user id.
    OutstandingToken.objects.filter(user_id=user.pk).delete()
    # The archives are the person's data too: rows and stored files.
    account_exports_delete(user_id=user.pk)
    until = timezone.now() + timedelta(days=settings.ACCOUNT_HANDLE_RESERVED_DAYS)
    reservation = HandleReservation.objects.filter(handle__iexact=user.handle).first()
    if reservation is None:
        HandleReservation.objects.create(handle=user.handle.lower(), reserved_until=until)
    elif reservation.reserved_until < until:
        HandleReservation.objects.filter(pk=reservation.pk).update(reserved_until=until)
    user.delete()
    _delete_files_on_commit(files)
