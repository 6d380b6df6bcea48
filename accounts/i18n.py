"""The language a person reads: used wherever text is rendered for someone who is not the
current request's caller (pushes, notification texts, emails)."""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import get_supported_language_variant


def user_language(user) -> str:
    """The user's own locale when the app supports it (or a variant of it), else the default."""
    tag = (getattr(user, "locale", "") or "").replace("_", "-")
    if tag:
        try:
            return get_supported_language_variant(tag)
        except LookupError:
            pass
    return settings.LANGUAGE_CODE
