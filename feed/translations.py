"""Captions in the viewer's language, on request (`GET /api/v1/posts/{id}?translate=1`).

Translated through generation.translation's backend and cached per post and language in
`PostTranslation`; a caption edit deletes the post's translations (feed.services.post_update),
and a row whose caption hash no longer matches is redone. No translation (None) when the caption
is empty or already in the viewer's language, or the backend lacks the pair or failed: the
app then shows the original.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from generation.translation import TranslationFailed, UnsupportedPair, base_language, get_translation_backend

from .models import PostTranslation

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CaptionTranslation:
    language: str  # BCP 47, the viewer's
    source_language: str
    text: str
    backend: str


def _sha(caption: str) -> str:
    return hashlib.sha256(caption.encode()).hexdigest()


def caption_translation(*, post_id: int, caption: str, source: str, target: str, tag: str) -> CaptionTranslation | None:
    """`caption` of post `post_id` (in `source`) in `target` (a Django language code; `tag` its
    BCP 47 form), from the cache or the backend."""
    if not caption.strip() or not target or base_language(source) == base_language(target):
        return None
    digest = _sha(caption)
    cached = PostTranslation.objects.filter(post_id=post_id, language=target, caption_sha256=digest).first()
    if cached is not None:
        return CaptionTranslation(tag, source, cached.text, cached.backend)
    backend = get_translation_backend()
    try:
        text = backend.translate(caption, source=source or "en", target=target)
    except UnsupportedPair:
        return None
    except TranslationFailed as exc:
        logger.warning("feed.caption_translation_failed",
                       extra={"post_id": post_id, "target": target, "backend": backend.name, "error": str(exc)})
        return None
    try:
        with transaction.atomic():
            PostTranslation.objects.update_or_create(
                post_id=post_id, language=target,
                defaults={"caption_sha256": digest, "text": text, "backend": backend.name})
    except IntegrityError:  # a concurrent reader stored it first (or the post just went)
        pass
    return CaptionTranslation(tag, source, text, backend.name)


def translations_forget(*, post_id: int) -> None:
    """The caption changed: its translations are wrong now."""
    PostTranslation.objects.filter(post_id=post_id).delete()
