"""Cameo consent on feed's side: posts that lack it are taken down, remixes down the tree
included (a remix keeps its source's cameos, so it carries them itself), and come back when
consent is restored; and the owner's view of every job, draft and post using their cameo."""

from __future__ import annotations

import logging
from typing import Any

from accounts.cameos.consent import consent_problem
from accounts.cameos.models import Cameo
from accounts.notifications import notify
from generation.models import GenerationJob

from .models import ModerationAction, Post, PostStatus

logger = logging.getLogger(__name__)

TAKEDOWN_PREFIX = "cameo_consent:"


def _post_lacks_consent(post: Post) -> bool:
    job = post.generation
    return job is not None and any(consent_problem(cameo=c, user_id=post.author_id) is not None
                                   for c in job.cameos.all())


def posts_consent_sync(*, cameo: Cameo, reason: str) -> dict[str, int]:
    """Hooked to accounts.cameos, inside the transaction that changed consent (cameo locked):
    active or hidden posts using the cameo whose authors lack consent now are taken down, and
    posts taken down for a cameo whose authors have consent for all their cameos again are back."""
    posts = (Post.objects.select_for_update(of=("self",)).filter(generation__cameos=cameo)
             .select_related("generation").order_by("pk"))
    down = up = 0
    for post in posts:
        if post.status in (PostStatus.ACTIVE, PostStatus.HIDDEN) and _post_lacks_consent(post):
            post.status, post.takedown_reason = PostStatus.TAKEN_DOWN, f"{TAKEDOWN_PREFIX}{cameo.pk}"
            post.save(update_fields=["status", "takedown_reason", "updated_at"])
            ModerationAction.objects.create(post=post, action=ModerationAction.Action.CAMEO_TAKEDOWN,
                                            reason=f"{reason} cameo={cameo.pk}")
            notify(user_id=post.author_id, type="cameo.post_taken_down", target=f"post:{post.pk}",
                   data={"post_id": post.pk, "cameo_id": str(cameo.pk)})
            down += 1
        elif (post.status == PostStatus.TAKEN_DOWN and post.takedown_reason.startswith(TAKEDOWN_PREFIX)
              and not _post_lacks_consent(post)):
            post.status, post.takedown_reason = PostStatus.ACTIVE, ""
            post.save(update_fields=["status", "takedown_reason", "updated_at"])
            ModerationAction.objects.create(post=post, action=ModerationAction.Action.CAMEO_RESTORE,
                                            reason=f"{reason} cameo={cameo.pk}")
            up += 1
    if down or up:
        logger.info("feed.cameo_posts_synced", extra={"cameo_id": str(cameo.pk), "taken_down": down,
                                                      "restored": up, "reason": reason})
    return {"taken_down": down, "restored": up}


def cameo_appearances(*, cameo: Cameo) -> list[dict[str, Any]]:
    """Every job (drafts included) and post that carries the cameo, newest first."""
    jobs = (GenerationJob.objects.filter(cameos=cameo).select_related("user", "post")
            .order_by("-created_at", "-pk")[:500])
    rows = []
    for job in jobs:
        post = getattr(job, "post", None)
        rows.append({"job_id": job.pk, "user": job.user.handle, "status": job.status, "created_at": job.created_at,
                     "post_id": post.pk if post else None, "post_status": post.status if post else None})
    return rows
