"""Renditions on feed's side: a post's video in the viewer's language.

A rendition (generation.models.Rendition) is a subtitled, burned-in or dubbed copy of a post's
generation in another language, made by a localize job. Feed shows the succeeded ones of each
card's generation (read for a whole page in one query, `card_renditions`) and plays the one in the
viewer's language (`rendition_choose`), the original one tap away.

A rendition inherits its source's consent and moderation: cards are only built for posts the
viewer may see (feed.selectors), so a taken-down or removed post shows none, and the media view
refuses the files of a taken-down or removed post, its renditions' included (`media_refused`,
registered with config.media).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any, Iterable

from django.db.models import Q

from generation.models import GenerationJob, Rendition
from generation.selectors import renditions_for_sources
from generation.translation import base_language

from .models import Post, PostStatus

# Posts whose files are not served any more: staff removed them, or a cameo's consent took them
# down. Hidden (reported, pending review) and deleted (a tombstone; its generation is its author's
# draft again) posts keep their files.
MEDIA_REFUSED_STATUSES = (PostStatus.TAKEN_DOWN, PostStatus.REMOVED)


@dataclass(slots=True, frozen=True)
class CardRendition:
    language: str  # BCP 47, as stored: es, pt-BR, zh-Hans
    dubbed: bool
    burned_in: bool
    video: str  # storage names
    subtitles: str


def card_renditions(generation_ids: Iterable[Any]) -> dict[Any, list[CardRendition]]:
    """The succeeded renditions of each generation, one per language (the newest), sorted by
    language; one query whatever the number of generations, none without any."""
    ids = [i for i in generation_ids if i is not None]
    if not ids:
        return {}
    return {source: sorted((CardRendition(r.language, r.dubbed, r.burned_in, r.video.name or "",
                                          r.subtitles.name or "")
                            for r in found if r.video), key=lambda r: r.language.lower())
            for source, found in renditions_for_sources(ids).items()}


def rendition_choose(renditions: list[CardRendition], language: str | None) -> CardRendition | None:
    """The rendition to play for a viewer reading `language` (a Django code like `pt-br`, or a
    BCP 47 tag), or None for the original. The closest language wins: the exact tag (compared
    case-insensitively, so `pt-br` is `pt-BR`), else the base language (`pt` for `pt-BR`); between
    two as close (tags that differ only in case), a dubbed one beats a subtitled one."""
    if not language or not renditions:
        return None
    wanted = language.replace("_", "-").lower()
    base = base_language(wanted)
    best, best_rank = None, None
    for rendition in renditions:
        tag = rendition.language.lower()
        closeness = 0 if tag == wanted else 1 if tag == base else None
        if closeness is None:
            continue
        rank = (closeness, not rendition.dubbed)
        if best_rank is None or rank < best_rank:
            best, best_rank = rendition, rank
    return best


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


def media_refused(name: str) -> bool:
    """Whether `name` is a file (video, poster, a rendition's video or subtitles) of a taken-down or
    removed post. Generations store their files under a folder named by the job's id (and a
    localize job its renditions' under its own, or the rendition's), so the lookup goes by the ids
    in the path, through primary and foreign keys: other files (avatars, covers) cost no query."""
    ids = []
    for found in _UUID.findall(name):
        try:
            ids.append(uuid.UUID(found))
        except ValueError:
            continue
    if not ids:
        return False
    down = Post.objects.filter(status__in=MEDIA_REFUSED_STATUSES)
    original = GenerationJob.objects.filter(Q(video=name) | Q(poster=name), pk__in=ids,
                                            post__in=down)
    rendition = Rendition.objects.filter(Q(video=name) | Q(subtitles=name),
                                         Q(job_id__in=ids) | Q(pk__in=ids) | Q(source_job_id__in=ids),
                                         source_job__post__in=down)
    return original.exists() or rendition.exists()
