"""The one place that builds the Stripe client, from settings.

Everything talks to Stripe through `stripe_client()`, a real `stripe.StripeClient`
over HTTP: Stripe itself in production, a local fake in tests (STRIPE_API_BASE).
"""

from __future__ import annotations

import json
import threading
from typing import Any

import stripe
from django.conf import settings
from rest_framework import status

from config.errors import ApplicationError

_clients: dict[tuple, stripe.StripeClient] = {}
_lock = threading.Lock()


class BillingNotConfigured(ApplicationError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    code = "billing_not_configured"


class BillingUnavailable(ApplicationError):
    """Stripe could not be reached or answered with an error we cannot fix for the user."""

    status_code = status.HTTP_502_BAD_GATEWAY
    code = "billing_unavailable"


def stripe_configured() -> bool:
    return bool(settings.STRIPE_SECRET_KEY)


def require_stripe() -> None:
    if not stripe_configured():
        raise BillingNotConfigured("Payments are not set up on this server.")


def stripe_client() -> stripe.StripeClient:
    require_stripe()
    # Settings can differ between calls (tests point them at a fake): one client per configuration.
    key = (settings.STRIPE_SECRET_KEY, settings.STRIPE_API_BASE, settings.STRIPE_TIMEOUT,
           settings.STRIPE_MAX_NETWORK_RETRIES)
    with _lock:
        client = _clients.get(key)
        if client is None:
            client = stripe.StripeClient(
                settings.STRIPE_SECRET_KEY,
                base_addresses={"api": settings.STRIPE_API_BASE},
                # The library retries network errors and 409/5xx itself, reusing the idempotency key.
                max_network_retries=settings.STRIPE_MAX_NETWORK_RETRIES,
                http_client=stripe.RequestsClient(timeout=settings.STRIPE_TIMEOUT),
            )
            _clients[key] = client
    return client


def plain(obj: Any) -> Any:
    """A Stripe object (or a webhook payload dict) as plain dicts and lists."""
    if isinstance(obj, stripe.StripeObject):
        # str() is the library's own JSON rendering; to_dict() is deprecated and shallow.
        return json.loads(str(obj))
    return obj
