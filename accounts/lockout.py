"""Sign-in lockout per account, through django-axes (the AXES_* settings).

Every password sign-in, the API's (accounts.services.user_authenticate) and the admin's form,
goes through django.contrib.auth.authenticate. Its first backend, axes' AxesStandaloneBackend,
refuses an account that has AXES_FAILURE_LIMIT failed attempts within the cool-off, from any
number of addresses, before any password is checked: the right password is refused too. Axes
records each failure from Django's user_login_failed signal, as AccessAttempt rows keyed on the
account (lockout_username). The lock ends when the cool-off has passed since the last failure,
when the account signs in successfully before the limit, or when staff unlock it
(accounts.services.user_unlock_sign_in, or deleting its rows in the admin's Axes pages).
"""

from __future__ import annotations

import math

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_cool_off
from axes.models import AccessAttempt
from django.db.models import Max
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.translation import ngettext

from config.errors import TooManyRequests, error_body

# AccessAttempt.username's length.
_USERNAME_MAX_LENGTH = 255


class AccountLocked(TooManyRequests):
    code = "account_locked"


def lockout_username(request: HttpRequest, credentials: dict | None = None) -> str | None:
    """The account an attempt is for, as axes counts it (AXES_USERNAME_CALLABLE): the email,
    trimmed and lower-cased, so `Bo@example.com ` and `bo@example.com` are one account. The API
    passes `email`; the admin's form `username`; without credentials the request body is read."""
    source = credentials or getattr(request, "data", None) or request.POST
    value = (source.get("email") or source.get("username")) if hasattr(source, "get") else None
    if not isinstance(value, str) or not value.strip():
        return None
    return email_key(value)


def email_key(email: str) -> str:
    return email.strip().lower()[:_USERNAME_MAX_LENGTH]


def lock_seconds_left(username: str | None) -> int:
    """Seconds until a locked account may try again: the cool-off from its latest recorded
    failure (attempts during the lock are not recorded, so they do not move it)."""
    cool_off = get_cool_off()
    latest = AccessAttempt.objects.filter(username=username).aggregate(latest=Max("attempt_time"))["latest"]
    if latest is None:
        return math.ceil(cool_off.total_seconds())
    return max(1, math.ceil((latest + cool_off - timezone.now()).total_seconds()))


def account_locked(username: str | None) -> AccountLocked:
    seconds = lock_seconds_left(username)
    minutes = math.ceil(seconds / 60)
    return AccountLocked(
        ngettext("Too many failed sign-ins: this account is locked. Try again in %(minutes)d minute.",
                 "Too many failed sign-ins: this account is locked. Try again in %(minutes)d minutes.", minutes)
        % {"minutes": minutes},
        retry_after=seconds,
    )


def lockout_clear(*, email: str) -> int:
    """Forget the failed attempts of the account with `email` (unlocks it); returns how many rows."""
    return AxesProxyHandler.reset_attempts(username=email_key(email))


def lockout_response(request: HttpRequest, original_response: HttpResponse | None = None,
                     credentials: dict | None = None) -> HttpResponse:
    """What AxesMiddleware answers when a sign-in was refused or caused a lock (AXES_LOCKOUT_CALLABLE):
    the admin's form gets this page; the API raises AccountLocked in its service and answers in
    the error shape, as here should any other API path reach it."""
    locked = account_locked(lockout_username(request, credentials))
    headers = {"Retry-After": str(locked.retry_after)}
    if request.path.startswith("/api/"):
        body = error_body(locked.code, locked.message)
        body["error"]["retry_after"] = locked.retry_after
        return JsonResponse(body, status=locked.status_code, headers=headers)
    return HttpResponse(locked.message, status=locked.status_code, headers=headers,
                        content_type="text/plain; charset=utf-8")
