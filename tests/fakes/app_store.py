"""A local App Store signer: its own certificate chain (root, intermediate, leaf) with the
OIDs Apple's SignedDataVerifier looks for, and JWS signed as the App Store signs
transactions, renewal info and Server Notifications V2. Tests configure its root as
APPLE_ROOT_CERTIFICATES; the App Store never calls us other than by notification, so there
is no server here, only what Apple would send."""

from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

# Marker extensions Apple puts on its certificates; the verifier requires them.
LEAF_OID = x509.ObjectIdentifier("1.2.840.113635.100.6.11.1")  # App Store receipt signing
INTERMEDIATE_OID = x509.ObjectIdentifier("1.2.840.113635.100.6.2.1")  # WWDR intermediate
_NULL = b"\x05\x00"  # DER NULL, the value Apple's marker extensions carry


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME,
                                                                                      "Test Apple")])


def _cert(subject: str, key, issuer_name: x509.Name, issuer_key, *, ca: bool, marker: x509.ObjectIdentifier | None,
          issuer_cert: x509.Certificate | None = None) -> x509.Certificate:
    now = datetime.now(UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer_name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - timedelta(days=365)).not_valid_after(now + timedelta(days=3650))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=not ca, content_commitment=False, key_encipherment=False,
                                            data_encipherment=False, key_agreement=False, key_cert_sign=ca,
                                            crl_sign=ca, encipher_only=False, decipher_only=False), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if issuer_cert is not None:
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                                        critical=False)
    if marker is not None:
        builder = builder.add_extension(x509.UnrecognizedExtension(marker, _NULL), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass
class Chain:
    root: x509.Certificate
    intermediate: x509.Certificate
    leaf: x509.Certificate
    leaf_key: ec.EllipticCurvePrivateKey

    @classmethod
    def build(cls, name: str = "Test") -> Chain:
        root_key, inter_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
        root = _cert(f"{name} Root CA", root_key, _name(f"{name} Root CA"), root_key, ca=True, marker=None)
        inter = _cert(f"{name} WWDR", inter_key, root.subject, root_key, ca=True, marker=INTERMEDIATE_OID,
                      issuer_cert=root)
        leaf = _cert(f"{name} Store Signing", leaf_key, inter.subject, inter_key, ca=False, marker=LEAF_OID,
                     issuer_cert=inter)
        return cls(root=root, intermediate=inter, leaf=leaf, leaf_key=leaf_key)

    def x5c(self) -> list[str]:
        return [base64.b64encode(c.public_bytes(Encoding.DER)).decode() for c in (self.leaf, self.intermediate,
                                                                                   self.root)]

    def write_root(self, path: Path) -> str:
        path.write_bytes(self.root.public_bytes(Encoding.PEM))
        return str(path)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@dataclass
class FakeAppStore:
    """Signs what the App Store sends for one app. `chain` may be swapped for another
    (a forger's) to test refusals."""

    bundle_id: str = "com.example.clipsocial"
    environment: str = "Sandbox"
    chain: Chain = field(default_factory=Chain.build)
    _seq: int = 0

    def sign(self, claims: dict, chain: Chain | None = None) -> str:
        chain = chain or self.chain
        return jwt.encode(claims, chain.leaf_key, algorithm="ES256", headers={"x5c": chain.x5c()})

    def next_id(self) -> str:
        self._seq += 1
        return f"2000000{int(time.time()) % 100000:05d}{self._seq:04d}"

    def transaction(self, *, product_id: str, original_id: str | None = None, transaction_id: str | None = None,
                    purchased: datetime | None = None, expires: datetime | None = None, account_token: str = "",
                    revoked: datetime | None = None, upgraded: bool = False, bundle_id: str | None = None,
                    signed: datetime | None = None) -> dict:
        purchased = purchased or datetime.now(UTC)
        tid = transaction_id or self.next_id()
        claims = {
            "transactionId": tid, "originalTransactionId": original_id or tid, "webOrderLineItemId": f"w{tid}",
            "bundleId": bundle_id or self.bundle_id, "productId": product_id, "subscriptionGroupIdentifier": "g1",
            "purchaseDate": _ms(purchased), "originalPurchaseDate": _ms(purchased),
            "expiresDate": _ms(expires or purchased + timedelta(days=30)), "quantity": 1,
            "type": "Auto-Renewable Subscription", "inAppOwnershipType": "PURCHASED",
            "signedDate": _ms(signed or datetime.now(UTC)), "environment": self.environment,
            "transactionReason": "PURCHASE", "storefront": "USA", "storefrontId": "143441", "price": 9990,
            "currency": "USD",
        }
        if account_token:
            claims["appAccountToken"] = account_token
        if revoked:
            claims.update(revocationDate=_ms(revoked), revocationReason=0)
        if upgraded:
            claims["isUpgraded"] = True
        return claims

    def renewal(self, transaction: dict, *, auto_renew: bool = True, renews_to: str | None = None,
                grace_until: datetime | None = None, billing_retry: bool = False) -> dict:
        claims = {
            "originalTransactionId": transaction["originalTransactionId"],
            "autoRenewProductId": renews_to or transaction["productId"], "productId": transaction["productId"],
            "autoRenewStatus": 1 if auto_renew else 0, "signedDate": transaction["signedDate"],
            "environment": self.environment, "recentSubscriptionStartDate": transaction["purchaseDate"],
            "isInBillingRetryPeriod": billing_retry,
        }
        if grace_until:
            claims["gracePeriodExpiresDate"] = _ms(grace_until)
        return claims

    def notification(self, kind: str, transaction: dict, *, subtype: str | None = None, status: int = 1,
                     renewal: dict | None = None, signed: datetime | None = None, bundle_id: str | None = None,
                     chain: Chain | None = None, notification_uuid: str | None = None) -> dict:
        """The request body Apple POSTs: {"signedPayload": <JWS>}."""
        data = {"appAppleId": 1234567890, "bundleId": bundle_id or self.bundle_id, "bundleVersion": "1.0",
                "environment": self.environment, "status": status,
                "signedTransactionInfo": self.sign(transaction, chain),
                "signedRenewalInfo": self.sign(renewal if renewal is not None else self.renewal(transaction), chain)}
        claims = {"notificationType": kind, "notificationUUID": notification_uuid or str(uuid.uuid4()),
                  "data": data, "version": "2.0", "signedDate": _ms(signed or datetime.now(UTC))}
        if subtype:
            claims["subtype"] = subtype
        return {"signedPayload": self.sign(claims, chain)}


@pytest.fixture
def app_store(settings, tmp_path) -> FakeAppStore:
    """A fake App Store whose root certificate this server trusts (Sandbox, our bundle id)."""
    store = FakeAppStore()
    settings.APPLE_BUNDLE_ID = store.bundle_id
    settings.APPLE_ENVIRONMENT = store.environment
    settings.APPLE_APP_APPLE_ID = 0
    settings.APPLE_ONLINE_CHECKS = False
    settings.APPLE_ROOT_CERTIFICATES = [store.chain.write_root(tmp_path / "apple-root.pem")]
    return store
