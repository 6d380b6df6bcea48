"""Google Play: real-time developer notifications (Pub/Sub push) and purchase tokens posted
by the app.

A push request is Pub/Sub's only if its OIDC token (Authorization: Bearer) verifies with
google-auth against Google's certificates (GOOGLE_PUBSUB_CERTS_URL), for our audience,
signed for our push service account. The message itself only names a purchase token: the
state is always fetched from the Play Developer API (`purchases.subscriptionsv2.get`), so
the order notifications arrive in does not matter; new purchases are acknowledged (Google
refunds unacknowledged ones after three days).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from datetime import datetime

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from config.errors import ApplicationError
from config.parsers import JsonTooDeep, check_json_depth

from ..google_api import play_api
from ..models import Store, StoreSubscription, WebhookAttempt
from . import webhooks
from .stores import StoreState, store_subscription_apply

logger = logging.getLogger(__name__)

_STATES = {
    "SUBSCRIPTION_STATE_ACTIVE": StoreSubscription.Status.ACTIVE,
    "SUBSCRIPTION_STATE_CANCELED": StoreSubscription.Status.CANCELED,
    "SUBSCRIPTION_STATE_IN_GRACE_PERIOD": StoreSubscription.Status.GRACE,
    "SUBSCRIPTION_STATE_ON_HOLD": StoreSubscription.Status.ON_HOLD,
    "SUBSCRIPTION_STATE_PAUSED": StoreSubscription.Status.PAUSED,
    "SUBSCRIPTION_STATE_EXPIRED": StoreSubscription.Status.EXPIRED,
    "SUBSCRIPTION_STATE_PENDING": StoreSubscription.Status.PENDING,
    "SUBSCRIPTION_STATE_PENDING_PURCHASE_CANCELED": StoreSubscription.Status.EXPIRED,
}
_ACKNOWLEDGE = {StoreSubscription.Status.ACTIVE, StoreSubscription.Status.CANCELED, StoreSubscription.Status.GRACE}
_ISSUERS = {"accounts.google.com", "https://accounts.google.com"}


class GoogleNotConfigured(ApplicationError):
    status_code = 503
    code = "billing_not_configured"


class PurchaseInvalid(ApplicationError):
    code = "purchase_invalid"


class GoogleUnavailable(ApplicationError):
    status_code = 502
    code = "billing_unavailable"


def _require() -> None:
    if not settings.GOOGLE_PLAY_PACKAGE_NAME:
        raise GoogleNotConfigured("Google Play is not set up on this server.")


def _verify_push_token(authorization: str | None) -> dict:
    """The push request's OIDC claims, or ValueError."""
    from google.auth import exceptions as google_exceptions
    from google.auth.transport import requests as google_requests
    from google.oauth2 import id_token

    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ValueError("no bearer token")
    try:
        claims = id_token.verify_token(token, google_requests.Request(), audience=settings.GOOGLE_PUBSUB_AUDIENCE,
                                       certs_url=settings.GOOGLE_PUBSUB_CERTS_URL)
    except (google_exceptions.GoogleAuthError, ValueError) as exc:
        raise ValueError(f"token rejected: {exc}") from exc
    if claims.get("iss") not in _ISSUERS:
        raise ValueError("wrong issuer")
    if claims.get("email") != settings.GOOGLE_PUBSUB_SERVICE_ACCOUNT or not claims.get("email_verified"):
        raise ValueError("not our push service account")
    return claims


def google_notification_receive(*, payload: bytes, authorization: str | None,
                                remote_addr: str = "") -> webhooks.WebhookResult:
    """One Pub/Sub push: verify its token, store the message once, process it."""
    audit = {"payload": payload, "signature": (authorization or "")[:40], "remote_addr": remote_addr}
    if not settings.GOOGLE_PLAY_PACKAGE_NAME or not settings.GOOGLE_PUBSUB_AUDIENCE \
            or not settings.GOOGLE_PUBSUB_SERVICE_ACCOUNT:
        return webhooks._audit_rejected(webhooks.WebhookResult(
            503, WebhookAttempt.Outcome.NOT_CONFIGURED, code="billing_not_configured",
            message="Google Play is not set up on this server."), **audit)
    try:
        _verify_push_token(authorization)
    except ValueError as exc:
        outcome, code = ((WebhookAttempt.Outcome.MISSING_SIGNATURE, "signature_missing") if not authorization
                         else (WebhookAttempt.Outcome.BAD_SIGNATURE, "signature_invalid"))
        return webhooks._audit_rejected(webhooks.WebhookResult(
            400, outcome, code=code, message="The push is not from our Pub/Sub subscription."), **audit,
            detail=str(exc)[:500])
    try:
        check_json_depth(payload.decode("utf-8"))
        message = json.loads(payload)["message"]
        message_id = str(message["messageId"])
        data = json.loads(base64.b64decode(message["data"], validate=True))
        if not isinstance(data, dict):
            raise TypeError("data is not an object")
    except (JsonTooDeep, ValueError, KeyError, TypeError, binascii.Error) as exc:
        return webhooks._audit(webhooks.WebhookResult(
            400, WebhookAttempt.Outcome.MALFORMED, code="payload_invalid",
            message="The body is not a Pub/Sub push of a Play notification."), **audit, detail=repr(exc))
    kind = ("subscription" if "subscriptionNotification" in data else
            "voided" if "voidedPurchaseNotification" in data else "test" if "testNotification" in data else "other")
    if kind == "subscription":
        kind = f"subscription.{(data['subscriptionNotification'] or {}).get('notificationType')}"
    token = str((data.get("subscriptionNotification") or data.get("voidedPurchaseNotification") or {})
                .get("purchaseToken") or "")
    event_id = f"google:{message_id}"[:100]
    webhooks.event_store(event_id=event_id, source=Store.GOOGLE, type=kind, object_id=token,
                         payload={"message_id": message_id, "data": data})
    result = webhooks.stripe_event_process(event_id=event_id)
    return webhooks._audit(result, **audit, event_type=kind)


def _time(value: str | None) -> datetime | None:
    return parse_datetime(value) if value else None


def _fetch(token: str) -> dict:
    from googleapiclient.errors import HttpError

    try:
        return play_api().purchases().subscriptionsv2().get(
            packageName=settings.GOOGLE_PLAY_PACKAGE_NAME, token=token).execute()
    except HttpError as exc:
        if exc.resp.status in (400, 404, 410):
            raise PurchaseInvalid("Google Play does not know this purchase token.") from exc
        raise


def _state(token: str, purchase: dict, *, order_id: str = "", refunded: bool = False) -> StoreState:
    items = purchase.get("lineItems") or [{}]
    item = max(items, key=lambda i: i.get("expiryTime") or "")
    status = _STATES.get(purchase.get("subscriptionState", ""), StoreSubscription.Status.EXPIRED)
    expires = _time(item.get("expiryTime"))
    linked = str(purchase.get("linkedPurchaseToken") or "")
    return StoreState(
        store=Store.GOOGLE, store_key=token, product_id=str(item.get("productId") or ""), status=status,
        transaction_id=order_id or str(item.get("latestSuccessfulOrderId") or purchase.get("latestOrderId") or ""),
        expires_at=expires, state_at=timezone.now(), period_start=_time(purchase.get("startTime")),
        grace_until=expires if status == StoreSubscription.Status.GRACE else None,
        auto_renew=bool((item.get("autoRenewingPlan") or {}).get("autoRenewEnabled")),
        environment="test" if "testPurchase" in purchase else "production",
        account_token=str((purchase.get("externalAccountIdentifiers") or {}).get("obfuscatedExternalAccountId")
                          or ""),
        acknowledged=purchase.get("acknowledgementState") == "ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED",
        paid=status != StoreSubscription.Status.PENDING, refunded=refunded, linked_key=linked,
        # A replacement (upgrade or downgrade) tops the running period up; a renewal is a new period.
        top_up_after=timezone.now() if linked else None,
    )


def _acknowledge(sub: StoreSubscription | None, token: str) -> None:
    if sub is None or sub.acknowledged or sub.status not in _ACKNOWLEDGE:
        return
    play_api().purchases().subscriptions().acknowledge(
        packageName=settings.GOOGLE_PLAY_PACKAGE_NAME, subscriptionId=sub.product_id, token=token, body={}).execute()
    StoreSubscription.objects.filter(pk=sub.pk).update(acknowledged=True)
    logger.info("billing.google_acknowledged", extra={"subscription": sub.pk})


def _sync(token: str, *, user_id: int | None = None, order_id: str = "",
          refunded: bool = False) -> StoreSubscription | None:
    state = _state(token, _fetch(token), order_id=order_id, refunded=refunded)
    sub = store_subscription_apply(state=state, user_id=user_id)
    _acknowledge(sub, token)
    return sub


def google_notification_handle(payload: dict) -> StoreSubscription | None:
    """Process a stored, verified Play notification (also a staff replay)."""
    data = payload["data"]
    if data.get("packageName") != settings.GOOGLE_PLAY_PACKAGE_NAME:
        logger.warning("billing.google_other_package", extra={"package": data.get("packageName")})
        return None
    if "subscriptionNotification" in data:
        token = (data["subscriptionNotification"] or {}).get("purchaseToken")
        return _sync(str(token)) if token else None
    voided = data.get("voidedPurchaseNotification")
    if voided and voided.get("productType") == 1 and voided.get("purchaseToken"):  # 1: a subscription
        return _sync(str(voided["purchaseToken"]), order_id=str(voided.get("orderId") or ""), refunded=True)
    logger.info("billing.google_notification_ignored", extra={"keys": sorted(data)[:5]})
    return None


def google_purchase_submit(*, user_id: int, purchase_token: str) -> StoreSubscription | None:
    """The app posts the purchase token after buying: fetch, link to the signed-in user,
    acknowledge. 400 purchase_invalid for a token Google does not know."""
    import httplib2
    from googleapiclient.errors import HttpError

    _require()
    try:
        return _sync(purchase_token, user_id=user_id)
    except (HttpError, httplib2.HttpLib2Error, OSError) as exc:
        logger.warning("billing.google_unavailable", extra={"error": type(exc).__name__})
        raise GoogleUnavailable("Google Play could not be reached; try again.") from exc
