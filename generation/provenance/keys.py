"""Where the signing key, certificate chain and trust anchors come from.

Configured PEM files (PROVENANCE_SIGNING_KEY, PROVENANCE_CERT_CHAIN, PROVENANCE_TRUST_ANCHORS)
win. Without them, outside production, a self-signed development CA and a leaf it issued are
made once under PROVENANCE_DEV_DIR, so `make run` signs like production does (the dev CA is
then the only trust anchor, so a development verify says "trusted" for our own renders).
"""

from __future__ import annotations

import datetime
import fcntl
import logging
import os
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.conf import settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SigningMaterial:
    key_pem: bytes
    chain_pem: bytes  # leaf first, then intermediates (not the root)
    alg: str
    tsa_url: str


def _read(path: str | Path) -> bytes:
    return Path(path).read_bytes()


def signing_material() -> SigningMaterial | None:
    """The key and chain to sign with, or None when signing is not configured."""
    if settings.PROVENANCE_SIGNING_KEY and settings.PROVENANCE_CERT_CHAIN:
        return SigningMaterial(_read(settings.PROVENANCE_SIGNING_KEY), _read(settings.PROVENANCE_CERT_CHAIN),
                               settings.PROVENANCE_SIGNING_ALG, settings.PROVENANCE_TSA_URL)
    if not settings.PROVENANCE_DEV_KEYS:
        return None
    dev = dev_keys(Path(settings.PROVENANCE_DEV_DIR))
    return SigningMaterial(_read(dev / "leaf.key"), _read(dev / "chain.pem"), "es256", "")


def trust_anchors_pem() -> str:
    """The PEM roots a read checks the signer against; empty: trust is not checked."""
    if settings.PROVENANCE_TRUST_ANCHORS:
        return _read(settings.PROVENANCE_TRUST_ANCHORS).decode()
    if not (settings.PROVENANCE_SIGNING_KEY and settings.PROVENANCE_CERT_CHAIN) and settings.PROVENANCE_DEV_KEYS:
        return _read(dev_keys(Path(settings.PROVENANCE_DEV_DIR)) / "ca.pem").decode()
    return ""


def _write_atomic(path: Path, data: bytes) -> None:
    # Several workers may make the dev keys at once: each writes its own temp file and the
    # rename is atomic, so a reader never sees half a PEM.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def make_ca(common_name: str, *, days: int = 3650) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def make_leaf(ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate, common_name: str, *,
              days: int = 825) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A C2PA signing certificate: what c2pa's certificate profile asks of a leaf (digitalSignature,
    an email-protection EKU, an authority key identifier, not a CA)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                                 x509.NameAttribute(NameOID.ORGANIZATION_NAME, common_name)]))
        .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def pem_cert(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@lru_cache(maxsize=4)
def dev_keys(directory: Path) -> Path:
    """Makes the development CA and leaf once (kept across restarts); returns their folder."""
    if (directory / "chain.pem").exists() and (directory / "leaf.key").exists() and (directory / "ca.pem").exists():
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    # Two processes starting at once must not mix one's CA with the other's leaf.
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (directory / "chain.pem").exists():
            return directory
        ca_key, ca_cert = make_ca(f"{settings.PROVENANCE_CLAIM_GENERATOR} development CA")
        leaf_key, leaf_cert = make_leaf(ca_key, ca_cert,
                                        f"{settings.PROVENANCE_CLAIM_GENERATOR} development signer")
        _write_atomic(directory / "ca.pem", pem_cert(ca_cert))
        _write_atomic(directory / "leaf.key", pem_key(leaf_key))
        _write_atomic(directory / "chain.pem", pem_cert(leaf_cert))  # last: its presence means "all made"
    logger.warning("provenance.dev_key_created", extra={"directory": str(directory),
                                                       "note": "development key, not trusted anywhere else"})
    return directory
