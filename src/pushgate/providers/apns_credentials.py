"""Validate uploaded APNs credentials (.p8 signing keys, .p12 or PEM client certificates).

Every bad input raises CredentialError with a sentence saying what to fix and a machine-readable
``code``. Messages never contain key material or passwords. Wire facts: docs/apns.md §5, §6.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final, Literal, cast

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from pushgate.errors import CredentialError
from pushgate.providers.apns import TOPIC_SUFFIXES

__all__ = [
    "ENVIRONMENTS",
    "OID_DEVELOPMENT",
    "OID_PRODUCTION",
    "OID_TOPICS",
    "ApnsCertificateCredential",
    "ApnsTokenCredential",
    "Environment",
    "check_environment",
    "check_topic",
    "load_certificate_credential",
    "load_token_credential",
]

Environment = Literal["sandbox", "production"]
ENVIRONMENTS: Final[tuple[Environment, ...]] = ("sandbox", "production")

OID_DEVELOPMENT: Final = x509.ObjectIdentifier("1.2.840.113635.100.6.3.1")
"""Extension marking a certificate valid for the development (sandbox) environment (§6)."""
OID_PRODUCTION: Final = x509.ObjectIdentifier("1.2.840.113635.100.6.3.2")
"""Extension marking a certificate valid for production (§6)."""
OID_TOPICS: Final = x509.ObjectIdentifier("1.2.840.113635.100.6.3.6")
"""Extension listing the certificate's topics (§6)."""

_MAX_UPLOAD = 1 << 20
_APPLE_ID = re.compile(r"[A-Za-z0-9]{10}")
_BUNDLE_ID = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_ClientKey = PrivateKeyTypes
_PEM = serialization.Encoding.PEM
_DER = serialization.Encoding.DER
_SPKI = serialization.PublicFormat.SubjectPublicKeyInfo


@dataclass(frozen=True, slots=True, kw_only=True)
class ApnsTokenCredential:
    """A validated .p8 signing key with its Key ID, Team ID, topic and environment (§5)."""

    key_id: str
    team_id: str
    topic: str
    environment: Environment
    fingerprint: str
    """First 16 hex digits of sha256(team, key id, public key): the connection-pool partition."""
    private_key: ec.EllipticCurvePrivateKey = field(repr=False, compare=False)

    @property
    def public_key_pem(self) -> bytes:
        """The public half, e.g. to register the key with the simulator."""
        return self.private_key.public_key().public_bytes(_PEM, _SPKI)

    def public_summary(self) -> dict[str, object]:
        """A description safe to return from the API: never the key."""
        return {
            "kind": "token",
            "key_id": self.key_id,
            "team_id": self.team_id,
            "topic": self.topic,
            "environment": self.environment,
            "not_after": None,
            "fingerprint": self.fingerprint,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class ApnsCertificateCredential:
    """A validated client certificate and key for mutual-TLS APNs connections (§6)."""

    topic: str
    environment: Environment
    not_before: datetime
    not_after: datetime
    subject_uid: str | None
    topics: tuple[str, ...]
    """Topics listed in extension 1.2.840.113635.100.6.3.6, if the certificate has it."""
    certificate_environments: tuple[Environment, ...]
    """Environments the certificate's extensions allow; empty when it names none."""
    fingerprint: str
    """First 16 hex digits of sha256(certificate DER): the connection-pool partition."""
    cert_pem: bytes = field(repr=False)
    """The client certificate first, then any chain certificates, as PEM."""
    key_pem: bytes = field(repr=False, compare=False)
    """The private key as unencrypted PKCS#8 PEM; kept in memory only."""

    def public_summary(self) -> dict[str, object]:
        """A description safe to return from the API: never the key."""
        return {
            "kind": "certificate",
            "key_id": None,
            "team_id": None,
            "topic": self.topic,
            "environment": self.environment,
            "not_after": self.not_after.isoformat(),
            "fingerprint": self.fingerprint,
            "subject_uid": self.subject_uid,
            "topics": list(self.topics),
            "certificate_environments": list(self.certificate_environments),
        }


def load_token_credential(
    *, key_p8: bytes | str, key_id: str, team_id: str, topic: str, environment: str
) -> ApnsTokenCredential:
    """Validate a .p8 signing key and its identifiers and return the credential (§5)."""
    key = _load_signing_key(key_p8)
    key_id = _check_apple_id(key_id, "Key ID", "invalid_key_id", "shown next to the key")
    team_id = _check_apple_id(team_id, "Team ID", "invalid_team_id", "shown under Membership")
    topic = check_topic(topic)
    env = check_environment(environment)
    public_der = key.public_key().public_bytes(_DER, _SPKI)
    return ApnsTokenCredential(
        key_id=key_id,
        team_id=team_id,
        topic=topic,
        environment=env,
        fingerprint=_fingerprint(team_id.encode(), key_id.encode(), public_der),
        private_key=key,
    )


def load_certificate_credential(
    *,
    p12: bytes | None = None,
    password: str | None = None,
    cert_pem: bytes | None = None,
    key_pem: bytes | None = None,
    environment: str | None = None,
    topic: str | None = None,
) -> ApnsCertificateCredential:
    """Validate a .p12 file (or a PEM certificate and key) and return the credential (§6)."""
    key, chain = _load_identity(p12, password, cert_pem, key_pem)
    leaf = chain[0]
    _check_validity(leaf, datetime.now(UTC))
    cert_envs = _certificate_environments(leaf)
    uid = _subject_uid(leaf)
    topics = _certificate_topics(leaf)
    return ApnsCertificateCredential(
        topic=_resolve_topic(topic, uid, topics),
        environment=_resolve_environment(environment, cert_envs),
        not_before=leaf.not_valid_before_utc,
        not_after=leaf.not_valid_after_utc,
        subject_uid=uid,
        topics=topics,
        certificate_environments=cert_envs,
        fingerprint=_fingerprint(leaf.public_bytes(_DER)),
        cert_pem=b"".join(cert.public_bytes(_PEM) for cert in chain),
        key_pem=key.private_bytes(
            _PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )


def check_topic(topic: str) -> str:
    """Return the bundle id if it is a reverse-DNS id without a push-type suffix (§4)."""
    topic = topic.strip() if isinstance(topic, str) else ""
    if not _BUNDLE_ID.fullmatch(topic) or len(topic) > 255:
        raise CredentialError(
            f"{topic[:80]!r} is not a bundle id: use the app's reverse-DNS id such as "
            "'com.example.chat' (letters, digits, hyphens and dots).",
            code="invalid_topic",
        )
    for push_type, suffix in TOPIC_SUFFIXES.items():
        if suffix and topic.endswith(suffix):
            raise CredentialError(
                f"The topic {topic!r} ends with {suffix!r}, the {push_type} push-type suffix; "
                "give the app's bundle id instead (pushgate adds the suffix per push type).",
                code="invalid_topic",
            )
    return topic


def check_environment(environment: str) -> Environment:
    """Return the environment if it is 'sandbox' or 'production'."""
    if environment not in ENVIRONMENTS:
        raise CredentialError(
            f"Unknown APNs environment {str(environment)[:40]!r}; use 'sandbox' (Apple's "
            "development servers) or 'production'.",
            code="invalid_environment",
        )
    return cast(Environment, environment)


def _fingerprint(*parts: bytes) -> str:
    """A short stable id: the first 16 hex digits of sha256 over the length-prefixed parts."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(4, "big") + part)
    return digest.hexdigest()[:16]


def _check_apple_id(value: str, label: str, code: str, where: str) -> str:
    """Apple Key IDs and Team IDs are exactly 10 letters or digits."""
    value = value.strip().upper() if isinstance(value, str) else ""
    if not _APPLE_ID.fullmatch(value):
        raise CredentialError(
            f"The {label} must be exactly 10 letters or digits ({where} in your Apple "
            f"developer account); got {value[:40]!r} ({len(value)} characters).",
            code=code,
        )
    return value


def _as_bytes(data: bytes | str) -> bytes:
    """Uploaded text as bytes (PEM is ASCII)."""
    return data.encode("utf-8", "replace") if isinstance(data, str) else bytes(data)


def _load_signing_key(key_p8: bytes | str) -> ec.EllipticCurvePrivateKey:
    """Parse the .p8 PEM and insist on an EC P-256 key, as ES256 needs (§5)."""
    data = _as_bytes(key_p8).strip()
    if not data or len(data) > _MAX_UPLOAD:
        raise CredentialError(
            "The signing key is empty or too large; upload the AuthKey_XXXXXXXXXX.p8 file "
            "downloaded from your Apple developer account.",
            code="unreadable_key",
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise CredentialError(
            "The signing key is password-protected; Apple's .p8 keys are not, so upload the "
            "file exactly as downloaded.",
            code="unreadable_key",
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise CredentialError(_unreadable_key_message(data), code="unreadable_key") from None
    return _require_p256(key)


def _unreadable_key_message(data: bytes) -> str:
    """Explain why PEM text is not a private key, with a hint for common mix-ups."""
    if b"BEGIN CERTIFICATE" in data:
        return (
            "This is a certificate, not a .p8 signing key; upload certificates as certificate "
            "credentials, or upload the AuthKey_XXXXXXXXXX.p8 file here."
        )
    if b"BEGIN PUBLIC KEY" in data:
        return "This is a public key; upload the private AuthKey_XXXXXXXXXX.p8 file instead."
    return (
        "The signing key could not be read as a PEM private key; upload the "
        "AuthKey_XXXXXXXXXX.p8 file (it starts with '-----BEGIN PRIVATE KEY-----')."
    )


def _require_p256(key: object) -> ec.EllipticCurvePrivateKey:
    """APNs signs with ES256, so the key must be EC on curve P-256."""
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        kind = type(key).__name__.removeprefix("_").replace("PrivateKey", "")
        raise CredentialError(
            f"The key is of type {kind}, but APNs signing keys are EC P-256 (ES256) keys; "
            "upload the .p8 file from Certificates, Identifiers & Profiles > Keys.",
            code="wrong_key_type",
        )
    if not isinstance(key.curve, ec.SECP256R1):
        raise CredentialError(
            f"The key uses curve {key.curve.name}, but APNs signing keys use P-256 "
            "(secp256r1); upload the .p8 file Apple generated.",
            code="wrong_key_type",
        )
    return key


def _load_identity(
    p12: bytes | None, password: str | None, cert_pem: bytes | None, key_pem: bytes | None
) -> tuple[_ClientKey, list[x509.Certificate]]:
    """The private key and the certificate chain (client certificate first)."""
    if p12 is not None and (cert_pem is not None or key_pem is not None):
        raise CredentialError(
            "Upload either a .p12 file or a PEM certificate and key, not both.",
            code="conflicting_inputs",
        )
    if p12 is not None:
        key, certs = _load_p12(p12, password)
    else:
        key, certs = _load_pem_pair(cert_pem, key_pem, password)
    return key, _client_first(certs, key)


def _load_p12(p12: bytes, password: str | None) -> tuple[_ClientKey, list[x509.Certificate]]:
    """Open a PKCS#12 file, telling a wrong password apart from a damaged file.

    cryptography reports both as the same ValueError, so the outer PFX structure is checked
    first: a file that has it but will not open is taken to have the wrong password.
    """
    data = bytes(p12)
    if not data or len(data) > _MAX_UPLOAD or not _looks_like_pfx(data):
        hint = " (this looks like PEM: upload it as cert_pem and key_pem)"
        raise CredentialError(
            "The file is not a readable .p12 (PKCS#12) file"
            + (hint if data.lstrip().startswith(b"-----BEGIN") else "")
            + "; export the APNs certificate with its private key from Keychain Access as "
            ".p12 and upload that file.",
            code="unreadable_p12",
        )
    # An unprotected export opens with no password or an empty one; try those too.
    candidates = [password.encode()] if password else []
    for candidate in [*candidates, None, b""]:
        try:
            key, cert, extra = pkcs12.load_key_and_certificates(data, candidate)
        except ValueError:
            continue
        if key is None:
            raise CredentialError(
                "The .p12 file holds no private key; in Keychain Access export the certificate "
                "together with its private key.",
                code="missing_private_key",
            )
        return key, [c for c in [cert, *extra] if c is not None]
    raise CredentialError(
        "The password does not open this .p12 file"
        + (" (no password was given)." if not password else ".")
        + " Enter the password chosen when exporting it.",
        code="wrong_password",
    )


def _looks_like_pfx(data: bytes) -> bool:
    """True when the outer DER is a PKCS#12 PFX: SEQUENCE { INTEGER 3, ContentInfo, ... }."""
    try:
        outer = list(_der_items(data))
        if len(outer) != 1 or outer[0][0] != 0x30:
            return False
        inner = list(_der_items(outer[0][1]))
    except ValueError:
        return False
    return len(inner) >= 2 and inner[0] == (0x02, b"\x03") and inner[1][0] == 0x30


def _load_pem_pair(
    cert_pem: bytes | None, key_pem: bytes | None, password: str | None
) -> tuple[_ClientKey, list[x509.Certificate]]:
    """Load a PEM certificate (optionally followed by its chain) and its PEM private key."""
    if cert_pem is None:
        raise CredentialError(
            "No certificate was given; upload a .p12 file, or a PEM certificate with its key.",
            code="missing_certificate",
        )
    if key_pem is None:
        raise CredentialError(
            "The PEM certificate came without its private key; upload the key as well.",
            code="missing_private_key",
        )
    try:
        certs = x509.load_pem_x509_certificates(bytes(cert_pem))
    except ValueError:
        raise CredentialError(
            "The certificate could not be read as PEM (expected '-----BEGIN CERTIFICATE-----').",
            code="unreadable_certificate",
        ) from None
    return _load_client_key(bytes(key_pem), password), certs


def _load_client_key(key_pem: bytes, password: str | None) -> _ClientKey:
    """Load the certificate's PEM private key, decrypting it with the password if needed."""
    secret = password.encode() if password else None
    try:
        key = serialization.load_pem_private_key(key_pem, password=secret)
    except TypeError:
        raise CredentialError(
            "The private key is encrypted; give the password it was exported with.",
            code="wrong_password",
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        if secret is not None and b"ENCRYPTED" in key_pem:
            raise CredentialError(
                "The password does not decrypt the private key; enter the export password.",
                code="wrong_password",
            ) from None
        raise CredentialError(
            "The private key could not be read as PEM (expected '-----BEGIN PRIVATE KEY-----').",
            code="unreadable_key",
        ) from None
    return key


def _client_first(certs: Sequence[x509.Certificate], key: _ClientKey) -> list[x509.Certificate]:
    """Reorder the chain so the certificate matching the private key comes first."""
    if not certs:
        raise CredentialError(
            "No certificate was found with the private key; export the APNs certificate "
            "together with its key.",
            code="missing_certificate",
        )
    wanted = key.public_key().public_bytes(_DER, _SPKI)
    for cert in certs:
        if cert.public_key().public_bytes(_DER, _SPKI) == wanted:
            return [cert, *(other for other in certs if other is not cert)]
    raise CredentialError(
        "The private key does not belong to the certificate; upload the key that was "
        "created with this certificate's signing request.",
        code="key_mismatch",
    )


def _check_validity(cert: x509.Certificate, now: datetime) -> None:
    """Refuse certificates outside their validity period, naming the date."""
    if cert.not_valid_after_utc <= now:
        raise CredentialError(
            f"The certificate expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC; create "
            "a new APNs certificate in your Apple developer account and upload it.",
            code="certificate_expired",
        )
    if cert.not_valid_before_utc > now:
        raise CredentialError(
            f"The certificate is not valid until {cert.not_valid_before_utc:%Y-%m-%d %H:%M} "
            "UTC; check this server's clock, or upload it once it is valid.",
            code="certificate_not_yet_valid",
        )


def _certificate_environments(cert: x509.Certificate) -> tuple[Environment, ...]:
    """Environments named by Apple's extensions: .3.1 development, .3.2 production (§6)."""
    present = {ext.oid for ext in cert.extensions}
    found: list[Environment] = []
    if OID_DEVELOPMENT in present:
        found.append("sandbox")
    if OID_PRODUCTION in present:
        found.append("production")
    return tuple(found)


def _subject_uid(cert: x509.Certificate) -> str | None:
    """The subject's UID (0.9.2342.19200300.100.1.1): the bundle id in Apple's certificates."""
    values = cert.subject.get_attributes_for_oid(NameOID.USER_ID)
    return str(values[0].value) if values else None


def _certificate_topics(cert: x509.Certificate) -> tuple[str, ...]:
    """Topics from extension .6.3.6: SEQUENCE of UTF8String topic + SEQUENCE of types (§6)."""
    try:
        ext = cert.extensions.get_extension_for_oid(OID_TOPICS)
    except x509.ExtensionNotFound:
        return ()
    value = ext.value
    if not isinstance(value, x509.UnrecognizedExtension):
        return ()
    try:
        items = list(_der_items(value.value))
        if len(items) != 1 or items[0][0] != 0x30:
            return ()
        return tuple(
            content.decode("utf-8") for tag, content in _der_items(items[0][1]) if tag == 0x0C
        )
    except (ValueError, UnicodeDecodeError):
        return ()


def _resolve_topic(given: str | None, uid: str | None, topics: tuple[str, ...]) -> str:
    """The given topic (checked against the certificate), else the certificate's UID."""
    if given is None:
        if uid is None:
            raise CredentialError(
                "The certificate names no bundle id (its subject has no UID); give the topic, "
                "the app's bundle id, explicitly.",
                code="missing_topic",
            )
        return check_topic(uid)
    topic = check_topic(given)
    allowed = {uid, *topics} - {None}
    if allowed and topic not in allowed:
        raise CredentialError(
            f"The certificate is for {uid or topics[0]!r}, not {topic!r}; upload the "
            "certificate of that app, or leave the topic empty to use the certificate's.",
            code="topic_mismatch",
        )
    return topic


def _resolve_environment(given: str | None, cert_envs: tuple[Environment, ...]) -> Environment:
    """A single-environment certificate decides; otherwise the given one, default production."""
    env = check_environment(given) if given is not None else None
    if len(cert_envs) == 1:
        if env is not None and env != cert_envs[0]:
            raise CredentialError(
                f"This is a {cert_envs[0]}-only certificate, but {env} was requested; choose "
                f"{cert_envs[0]}, or upload a {env} or universal certificate.",
                code="environment_mismatch",
            )
        return cert_envs[0]
    return env or "production"


def _der_items(data: bytes) -> Iterator[tuple[int, bytes]]:
    """Yield (tag, contents) of consecutive DER elements; ValueError when malformed."""
    pos, end = 0, len(data)
    while pos < end:
        if pos + 2 > end or data[pos] & 0x1F == 0x1F:
            raise ValueError("malformed DER header")
        tag, length = data[pos], data[pos + 1]
        pos += 2
        if length & 0x80:
            size = length & 0x7F
            if not 0 < size <= 4 or pos + size > end:
                raise ValueError("malformed DER length")
            length = int.from_bytes(data[pos : pos + size], "big")
            pos += size
        if pos + length > end:
            raise ValueError("truncated DER element")
        yield tag, data[pos : pos + length]
        pos += length
