"""The language a person reads.

A response is in the signed-in user's `locale`, else the request's `Accept-Language`, else the
first language of the user's market, else LANGUAGE_CODE; `Content-Language` says which.
`LocaleMiddleware` (after AuthenticationMiddleware) decides it for session users (the admin)
and anonymous callers; API callers sign in with a JWT inside the DRF view, after every
middleware ran, so `accounts.authentication.JWTAuthentication` calls `activate_for_user` the
moment it knows the user (before any permission check, parsing or handler runs).

`user_language(user)` is the same choice without a request: for texts rendered for someone
who is not the caller (pushes, notification texts, emails), used with
`translation.override(user_language(user))`.
"""

from __future__ import annotations

from django.conf import settings
from django.middleware.locale import LocaleMiddleware as DjangoLocaleMiddleware
from django.utils import translation
from django.utils.translation import get_supported_language_variant
from django.utils.translation.trans_real import parse_accept_lang_header

# Set on the Django request by the middleware: the language Accept-Language asked for, when
# the app supports it (None otherwise), so a JWT user's market applies only without one.
_ACCEPTED = "_accepted_language"


def supported(tag: str | None) -> str | None:
    """The supported language code (settings.LANGUAGES) for a BCP 47 tag or locale, or None.
    A region or script the app lacks maps to the base language or a sibling variant
    (pt-PT -> pt-br, zh-CN -> zh-hans, es-MX -> es)."""
    tag = (tag or "").strip().replace("_", "-")
    if not tag or len(tag) > 35:
        return None
    try:
        return get_supported_language_variant(tag.lower())
    except LookupError:
        return None


def market_language(user) -> str | None:
    market = getattr(user, "market", None) if getattr(user, "market_id", None) else None
    for code in (market.languages if market is not None else []):
        if found := supported(code):
            return found
    return None


def user_language(user) -> str:
    """The user's own locale when the app supports it (or a variant of it), else their market's
    first supported language, else the default. Always a code of settings.LANGUAGES."""
    return supported(getattr(user, "locale", "")) or market_language(user) or settings.LANGUAGE_CODE


def bcp47(code: str) -> str:
    """Django's lowercase code as a BCP 47 tag: pt-br -> pt-BR, zh-hans -> zh-Hans."""
    base, _, rest = code.partition("-")
    if not rest:
        return base
    return f"{base}-{rest.upper() if len(rest) == 2 else rest.title()}"


def accepted_language(request) -> str | None:
    for tag, _q in parse_accept_lang_header(request.META.get("HTTP_ACCEPT_LANGUAGE", "")):
        if tag != "*" and (found := supported(tag)):
            return found
    return None


def _choose(request, user) -> str:
    if user is not None and getattr(user, "is_authenticated", False):
        if found := supported(user.locale):
            return found
    accepted = getattr(request, _ACCEPTED, None)
    if accepted:
        return accepted
    if user is not None and getattr(user, "is_authenticated", False):
        if found := market_language(user):
            return found
    return settings.LANGUAGE_CODE


def activate_for_user(request, user) -> None:
    """Called once a token signed `user` in: their language from here to the response."""
    request = getattr(request, "_request", request)  # DRF's Request wraps Django's
    language = _choose(request, user)
    translation.activate(language)
    request.LANGUAGE_CODE = language


class LocaleMiddleware(DjangoLocaleMiddleware):
    """Django's, choosing as described above, and with `Content-Language` as a BCP 47 tag."""

    def process_request(self, request):
        setattr(request, _ACCEPTED, accepted_language(request))
        language = _choose(request, getattr(request, "user", None))
        translation.activate(language)
        request.LANGUAGE_CODE = language

    def process_response(self, request, response):
        response = super().process_response(request, response)
        response.headers["Content-Language"] = bcp47(translation.get_language() or settings.LANGUAGE_CODE)
        return response
