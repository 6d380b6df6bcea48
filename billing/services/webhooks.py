"""Stripe webhooks: verify, store once, process once, record failures, replay.

1. The signature is checked on the raw body with Stripe's own verifier and its
   5-minute tolerance, before the body is parsed. A missing, wrong or stale
   signature changes nothing. Every signed request leaves an audit row
   (WebhookAttempt); unsigned ones (anyone can send them) leave one only up to
   BILLING_WEBHOOK_REJECTED_AUDIT_PER_MINUTE a minute, and beyond that a log line
   with the minute's count, so a flood of forged calls cannot fill the table.
2. The event is stored once: its id is unique, so concurrent copies insert one row.
3. Processing holds that row's lock: copies arriving together wait, then find it
   processed and return 200 doing nothing. A handler's failure rolls back its own
   effects (a savepoint), is recorded with its traceback, and answers 500 so Stripe
   retries; staff can replay a stored event from the admin.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import stripe
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from config.parsers import JsonTooDeep, check_json_depth, null_character_path

from ..models import StripeEvent, WebhookAttempt
from . import subscriptions

logger = logging.getLogger(__name__)

# Stripe's own default: a signature older than this is refused (replayed captures).
SIGNATURE_TOLERANCE_SECONDS = stripe.Webhook.DEFAULT_TOLERANCE


def _subscription(obj: dict) -> None:
    subscriptions.subscription_sync(stripe_subscription_id=obj["id"], stripe_customer_id=obj["customer"])


def _invoice_failed(obj: dict) -> None:
    sub_id = subscriptions._invoice_subscription_id(obj)
    if sub_id and obj.get("customer"):
        subscriptions.subscription_sync(stripe_subscription_id=sub_id, stripe_customer_id=obj["customer"])


HANDLERS: dict[str, Callable[[dict], object]] = {
    "checkout.session.completed": lambda obj: subscriptions.checkout_completed(session=obj),
    "checkout.session.async_payment_succeeded": lambda obj: subscriptions.checkout_completed(session=obj),
    "checkout.session.expired": lambda obj: subscriptions.checkout_expired(session=obj),
    "customer.subscription.created": _subscription,
    "customer.subscription.updated": _subscription,
    "customer.subscription.deleted": _subscription,
    "customer.subscription.paused": _subscription,
    "customer.subscription.resumed": _subscription,
    "invoice.paid": lambda obj: subscriptions.invoice_paid(invoice=obj),
    "invoice.payment_failed": _invoice_failed,
    "charge.refunded": lambda obj: subscriptions.charge_refunded(charge_id=obj["id"]),
}


@dataclass(frozen=True)
class WebhookResult:
    http_status: int
    outcome: str
    event_id: str = ""
    code: str = ""
    message: str = ""


def _audit(result: WebhookResult, *, payload: bytes, signature: str | None, remote_addr: str, event_type: str = "",
           detail: str = "") -> WebhookResult:
    WebhookAttempt.objects.create(
        outcome=result.outcome, http_status=result.http_status, event_id=result.event_id[:100],
        event_type=event_type[:100], signature_header=_text(signature or "", 500),
        body_sha256=hashlib.sha256(payload).hexdigest(), body_bytes=len(payload), remote_addr=_text(remote_addr, 64),
        detail=_text(detail or result.message, 500),
    )
    return result


def _text(value: str, length: int) -> str:
    # Headers are the sender's: PostgreSQL refuses a NUL in text.
    return value.replace("\x00", "\ufffd")[:length]


def _minute() -> int:
    return int(time.time() // 60)


def _audit_rejected(result: WebhookResult, *, payload: bytes, signature: str | None, remote_addr: str,
                    detail: str = "") -> WebhookResult:
    """The audit row of a call refused before its signature held, while this minute has room."""
    key = f"billing:webhook-rejected:{_minute()}"
    cache.add(key, 0, timeout=120)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        count = 1
    if count <= settings.BILLING_WEBHOOK_REJECTED_AUDIT_PER_MINUTE:
        return _audit(result, payload=payload, signature=signature, remote_addr=remote_addr, detail=detail)
    logger.warning("billing.webhook_rejected", extra={
        "outcome": result.outcome, "http_status": result.http_status, "remote_addr": remote_addr,
        "body_bytes": len(payload), "rejected_this_minute": count})
    return result


def stripe_webhook_receive(*, payload: bytes, signature: str | None, remote_addr: str = "") -> WebhookResult:
    """Handle one webhook request. Returns the status to answer and what happened."""
    audit = {"payload": payload, "signature": signature, "remote_addr": remote_addr}
    secret = settings.STRIPE_WEBHOOK_SECRET
    malformed = WebhookResult(400, WebhookAttempt.Outcome.MALFORMED, code="payload_invalid",
                              message="The payload is not a Stripe event.")
    if not settings.STRIPE_SECRET_KEY or not secret:
        return _audit_rejected(WebhookResult(503, WebhookAttempt.Outcome.NOT_CONFIGURED,
                                             code="billing_not_configured",
                                             message="Payments are not set up on this server."), **audit)
    if not signature:
        return _audit_rejected(WebhookResult(400, WebhookAttempt.Outcome.MISSING_SIGNATURE, code="signature_missing",
                                             message="The Stripe-Signature header is missing."), **audit)
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:  # what Stripe signs is UTF-8: this one is not Stripe's
        return _audit_rejected(malformed, **audit, detail=repr(exc))
    try:
        # Only the signature: stripe.Webhook.construct_event would also parse the body into
        # StripeObjects, recursively, however deep it is.
        stripe.WebhookSignature.verify_header(text, signature, secret, SIGNATURE_TOLERANCE_SECONDS)
    except stripe.SignatureVerificationError as exc:
        return _audit_rejected(WebhookResult(400, WebhookAttempt.Outcome.BAD_SIGNATURE, code="signature_invalid",
                                             message="The signature does not match or is too old."), **audit,
                               detail=str(exc))
    try:
        check_json_depth(text)
        event = json.loads(text)
        event_id, event_type = str(event["id"]), str(event["type"])
        if not isinstance(event["data"]["object"], dict):
            raise TypeError("data.object is not an object")
        if null_character_path(event) is not None:  # jsonb and text columns refuse NUL
            raise ValueError("a NUL character in the event")
    except (JsonTooDeep, ValueError, KeyError, TypeError) as exc:
        return _audit(malformed, **audit, detail=repr(exc))

    _store(event)
    result = stripe_event_process(event_id=event_id)
    return _audit(result, **audit, event_type=event_type)


def _store(event: dict) -> StripeEvent:
    obj = event["data"]["object"]
    return event_store(
        event_id=event["id"], source="stripe", type=event["type"],
        object_id=str(obj.get("id") or "") if isinstance(obj, dict) else "",
        created=datetime.fromtimestamp(int(event["created"]), tz=UTC) if event.get("created") else None,
        payload=event, api_version=str(event.get("api_version") or ""), livemode=bool(event.get("livemode")),
    )


def event_store(*, event_id: str, source: str, type: str, object_id: str, payload: dict,
                created: datetime | None = None, api_version: str = "", livemode: bool = False) -> StripeEvent:
    """Insert a verified notification of any store unless it is there (autocommit, so
    concurrent copies see it at once). The stores' notifications use it too."""
    defaults = {"source": source, "type": type[:100], "api_version": api_version[:40], "livemode": livemode,
                "object_id": object_id[:100], "stripe_created": created, "payload": payload}
    try:
        stored, __ = StripeEvent.objects.get_or_create(event_id=event_id, defaults=defaults)
    except IntegrityError:
        stored = StripeEvent.objects.get(event_id=event_id)
    return stored


def _handler_for(event: StripeEvent) -> Callable[[], object] | None:
    """What processes a stored event: Stripe's handler by type, a store's by source."""
    if event.source == "stripe":
        handler = HANDLERS.get(event.type)
        return None if handler is None else (lambda: handler(event.payload["data"]["object"]))
    from .stores import store_handler  # the stores build on this module

    handle = store_handler(event.source)
    return None if handle is None else (lambda: handle(event.payload))


def stripe_event_process(*, event_id: str, force: bool = False, staff_id: int | None = None) -> WebhookResult:
    """Process a stored event once (or again with `force`, for a staff replay), of any store."""
    with transaction.atomic():
        event = StripeEvent.objects.select_for_update().get(event_id=event_id)
        done = (StripeEvent.Status.PROCESSED, StripeEvent.Status.IGNORED)
        if event.status in done and not force:
            return WebhookResult(200, WebhookAttempt.Outcome.DUPLICATE, event_id=event_id)
        event.attempts += 1
        event.replayed_by_id = staff_id or event.replayed_by_id
        handler = _handler_for(event)
        if handler is None:
            event.status = StripeEvent.Status.IGNORED
            event.processed_at = timezone.now()
            event.save()
            return WebhookResult(200, WebhookAttempt.Outcome.IGNORED, event_id=event_id)
        try:
            with transaction.atomic():
                handler()
        # Any failure of a handler, whatever it is, must be recorded and answered with a
        # 5xx so Stripe retries: this is the boundary where it stops propagating.
        except Exception as exc:  # noqa: BLE001
            event.status = StripeEvent.Status.FAILED
            event.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            event.traceback = traceback.format_exc()
            event.save()
            logger.exception("billing.webhook_failed", extra={"event_id": event_id, "type": event.type,
                                                              "attempts": event.attempts})
            return WebhookResult(500, WebhookAttempt.Outcome.FAILED, event_id=event_id, code="webhook_failed",
                                 message="Processing failed; it will be retried.")
        event.status = StripeEvent.Status.PROCESSED
        event.processed_at = timezone.now()
        event.last_error = ""
        event.save()
    logger.info("billing.webhook_processed", extra={"event_id": event_id, "type": event.type,
                                                    "attempts": event.attempts, "replay": force})
    return WebhookResult(200, WebhookAttempt.Outcome.PROCESSED, event_id=event_id)


def stripe_event_replay(*, event_id: str, staff_id: int) -> WebhookResult:
    """Staff: run a stored event's handler again (handlers are idempotent: grants are keyed,
    state is re-fetched from Stripe)."""
    logger.info("billing.webhook_replay", extra={"event_id": event_id, "staff_id": staff_id})
    return stripe_event_process(event_id=event_id, force=True, staff_id=staff_id)
