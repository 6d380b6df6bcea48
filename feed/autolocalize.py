"""Auto-localise: a post's author names markets (`Post.localize_markets`), and the post's video is
localised into those markets' languages (subtitles only: the cheapest rendition, which every
viewer can use), by one localize job charged to the author, submitted after the post's
transaction commits. Languages already rendered, or on their way, are skipped; so are languages
the configured stages cannot make (they are logged, and nothing is charged for them).
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import Market
from config.errors import ApplicationError
from generation.localization.pipeline import get_transcriber, supported_pair
from generation.models import JobKind, JobStatus, Rendition
from generation.selectors import renditions_for_sources
from generation.services import localization_submit
from generation.services.localization import canonical_language, supported_languages

from .models import Post

logger = logging.getLogger(__name__)

MAX_MARKETS = 20


def localize_markets_check(codes: list[Any]) -> list[str]:
    """The market codes, each an accounts Market (deduplicated, in the order given); else a 400
    `market_invalid` naming the unknown ones."""
    wanted = list(dict.fromkeys(str(c) for c in codes))
    known = set(Market.objects.filter(code__in=wanted).values_list("code", flat=True))
    unknown = [c for c in wanted if c not in known]
    if unknown or len(wanted) > MAX_MARKETS:
        message = _("Unknown markets: %(codes)s.") % {"codes": ", ".join(unknown[:5])} if unknown else \
            _("Name at most %(count)d markets.") % {"count": MAX_MARKETS}
        raise ApplicationError(message, code="market_invalid",
                               fields={"localize_markets": [{"code": "market_invalid", "message": message}]})
    return wanted


def _languages_wanted(post: Post, source_language: str) -> list[str]:
    languages: list[str] = []
    for market in Market.objects.filter(code__in=post.localize_markets).order_by("code"):
        for code in market.languages or []:
            tag = canonical_language(str(code))
            if tag in supported_languages() and tag != source_language and tag not in languages:
                languages.append(tag)
    return languages


def post_autolocalize(*, post_id: int) -> Any:
    """Submit the localize job the post's markets ask for, if any language is missing. Returns the
    job, or None. A refusal (the author's credits, a busy queue) is logged, not raised: the post
    stands, and the next change of its markets tries again."""
    post = Post.objects.select_related("author", "generation").filter(pk=post_id).first()
    if post is None or not post.localize_markets or post.generation is None:
        return None
    source = post.generation
    if source.kind == JobKind.LOCALIZE or source.status != JobStatus.SUCCEEDED or not source.video:
        return None
    language = canonical_language(post.language or "en")
    source_language = language if language in supported_languages() else "en"
    have = {r.language for r in renditions_for_sources([source.pk]).get(source.pk, [])}
    have |= set(Rendition.objects.filter(source_job=source, status="pending",
                                         job__status__in=(JobStatus.QUEUED, JobStatus.RUNNING))
                .values_list("language", flat=True))
    wanted = [tag for tag in _languages_wanted(post, source_language) if tag not in have]
    possible = [tag for tag in wanted if supported_pair(source_language, tag)]
    if len(possible) < len(wanted):
        logger.info("feed.autolocalize_unsupported", extra={"post_id": post.pk, "source": source_language,
                                                            "skipped": sorted(set(wanted) - set(possible))})
    if not possible or not get_transcriber().supports(source_language):
        return None
    try:
        job, __ = localization_submit(user=post.author, source_job=source, source_language=source_language,
                                      languages=possible, idempotency_key=f"autolocalize:{post.pk}:{'+'.join(possible)}"[:128])
    except ApplicationError as exc:
        logger.info("feed.autolocalize_refused", extra={"post_id": post.pk, "code": exc.code})
        return None
    logger.info("feed.autolocalize_submitted", extra={"post_id": post.pk, "job_id": str(job.pk),
                                                      "languages": possible})
    return job


def post_autolocalize_on_commit(post: Post) -> None:
    if post.localize_markets:
        post_id = post.pk
        transaction.on_commit(lambda: post_autolocalize(post_id=post_id))
