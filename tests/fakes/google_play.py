"""A local Google Play over real HTTP: the Play Developer API endpoints the backend calls
(`purchases.subscriptionsv2.get`, `purchases.subscriptions.acknowledge`), Google's OAuth2
certificate endpoint (the keys Pub/Sub push tokens are checked against) and the push
tokens themselves, signed with this fake's key.

    GET  /androidpublisher/v3/applications/{pkg}/purchases/subscriptionsv2/tokens/{token}
    POST /androidpublisher/v3/applications/{pkg}/purchases/subscriptions/{sub}/tokens/{token}:acknowledge
    GET  /oauth2/v1/certs
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote, urlsplit

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from .server import FakeHandler, serve_fake

PACKAGE = "com.example.clipsocial"
PUSH_AUDIENCE = "https://backend.example.com/api/v1/billing/google/notifications"
PUSH_ACCOUNT = "pubsub-push@example-project.iam.gserviceaccount.com"


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class SigningKey:
    """An RSA key and its self-signed certificate, published as Google publishes its keys."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex
        now = datetime.now(UTC)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-google-oauth2")])
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
                     .sign(self.key, hashes.SHA256()))

    def sign(self, claims: dict) -> str:
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})


class FakeGooglePlay:
    def __init__(self) -> None:
        self.url = ""
        self.signing = SigningKey()
        self.purchases: dict[str, dict] = {}
        self.acknowledged: list[str] = []
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._orders = 0

    # --- what Pub/Sub sends ------------------------------------------------------------------

    def push_token(self, *, audience: str = PUSH_AUDIENCE, email: str = PUSH_ACCOUNT, key: SigningKey | None = None,
                   expires_in: int = 3600) -> str:
        now = int(time.time())
        return (key or self.signing).sign({"iss": "https://accounts.google.com", "aud": audience, "email": email,
                                           "email_verified": True, "sub": "1234567890", "iat": now,
                                           "exp": now + expires_in, "azp": "1234567890"})

    def push(self, data: dict, *, message_id: str | None = None) -> dict:
        """The Pub/Sub push body for one RTDN message."""
        encoded = base64.b64encode(json.dumps(data).encode()).decode()
        return {"message": {"data": encoded, "messageId": message_id or str(int(time.time() * 1e6)),
                            "publishTime": _rfc3339(datetime.now(UTC)), "attributes": {}},
                "subscription": "projects/example-project/subscriptions/play-rtdn"}

    @staticmethod
    def subscription_message(token: str, kind: int, package: str = PACKAGE) -> dict:
        return {"version": "1.0", "packageName": package, "eventTimeMillis": str(int(time.time() * 1000)),
                "subscriptionNotification": {"version": "1.0", "notificationType": kind, "purchaseToken": token}}

    @staticmethod
    def voided_message(token: str, order_id: str, package: str = PACKAGE) -> dict:
        return {"version": "1.0", "packageName": package, "eventTimeMillis": str(int(time.time() * 1000)),
                "voidedPurchaseNotification": {"purchaseToken": token, "orderId": order_id, "productType": 1,
                                               "refundType": 1}}

    # --- the store's side --------------------------------------------------------------------

    def _order(self, base: str | None = None) -> str:
        self._orders += 1
        return f"{base}..{self._orders}" if base else f"GPA.{3300 + self._orders}-{self._orders:04d}-0000-00000"

    def buy(self, *, product_id: str, account_id: str = "", days: int = 30, linked: str = "") -> str:
        token = f"tok-{uuid.uuid4().hex}"
        now = datetime.now(UTC)
        order = self._order()
        self.purchases[token] = {
            "kind": "androidpublisher#subscriptionPurchaseV2", "regionCode": "US", "startTime": _rfc3339(now),
            "subscriptionState": "SUBSCRIPTION_STATE_ACTIVE", "latestOrderId": order,
            "acknowledgementState": "ACKNOWLEDGEMENT_STATE_PENDING", "testPurchase": {},
            "lineItems": [{"productId": product_id, "expiryTime": _rfc3339(now + timedelta(days=days)),
                           "autoRenewingPlan": {"autoRenewEnabled": True}, "latestSuccessfulOrderId": order}],
        }
        if account_id:
            self.purchases[token]["externalAccountIdentifiers"] = {"obfuscatedExternalAccountId": account_id}
        if linked:
            self.purchases[token]["linkedPurchaseToken"] = linked
        return token

    def order_of(self, token: str) -> str:
        return self.purchases[token]["lineItems"][0]["latestSuccessfulOrderId"]

    def renew(self, token: str, *, days: int = 30) -> str:
        purchase = self.purchases[token]
        item = purchase["lineItems"][0]
        order = self._order(purchase["latestOrderId"].split("..")[0])
        expiry = datetime.fromisoformat(item["expiryTime"].replace("Z", "+00:00")) + timedelta(days=days)
        item.update(expiryTime=_rfc3339(expiry), latestSuccessfulOrderId=order)
        purchase.update(latestOrderId=order, subscriptionState="SUBSCRIPTION_STATE_ACTIVE")
        return order

    def set_state(self, token: str, state: str, *, expiry: datetime | None = None, auto_renew: bool | None = None):
        purchase = self.purchases[token]
        purchase["subscriptionState"] = f"SUBSCRIPTION_STATE_{state}"
        item = purchase["lineItems"][0]
        if expiry is not None:
            item["expiryTime"] = _rfc3339(expiry)
        if auto_renew is not None:
            item["autoRenewingPlan"]["autoRenewEnabled"] = auto_renew


def _handler(fake: FakeGooglePlay) -> type[FakeHandler]:
    class Handler(FakeHandler):
        def do_GET(self) -> None:  # noqa: N802
            self._serve("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._serve("POST")

        def _serve(self, method: str) -> None:
            self.read_body()
            parts = [unquote(p) for p in urlsplit(self.path).path.strip("/").split("/")]
            with fake._lock:
                fake.requests.append((method, self.path))
                if method == "GET" and parts == ["oauth2", "v1", "certs"]:
                    pem = fake.signing.cert.public_bytes(Encoding.PEM).decode()
                    return self.send_json(200, {fake.signing.kid: pem})
                if parts[:3] != ["androidpublisher", "v3", "applications"] or len(parts) < 8 or parts[3] != PACKAGE:
                    return self.send_json(404, {"error": {"code": 404, "message": "Not found", "status": "NOT_FOUND"}})
                if method == "GET" and parts[4:7] == ["purchases", "subscriptionsv2", "tokens"]:
                    purchase = fake.purchases.get(parts[7])
                    if purchase is None:
                        return self.send_json(400, {"error": {"code": 400, "message": "Invalid token",
                                                              "status": "INVALID_ARGUMENT"}})
                    return self.send_json(200, purchase)
                if method == "POST" and parts[4:6] == ["purchases", "subscriptions"] \
                        and parts[-1].endswith(":acknowledge"):
                    token = parts[-1].removesuffix(":acknowledge")
                    purchase = fake.purchases.get(token)
                    if purchase is None:
                        return self.send_json(400, {"error": {"code": 400, "message": "Invalid token"}})
                    purchase["acknowledgementState"] = "ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED"
                    fake.acknowledged.append(token)
                    return self.send_body(204, b"")
            self.send_json(404, {"error": {"code": 404, "message": "Not found"}})

    return Handler


@pytest.fixture
def google_play(settings) -> Iterator[FakeGooglePlay]:
    """The fake, and settings pointing Google Play (API, push token checks) at it."""
    for fake in serve_fake(FakeGooglePlay(), _handler, name="fake-google-play"):
        settings.GOOGLE_PLAY_PACKAGE_NAME = PACKAGE
        settings.GOOGLE_PLAY_API_URL = fake.url
        settings.GOOGLE_PLAY_SERVICE_ACCOUNT_FILE = ""
        settings.GOOGLE_PUBSUB_AUDIENCE = PUSH_AUDIENCE
        settings.GOOGLE_PUBSUB_SERVICE_ACCOUNT = PUSH_ACCOUNT
        settings.GOOGLE_PUBSUB_CERTS_URL = f"{fake.url}/oauth2/v1/certs"
        yield fake
