"""VAPID application-server keys and the ``Authorization: vapid t=..., k=...`` header (RFC 8292).

The JWT is ES256 with ``aud`` = origin of the push endpoint, ``exp`` at most 24 hours ahead
(12 by default) and ``sub`` = a ``mailto:`` or ``https:`` contact. One JWT per origin is cached
and reused until it has less than an hour left. Wire facts: docs/webpush.md §3.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import urlsplit

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pushgate.errors import CredentialError, RequestError
from pushgate.providers.webpush_crypto import b64url_decode, b64url_encode

__all__ = [
    "DEFAULT_EXPIRY",
    "MAX_EXPIRY",
    "MIN_REMAINING",
    "VapidKey",
    "check_subject",
    "origin_of",
]

DEFAULT_EXPIRY: Final = 12 * 3600
"""Seconds a fresh JWT is valid: what libraries use, well inside the 24-hour cap (§3)."""
MAX_EXPIRY: Final = 24 * 3600
"""Push services may reject a JWT whose ``exp`` is more than 24 hours ahead (§3)."""
MIN_REMAINING: Final = 3600
"""A cached JWT is replaced once it has less than this many seconds left."""

_MAILTO = re.compile(r"mailto:[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;.]+")
_CACHE_LIMIT = 256
_SCALAR_SIZE = 32


class VapidKey:
    """An application server's P-256 key pair; signs VAPID headers and caches them per origin."""

    __slots__ = ("_cache", "_private_key", "public_key_b64url")

    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        _require_p256(private_key)
        self._private_key = private_key
        point = private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        self.public_key_b64url: str = b64url_encode(point)
        """The 65-byte uncompressed point, base64url without padding: the web app's
        ``applicationServerKey`` and the header's ``k``."""
        self._cache: dict[tuple[str, str], tuple[bytes, int]] = {}

    @classmethod
    def generate(cls) -> VapidKey:
        """A new random key pair."""
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def from_pem(cls, pem: bytes | str) -> VapidKey:
        """Load an unencrypted PEM private key (PKCS#8 or SEC1 ``EC PRIVATE KEY``)."""
        data = pem.encode("utf-8") if isinstance(pem, str) else bytes(pem)
        try:
            key = serialization.load_pem_private_key(data.strip(), password=None)
        except (TypeError, ValueError, UnsupportedAlgorithm):
            raise CredentialError(
                "The VAPID key could not be read as an unencrypted PEM private key "
                "('-----BEGIN PRIVATE KEY-----' or '-----BEGIN EC PRIVATE KEY-----').",
                code="unreadable_vapid_key",
            ) from None
        return cls(_require_p256(key))

    @classmethod
    def from_raw(cls, private_b64url: str) -> VapidKey:
        """Load the 32-byte private scalar in base64url, as web-push tools print it."""
        try:
            scalar = b64url_decode(private_b64url.strip())
            if len(scalar) != _SCALAR_SIZE:
                raise ValueError("wrong length")
            key = ec.derive_private_key(int.from_bytes(scalar, "big"), ec.SECP256R1())
        except ValueError:
            raise CredentialError(
                "The VAPID private key must be 32 bytes in base64url (43 characters), as "
                "printed by web-push's generate-vapid-keys.",
                code="unreadable_vapid_key",
            ) from None
        return cls(key)

    def private_pem(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM, for storing encrypted."""
        return self._private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def vapid_header(
        self,
        endpoint: str,
        subject: str | None,
        *,
        now: float,
        expiry: int = DEFAULT_EXPIRY,
    ) -> bytes:
        """The ``Authorization`` value ``vapid t=<jwt>, k=<public key>`` for this endpoint.

        ``now`` is the current epoch time. Reuses the cached JWT of the endpoint's origin while
        it has an hour or more left.
        Raises CredentialError for a subject that is not a contactable mailto:/https: URI;
        None leaves ``sub`` out (RFC 8292 says SHOULD; Apple's service requires it).
        """
        if not MIN_REMAINING < expiry <= MAX_EXPIRY:
            raise ValueError(f"expiry must be over {MIN_REMAINING} and at most {MAX_EXPIRY} s")
        key = (origin_of(endpoint), subject)
        cached = self._cache.get(key)
        if cached is not None and cached[1] - now >= MIN_REMAINING:
            return cached[0]
        claims: dict[str, str | int] = {"aud": key[0], "exp": int(now) + expiry}
        if subject is not None:
            claims["sub"] = check_subject(subject)
        token = jwt.encode(claims, self._private_key, algorithm="ES256")
        header = f"vapid t={token}, k={self.public_key_b64url}".encode("ascii")
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[key] = (header, claims["exp"])
        return header

    def __repr__(self) -> str:
        return f"VapidKey(public_key={self.public_key_b64url!r})"


def check_subject(subject: str) -> str:
    """Return ``subject`` if it is a contactable ``mailto:`` or ``https:`` URI (§1, §3).

    Apple answers 403 BadJwtToken for spaces, angle brackets or an address at localhost.
    """
    if _MAILTO.fullmatch(subject) or _is_public_https(subject):
        return subject
    raise CredentialError(
        f"The VAPID subject {subject[:80]!r} must be 'mailto:' followed by a plain address "
        "(mailto:ops@example.com, no spaces or angle brackets) or an https: URL with a public "
        "host name; push services such as Apple's refuse anything else.",
        code="invalid_vapid_subject",
    )


def _is_public_https(subject: str) -> bool:
    """True for an https URL whose host has a dot (not ``localhost``) and no whitespace."""
    if not subject.startswith("https://") or any(char.isspace() for char in subject):
        return False
    try:
        host = urlsplit(subject).hostname
    except ValueError:
        return False
    return bool(host) and "." in (host or "")


def origin_of(endpoint: str) -> str:
    """The endpoint's origin ``scheme://host[:port]`` (default port left out): the JWT ``aud``."""
    parts = urlsplit(endpoint)
    scheme = parts.scheme.lower()
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host = port = None
    if scheme not in ("https", "http") or not host:
        raise RequestError(
            "The push endpoint is not an http(s) URL with a host name.", code="invalid_endpoint"
        )
    if ":" in host:
        host = f"[{host}]"
    default = 443 if scheme == "https" else 80
    return f"{scheme}://{host}" if port in (None, default) else f"{scheme}://{host}:{port}"


def _require_p256(key: object) -> ec.EllipticCurvePrivateKey:
    """The key itself if it is EC on P-256, which ES256 and RFC 8292 require."""
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return key
    raise CredentialError(
        "A VAPID key is an EC P-256 (prime256v1) private key; generate a new one, e.g. with "
        "VapidKey.generate() or web-push's generate-vapid-keys.",
        code="wrong_key_type",
    )
