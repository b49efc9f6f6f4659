"""Helpers that make real keys and Apple-like APNs certificates for the provider tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

OID_DEVELOPMENT = x509.ObjectIdentifier("1.2.840.113635.100.6.3.1")
OID_PRODUCTION = x509.ObjectIdentifier("1.2.840.113635.100.6.3.2")
OID_TOPICS = x509.ObjectIdentifier("1.2.840.113635.100.6.3.6")

BUNDLE_ID = "com.example.chat"
KEY_ID = "ABC123DEFG"
TEAM_ID = "TEAM123456"
P12_PASSWORD = "s3cret-Pa55-word"
DER_NULL = b"\x05\x00"


def pem_pkcs8(key: PrivateKeyTypes, password: bytes | None = None) -> bytes:
    """The key as PKCS#8 PEM, encrypted when a password is given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def der(tag: int, content: bytes) -> bytes:
    """One DER element (definite length)."""
    length = len(content)
    if length < 0x80:
        return bytes([tag, length]) + content
    size = (length.bit_length() + 7) // 8
    return bytes([tag, 0x80 | size]) + length.to_bytes(size, "big") + content


def topics_extension(topics: Sequence[tuple[str, str]]) -> bytes:
    """Apple's .6.3.6 value: SEQUENCE { UTF8String topic, SEQUENCE { UTF8String type } ... }."""
    body = b"".join(
        der(0x0C, topic.encode()) + der(0x30, der(0x0C, kind.encode())) for topic, kind in topics
    )
    return der(0x30, body)


@dataclass
class CertFactory:
    """A throw-away CA that issues Apple-style APNs client certificates."""

    ca_key: ec.EllipticCurvePrivateKey
    ca_name: x509.Name

    def issue(
        self,
        key: PrivateKeyTypes,
        *,
        uid: str | None = BUNDLE_ID,
        environments: Sequence[str] = ("sandbox", "production"),
        topics: Sequence[tuple[str, str]] | bytes | None = None,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> x509.Certificate:
        """A client certificate for ``key`` with the UID and extension OIDs asked for."""
        now = datetime.now(UTC)
        attributes = [x509.NameAttribute(NameOID.COMMON_NAME, f"Apple Push Services: {uid}")]
        if uid is not None:
            attributes.insert(0, x509.NameAttribute(NameOID.USER_ID, uid))
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(attributes))
            .issuer_name(self.ca_name)
            .public_key(key.public_key())  # type: ignore[arg-type]
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now - timedelta(days=1))
            .not_valid_after(not_after or now + timedelta(days=365))
        )
        oids = {"sandbox": OID_DEVELOPMENT, "production": OID_PRODUCTION}
        for env in environments:
            builder = builder.add_extension(
                x509.UnrecognizedExtension(oids[env], DER_NULL), critical=False
            )
        if topics is not None:
            value = topics if isinstance(topics, bytes) else topics_extension(topics)
            extension = x509.UnrecognizedExtension(OID_TOPICS, value)
            builder = builder.add_extension(extension, critical=False)
        return builder.sign(self.ca_key, hashes.SHA256())

    def p12(
        self,
        key: PrivateKeyTypes | None,
        cert: x509.Certificate | None,
        password: str | None = P12_PASSWORD,
        cas: Sequence[x509.Certificate] | None = None,
    ) -> bytes:
        """A PKCS#12 file, encrypted with ``password`` (or unencrypted when None)."""
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(password.encode())
            if password
            else serialization.NoEncryption()
        )
        return pkcs12.serialize_key_and_certificates(
            b"apns",
            key,  # type: ignore[arg-type]
            cert,
            cas,
            encryption,
        )
