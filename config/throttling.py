"""Rate limits: DRF throttles keyed on config.http.client_ip, with their counters in the cache.

DRF's own get_ident reads X-Forwarded-For whole when NUM_PROXIES is unset, so a client that
sends a fresh header on every request is a fresh client every time. Every throttle here takes
the address from client_ip instead. Rates are settings.THROTTLE_RATES (REST_FRAMEWORK
DEFAULT_THROTTLE_RATES), read on each request; a refused request answers 429 `throttled` with
Retry-After (config.errors).

A view names its action with `throttle_scope` and lists `ACTION_THROTTLES`: the action is then
limited per account (scope `likes`) and per client IP (scope `likes_ip`), on writes only, so the
reads of the same view (a comment list, a job list) stay free.
"""

from __future__ import annotations

from rest_framework import throttling
from rest_framework.permissions import SAFE_METHODS
from rest_framework.settings import api_settings

from config.http import client_ip


class ClientIpThrottleMixin:
    """The client address of config.http.client_ip, and the rates as the settings are now."""

    @property
    def THROTTLE_RATES(self) -> dict:  # noqa: N802 (DRF's attribute name)
        return api_settings.DEFAULT_THROTTLE_RATES

    def get_ident(self, request) -> str:
        return client_ip(request) or "unknown"


class ScopedRateThrottle(ClientIpThrottleMixin, throttling.ScopedRateThrottle):
    """DRF's ScopedRateThrottle (per account when signed in, else per client IP), on every method."""


class _ActionThrottle(ClientIpThrottleMixin, throttling.SimpleRateThrottle):
    """The view's `throttle_scope` plus `suffix` names the rate; safe methods are not counted."""

    suffix = ""

    def __init__(self) -> None:
        # The rate depends on the view, known only in allow_request (as in ScopedRateThrottle).
        pass

    def allow_request(self, request, view) -> bool:
        scope = getattr(view, "throttle_scope", None)
        if request.method in SAFE_METHODS or not scope:
            return True
        self.scope = f"{scope}{self.suffix}"
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)


class AccountActionThrottle(_ActionThrottle):
    """Per signed-in account; a request without one counts against its client IP."""

    def get_cache_key(self, request, view) -> str:
        user = getattr(request, "user", None)
        ident = f"user-{user.pk}" if user is not None and user.is_authenticated else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


class IpActionThrottle(_ActionThrottle):
    """Per client IP, whoever is signed in: many accounts driven from one address share it."""

    suffix = "_ip"

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


ACTION_THROTTLES = [AccountActionThrottle, IpActionThrottle]


class AdminLoginThrottle(ClientIpThrottleMixin, throttling.SimpleRateThrottle):
    """Sign-in attempts on the admin per client IP (config.admin.AdminSite.login)."""

    scope = "admin_login"

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
