"""The App Store: Server Notifications V2 and StoreKit 2 transactions posted by the app.

Everything Apple signs is a JWS whose x5c chain must lead to one of the configured root
certificates (APPLE_ROOT_CERTIFICATES, Apple's root CA G3 in production), checked by Apple's
own `SignedDataVerifier` with the bundle id and environment. Only what verified is stored;
the state is derived from the signed transaction, renewal info and the notification's
`data.status`, and the notification's signing time orders states that arrive out of order.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import jwt
from appstoreserverlibrary.models.Environment import Environment
from appstoreserverlibrary.signed_data_verifier import SignedDataVerifier, VerificationException
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from django.conf import settings
from django.utils import timezone

from config.errors import ApplicationError
from config.parsers import JsonTooDeep, check_json_depth

from ..models import Store, StoreSubscription, WebhookAttempt
from . import webhooks
from .stores import StoreState, store_subscription_apply

logger = logging.getLogger(__name__)

# Verification is skipped by the library in Xcode and LocalTesting: never accepted here.
_ENVIRONMENTS = {"Production": Environment.PRODUCTION, "Sandbox": Environment.SANDBOX}
# data.status of a V2 notification.
_ACTIVE, _EXPIRED, _RETRY, _GRACE, _REVOKED = 1, 2, 3, 4, 5


class AppleNotConfigured(ApplicationError):
    status_code = 503
    code = "billing_not_configured"


class AppleTransactionInvalid(ApplicationError):
    code = "transaction_invalid"


def _der(path: str) -> bytes:
    data = Path(path).read_bytes()
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificate(data).public_bytes(Encoding.DER)
    return data


def apple_verifier() -> SignedDataVerifier:
    """The verifier for the configured app, or AppleNotConfigured (503)."""
    environment = _ENVIRONMENTS.get(settings.APPLE_ENVIRONMENT)
    if not settings.APPLE_BUNDLE_ID or not settings.APPLE_ROOT_CERTIFICATES or environment is None:
        raise AppleNotConfigured("The App Store is not set up on this server.")
    if environment == Environment.PRODUCTION and not settings.APPLE_APP_APPLE_ID:
        raise AppleNotConfigured("The App Store is not set up on this server (APPLE_APP_APPLE_ID).")
    roots = [_der(path) for path in settings.APPLE_ROOT_CERTIFICATES]
    return SignedDataVerifier(roots, settings.APPLE_ONLINE_CHECKS, environment, settings.APPLE_BUNDLE_ID,
                              settings.APPLE_APP_APPLE_ID or None)


def _claims(signed: str) -> dict:
    """The claims of a JWS the verifier has already accepted (plain JSON, for storage)."""
    return jwt.decode(signed, options={"verify_signature": False})


def _ms(value) -> datetime | None:
    return datetime.fromtimestamp(int(value) / 1000, tz=UTC) if value else None


def _verified_parts(verifier: SignedDataVerifier, data: dict) -> tuple[dict, dict]:
    transaction, renewal = {}, {}
    if data.get("signedTransactionInfo"):
        verifier.verify_and_decode_signed_transaction(data["signedTransactionInfo"])
        transaction = _claims(data["signedTransactionInfo"])
    if data.get("signedRenewalInfo"):
        verifier.verify_and_decode_renewal_info(data["signedRenewalInfo"])
        renewal = _claims(data["signedRenewalInfo"])
    return transaction, renewal


def apple_notification_receive(*, payload: bytes, remote_addr: str = "") -> webhooks.WebhookResult:
    """One App Store Server Notification V2 request: verify, store once, process (or 400/503)."""
    audit = {"payload": payload, "signature": None, "remote_addr": remote_addr}
    bad = webhooks.WebhookResult(400, WebhookAttempt.Outcome.BAD_SIGNATURE, code="signature_invalid",
                                 message="The notification is not signed by the App Store for this app.")
    try:
        verifier = apple_verifier()
    except AppleNotConfigured as exc:
        return webhooks._audit_rejected(webhooks.WebhookResult(503, WebhookAttempt.Outcome.NOT_CONFIGURED,
                                                               code=exc.code, message=exc.message), **audit)
    try:
        check_json_depth(payload.decode("utf-8"))
        signed = json.loads(payload)["signedPayload"]
        if not isinstance(signed, str):
            raise TypeError("signedPayload is not a string")
    except (JsonTooDeep, ValueError, KeyError, TypeError) as exc:
        return webhooks._audit_rejected(webhooks.WebhookResult(
            400, WebhookAttempt.Outcome.MALFORMED, code="payload_invalid",
            message="The body is not an App Store notification."), **audit, detail=repr(exc))
    try:
        verifier.verify_and_decode_notification(signed)
        notification = _claims(signed)
        transaction, renewal = _verified_parts(verifier, notification.get("data") or {})
    except VerificationException as exc:
        return webhooks._audit_rejected(bad, **audit, detail=str(exc))
    kind = notification.get("notificationType", "")
    if notification.get("subtype"):
        kind = f"{kind}.{notification['subtype']}"
    event_id = f"apple:{notification.get('notificationUUID', '')}"[:100]
    webhooks.event_store(
        event_id=event_id, source=Store.APPLE, type=kind,
        object_id=str(transaction.get("originalTransactionId") or ""), created=_ms(notification.get("signedDate")),
        payload={"notification": notification, "transaction": transaction, "renewal": renewal},
        livemode=(notification.get("data") or {}).get("environment") == "Production",
    )
    result = webhooks.stripe_event_process(event_id=event_id)
    return webhooks._audit(result, **audit, event_type=kind)


def _status(kind: str, subtype: str, data_status: int | None, transaction: dict, renewal: dict,
            now: datetime) -> str:
    Status = StoreSubscription.Status
    if kind in ("REFUND", "REVOKE") or (transaction.get("revocationDate") and not transaction.get("isUpgraded")):
        return Status.REVOKED
    if data_status == _GRACE or (kind == "DID_FAIL_TO_RENEW" and subtype == "GRACE_PERIOD"):
        return Status.GRACE
    if data_status == _REVOKED:
        return Status.REVOKED
    if data_status == _EXPIRED or kind in ("EXPIRED", "GRACE_PERIOD_EXPIRED"):
        return Status.EXPIRED
    if data_status == _RETRY or kind == "DID_FAIL_TO_RENEW":
        return Status.BILLING_RETRY
    expires = _ms(transaction.get("expiresDate"))
    if expires is not None and expires <= now:
        return Status.EXPIRED
    if renewal and renewal.get("autoRenewStatus") == 0:
        return Status.CANCELED
    return Status.ACTIVE


def _state(transaction: dict, renewal: dict, *, kind: str = "", subtype: str = "", data_status: int | None = None,
           signed_at: datetime | None = None) -> StoreState:
    status = _status(kind, subtype, data_status, transaction, renewal, timezone.now())
    return StoreState(
        store=Store.APPLE, store_key=str(transaction["originalTransactionId"]),
        product_id=str(transaction.get("productId") or ""), status=status,
        transaction_id=str(transaction.get("transactionId") or ""), expires_at=_ms(transaction.get("expiresDate")),
        period_start=_ms(transaction.get("purchaseDate")),
        state_at=signed_at or _ms(transaction.get("signedDate")) or timezone.now(),
        grace_until=_ms(renewal.get("gracePeriodExpiresDate")) if status == StoreSubscription.Status.GRACE else None,
        auto_renew=renewal.get("autoRenewStatus") == 1,
        renews_to_product_id=str(renewal.get("autoRenewProductId") or ""),
        environment=str(transaction.get("environment") or ""),
        account_token=str(transaction.get("appAccountToken") or ""),
        refunded=status == StoreSubscription.Status.REVOKED,
        # An upgraded-from transaction's period was replaced by the new one's (its credits stay).
        paid=not transaction.get("isUpgraded"),
        top_up_after=_ms(transaction.get("purchaseDate")),
        by_period=True,
    )


def apple_notification_handle(payload: dict) -> StoreSubscription | None:
    """Process a stored, verified notification (also a staff replay)."""
    notification, transaction = payload["notification"], payload["transaction"]
    kind, subtype = notification.get("notificationType", ""), notification.get("subtype", "")
    if kind == "CONSUMPTION_REQUEST":
        # Apple asks how much of a refunded purchase was used; we do not send consumption data.
        logger.info("billing.apple_consumption_request", extra={
            "transaction": transaction.get("transactionId"), "notification": notification.get("notificationUUID")})
        return None
    if not transaction.get("originalTransactionId") or transaction.get("type") not in (None,
                                                                                         "Auto-Renewable Subscription"):
        logger.info("billing.apple_notification_ignored", extra={"type": kind, "subtype": subtype})
        return None
    data = notification.get("data") or {}
    state = _state(transaction, payload.get("renewal") or {}, kind=kind, subtype=subtype,
                   data_status=data.get("status"), signed_at=_ms(notification.get("signedDate")))
    return store_subscription_apply(state=state)


def apple_transaction_submit(*, user_id: int, signed_transaction: str) -> StoreSubscription | None:
    """The app posts a StoreKit 2 transaction after a purchase: verify it and link it to the
    signed-in user (refused, 409, when it carries or already has another user)."""
    verifier = apple_verifier()
    try:
        verifier.verify_and_decode_signed_transaction(signed_transaction)
    except VerificationException as exc:
        logger.info("billing.apple_transaction_invalid", extra={"user_id": user_id, "status": exc.status.name})
        raise AppleTransactionInvalid("The transaction is not signed by the App Store for this app.") from exc
    transaction = _claims(signed_transaction)
    if not transaction.get("originalTransactionId"):
        raise AppleTransactionInvalid("The transaction has no original transaction id.")
    return store_subscription_apply(state=_state(transaction, {}), user_id=user_id)
