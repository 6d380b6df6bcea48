"""What changes a cameo: issue a challenge, create, verify, review, update, delete, purge, and
the owner's decisions on the people who ask to use it. Every change that can take consent
away (or give it back) locks the cameo row and tells the higher apps (hooks.consent_changed)
in the same transaction."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from config.errors import ApplicationError, Conflict, NotFound
from config.tasks import task_send_on_commit

from ..models import User
from ..notifications import notify
from .hooks import consent_changed
from .media import clip_check, temp_copy
from .models import Cameo, CameoChallenge, CameoGrant, CameoLevel, CameoStatus, GrantStatus
from .verification import challenge_phrase, get_verifier

logger = logging.getLogger(__name__)

VERIFY_TASK = "accounts.tasks.verify_cameo"
LEVEL_ORDER = [CameoLevel.ONLY_ME, CameoLevel.APPROVED, CameoLevel.MUTUALS, CameoLevel.EVERYONE]


def _own_cameo(user: User, cameo_id: Any, *, lock: bool = True) -> Cameo:
    qs = Cameo.objects.select_for_update() if lock else Cameo.objects
    cameo = qs.filter(pk=cameo_id, owner=user).exclude(status=CameoStatus.DELETED).first()
    if cameo is None:
        raise NotFound(_("No such cameo."), code="cameo_not_found")
    return cameo


def challenge_issue(*, user: User) -> CameoChallenge:
    return CameoChallenge.objects.create(
        user=user, phrase=challenge_phrase(),
        expires_at=timezone.now() + timedelta(seconds=settings.CAMEO_CHALLENGE_TTL_SECONDS))


def cameo_create(*, user: User, clip: UploadedFile, challenge_id: Any, name: str,
                 level: str = CameoLevel.ONLY_ME, restrictions: str = "") -> Cameo:
    """Checks the clip, stores it with its reference frame, and queues the verification."""
    info, reference = clip_check(clip)
    with transaction.atomic():
        challenge = CameoChallenge.objects.select_for_update().filter(pk=challenge_id, user=user).first()
        if challenge is None or challenge.used_at is not None:
            raise ApplicationError(_("Ask for a new challenge."), code="challenge_invalid",
                                   fields={"challenge_id": [{"code": "challenge_invalid", "message": ""}]})
        if challenge.expires_at <= timezone.now():
            raise ApplicationError(_("The challenge expired; ask for a new one."), code="challenge_expired",
                                   fields={"challenge_id": [{"code": "challenge_expired", "message": ""}]})
        if Cameo.objects.filter(owner=user).exclude(status=CameoStatus.DELETED).exists():
            raise Conflict(_("You already have a cameo; delete it to record a new one."), code="cameo_exists")
        challenge.used_at = timezone.now()
        challenge.save(update_fields=["used_at"])
        cameo = Cameo(owner=user, name=name.strip(), level=level, restrictions=restrictions.strip(),
                      challenge=challenge, clip_duration=info.duration_seconds, clip_codec=info.codec)
        try:
            with transaction.atomic():
                cameo.save()
        except IntegrityError as exc:  # two creates raced past the check above
            raise Conflict(_("You already have a cameo; delete it to record a new one."), code="cameo_exists") from exc
        cameo.clip.save("clip.mp4", clip, save=False)
        cameo.reference_image.save("reference.jpg", ContentFile(reference), save=False)
        cameo.save(update_fields=["clip", "reference_image"])
        task_send_on_commit(VERIFY_TASK, str(cameo.pk))
    logger.info("cameo.created", extra={"cameo_id": str(cameo.pk), "user_id": user.pk,
                                        "duration": info.duration_seconds, "codec": info.codec})
    return cameo


def cameo_verify(*, cameo_id: Any) -> str:
    """The configured checker's verdict on a pending cameo (idempotent: only pending ones)."""
    cameo = Cameo.objects.select_related("challenge").filter(pk=cameo_id, status=CameoStatus.PENDING).first()
    if cameo is None:
        return "gone"
    verifier = get_verifier()
    with default_storage.open(cameo.clip.name, "rb") as fh:
        path = temp_copy(fh.read(), ".mp4")
    try:
        verdict = verifier.verify(clip_path=path, phrase=cameo.challenge.phrase if cameo.challenge else "")
    finally:
        path.unlink(missing_ok=True)
    with transaction.atomic():
        cameo = Cameo.objects.select_for_update().filter(pk=cameo_id, status=CameoStatus.PENDING).first()
        if cameo is None:
            return "gone"
        cameo.verifier, cameo.transcript = verifier.name, verdict.transcript
        if verdict.verified:
            cameo.status, cameo.verified_at = CameoStatus.VERIFIED, timezone.now()
            notify(user_id=cameo.owner_id, type="cameo.verified", target=f"cameo:{cameo.pk}",
                   data={"cameo_id": str(cameo.pk)})
        else:
            cameo.status = CameoStatus.REVIEW
        cameo.save(update_fields=["status", "verified_at", "verifier", "transcript", "updated_at"])
    logger.info("cameo.verification", extra={"cameo_id": str(cameo_id), "verifier": verifier.name,
                                             "status": cameo.status})
    return cameo.status


@transaction.atomic
def cameo_review(*, staff: User | None, cameo_id: Any, approve: bool) -> Cameo:
    """Staff's decision on a cameo the checker could not confirm (or any not yet decided)."""
    cameo = Cameo.objects.select_for_update().get(pk=cameo_id)
    if cameo.status not in (CameoStatus.PENDING, CameoStatus.REVIEW):
        raise Conflict(_("This cameo was already decided."), code="cameo_already_reviewed")
    cameo.status = CameoStatus.VERIFIED if approve else CameoStatus.REJECTED
    cameo.verified_at = timezone.now() if approve else None
    cameo.reviewed_by, cameo.verifier = staff, "staff"
    cameo.save()
    notify(user_id=cameo.owner_id, type="cameo.verified" if approve else "cameo.rejected", target=f"cameo:{cameo.pk}",
           data={"cameo_id": str(cameo.pk)})
    return cameo


@transaction.atomic
def cameo_update(*, user: User, cameo_id: Any, data: dict[str, Any]) -> Cameo:
    cameo = _own_cameo(user, cameo_id)
    before = cameo.level
    for field in ("name", "level", "restrictions"):
        if field in data:
            setattr(cameo, field, data[field].strip() if field != "level" else data[field])
    cameo.save()
    if cameo.level != before:
        lowered = LEVEL_ORDER.index(cameo.level) < LEVEL_ORDER.index(before)
        consent_changed(cameo=cameo, reason="level_lowered" if lowered else "level_raised")
    return cameo


@transaction.atomic
def cameo_delete(*, user: User, cameo_id: Any) -> None:
    """Stops every use now; the media stays (for appeals) until the purge CAMEO_PURGE_AFTER_DAYS later."""
    cameo = _own_cameo(user, cameo_id)
    cameo.status, cameo.deleted_at = CameoStatus.DELETED, timezone.now()
    cameo.save(update_fields=["status", "deleted_at", "updated_at"])
    consent_changed(cameo=cameo, reason="cameo_deleted")


def cameos_relation_changed(*, user_ids: tuple[int, ...], reason: str) -> int:
    """Two people's relation changed (an unfollow, a block, or their undoing): consent to each
    one's cameo may have changed for the other ("mutuals" needs both follows; a block refuses
    every level), so every live cameo either owns is re-checked by the apps above, as when its
    owner changes it. Runs in the caller's transaction; returns how many cameos were re-checked."""
    cameos = list(Cameo.objects.select_for_update().filter(owner_id__in=user_ids)
                  .exclude(status=CameoStatus.DELETED).order_by("pk"))  # one lock order: no deadlock
    for cameo in cameos:
        consent_changed(cameo=cameo, reason=reason)
    return len(cameos)


@transaction.atomic
def cameo_request(*, user: User, cameo_id: Any) -> CameoGrant:
    cameo = Cameo.objects.select_for_update().filter(pk=cameo_id, status=CameoStatus.VERIFIED).first()
    if cameo is None:
        raise NotFound(_("No such cameo."), code="cameo_not_found")
    if cameo.owner_id == user.pk:
        raise ApplicationError(_("This is your own cameo."), code="cameo_own")
    grant, created = CameoGrant.objects.get_or_create(cameo=cameo, user=user)
    if not created and grant.status in (GrantStatus.DENIED, GrantStatus.REVOKED):
        raise Conflict(_("The owner said no."), code="cameo_request_refused")
    if created:
        notify(user_id=cameo.owner_id, type="cameo.requested", actor_id=user.pk, target=f"cameo:{cameo.pk}",
               data={"cameo_id": str(cameo.pk)}, group_key=f"cameo.requested:{cameo.pk}")
    return grant


GRANT_ACTIONS = {"approve": GrantStatus.APPROVED, "deny": GrantStatus.DENIED, "revoke": GrantStatus.REVOKED}


@transaction.atomic
def cameo_grant_decide(*, user: User, cameo_id: Any, grantee_id: int, action: str) -> CameoGrant:
    """The owner approves, denies or revokes one person (revoking needs no earlier request)."""
    cameo = _own_cameo(user, cameo_id)
    if grantee_id == user.pk:
        raise ApplicationError(_("This is your own cameo."), code="cameo_own")
    if not User.objects.filter(pk=grantee_id).exists():
        raise NotFound(_("No such user."), code="user_not_found")
    status = GRANT_ACTIONS[action]
    grant = CameoGrant.objects.select_for_update().filter(cameo=cameo, user_id=grantee_id).first()
    if grant is None:
        if status != GrantStatus.REVOKED:
            raise NotFound(_("This person has not asked."), code="cameo_request_not_found")
        grant = CameoGrant(cameo=cameo, user_id=grantee_id)
    before = grant.status if grant.pk else None
    grant.status = status
    grant.save()
    if status == GrantStatus.APPROVED:
        notify(user_id=grantee_id, type="cameo.approved", actor_id=user.pk, target=f"cameo:{cameo.pk}",
               data={"cameo_id": str(cameo.pk)})
        if before in (GrantStatus.DENIED, GrantStatus.REVOKED):
            consent_changed(cameo=cameo, reason="grant_approved")
    elif status == GrantStatus.REVOKED and before != GrantStatus.REVOKED:
        notify(user_id=grantee_id, type="cameo.revoked", actor_id=user.pk, target=f"cameo:{cameo.pk}",
               data={"cameo_id": str(cameo.pk)})
    if status != GrantStatus.APPROVED and before != status:
        consent_changed(cameo=cameo, reason=f"grant_{status}")
    return grant


def cameos_purge() -> int:
    """Deleted cameos' clip and reference frame, CAMEO_PURGE_AFTER_DAYS after the deletion (beat)."""
    cutoff = timezone.now() - timedelta(days=settings.CAMEO_PURGE_AFTER_DAYS)
    purged = 0
    for cameo_id in Cameo.objects.filter(status=CameoStatus.DELETED, deleted_at__lte=cutoff, purged_at__isnull=True) \
            .values_list("pk", flat=True):
        with transaction.atomic():
            cameo = Cameo.objects.select_for_update().filter(pk=cameo_id, purged_at__isnull=True).first()
            if cameo is None:
                continue
            names = [cameo.clip.name, cameo.reference_image.name]
            cameo.clip, cameo.reference_image, cameo.transcript, cameo.purged_at = "", "", "", timezone.now()
            cameo.save(update_fields=["clip", "reference_image", "transcript", "purged_at", "updated_at"])
            transaction.on_commit(lambda names=names: [default_storage.delete(n) for n in names if n])
        purged += 1
    return purged
