"""Who may use a cameo: the one rule every check calls (submit, render start, post, takedown).

Levels add up: only me < people I approve < mutuals (and approved people) < everyone. A block
either way refuses at every level, and so does the owner's denial or revocation of a person.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils.translation import gettext as _

from config.errors import ApplicationError

from ..models import Block, Follow, User
from ..selectors import teen_shielded_from
from .models import Cameo, CameoGrant, CameoLevel, CameoStatus, GrantStatus

MAX_CAMEOS_PER_VIDEO = 2


class Relation:
    SELF = "self"
    BLOCKED = "blocked"
    DENIED = "denied"  # the owner denied or revoked this person
    APPROVED = "approved"
    MUTUAL = "mutual"
    FOLLOWER = "follower"  # follows the owner, not followed back
    STRANGER = "stranger"


ALLOWED: dict[str, set[str]] = {
    CameoLevel.ONLY_ME: {Relation.SELF},
    CameoLevel.APPROVED: {Relation.SELF, Relation.APPROVED},
    CameoLevel.MUTUALS: {Relation.SELF, Relation.APPROVED, Relation.MUTUAL},
    CameoLevel.EVERYONE: {Relation.SELF, Relation.APPROVED, Relation.MUTUAL, Relation.FOLLOWER, Relation.STRANGER},
}


def relation(*, cameo: Cameo, user_id: int) -> str:
    owner_id = cameo.owner_id
    if owner_id == user_id:
        return Relation.SELF
    if Block.objects.filter(Q(blocker_id=owner_id, blocked_id=user_id) | Q(blocker_id=user_id, blocked_id=owner_id)) \
            .exists():
        return Relation.BLOCKED
    grant = CameoGrant.objects.filter(cameo=cameo, user_id=user_id).values_list("status", flat=True).first()
    if grant in (GrantStatus.DENIED, GrantStatus.REVOKED):
        return Relation.DENIED
    if grant == GrantStatus.APPROVED:
        return Relation.APPROVED
    follows = Follow.objects.filter(follower_id=user_id, followee_id=owner_id).exists()
    if follows and Follow.objects.filter(follower_id=owner_id, followee_id=user_id).exists():
        return Relation.MUTUAL
    return Relation.FOLLOWER if follows else Relation.STRANGER


def _owner_active(cameo: Cameo) -> bool:
    """A deactivated owner (suspended, or deleting the account) lends the likeness to nobody."""
    return User.objects.filter(pk=cameo.owner_id, is_active=True).exists()


def may_use(*, cameo: Cameo, user_id: int) -> bool:
    return (cameo.usable and _owner_active(cameo) and relation(cameo=cameo, user_id=user_id) in ALLOWED[cameo.level]
            and not _teen_shielded(cameo, user_id))


def consent_problem(*, cameo: Cameo | None, user_id: int) -> str | None:
    """None when the user may use the cameo now, else the stable code of the refusal."""
    if cameo is None or cameo.status == CameoStatus.DELETED or not _owner_active(cameo):
        return "cameo_not_found"
    if not cameo.usable:
        return "cameo_not_verified"
    if relation(cameo=cameo, user_id=user_id) not in ALLOWED[cameo.level] or _teen_shielded(cameo, user_id):
        return "cameo_not_permitted"
    return None


def _teen_shielded(cameo: Cameo, user_id: int) -> bool:
    """A teen's likeness is not an adult stranger's to use, whatever level the teen chose."""
    owner = User.objects.select_related("market").get(pk=cameo.owner_id)
    actor = User.objects.select_related("market").filter(pk=user_id).first()
    return actor is not None and teen_shielded_from(user=owner, actor=actor)


def _refusal(code: str, cameo_id: Any) -> ApplicationError:
    messages = {
        "cameo_not_found": (_("No such cameo."), 404),
        "cameo_not_verified": (_("This cameo is not verified yet."), 409),
        "cameo_not_permitted": (_("You do not have permission to use this cameo."), 403),
    }
    message, status_code = messages[code]
    return ApplicationError(message, code=code, status_code=status_code,
                            fields={"cameo_ids": [{"code": code, "message": str(cameo_id)}]})


def cameos_check(*, user_id: int, cameo_ids: Iterable[Any], lock: bool = False) -> list[Cameo]:
    """The cameos, in the order given, when the user may use all of them; else the refusal.
    `lock`: take the cameo rows FOR UPDATE, so a revocation waits for (and then sees) what the
    caller writes in its transaction, or the caller waits for the revocation and sees it."""
    ids = list(dict.fromkeys(str(i) for i in cameo_ids))
    if len(ids) > MAX_CAMEOS_PER_VIDEO:
        message = _("A video can have at most %(count)d cameos.") % {"count": MAX_CAMEOS_PER_VIDEO}
        raise ApplicationError(message, code="too_many_cameos",
                               fields={"cameo_ids": [{"code": "too_many_cameos", "message": message}]})
    if not ids:
        return []
    qs = Cameo.objects.filter(pk__in=ids).order_by("pk")
    found = {str(c.pk): c for c in (qs.select_for_update(of=("self",)) if lock else qs)}
    cameos = []
    for cameo_id in ids:
        cameo = found.get(cameo_id)
        if (code := consent_problem(cameo=cameo, user_id=user_id)) is not None:
            raise _refusal(code, cameo_id)
        cameos.append(cameo)
    return cameos


def restriction_texts(cameos: Iterable[Cameo]) -> list[str]:
    return [c.restrictions for c in cameos if c.restrictions.strip()]


def purge_after_days() -> int:
    return settings.CAMEO_PURGE_AFTER_DAYS
