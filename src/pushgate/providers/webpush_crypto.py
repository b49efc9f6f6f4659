"""Encrypt Web Push message bodies (RFC 8291, ``aes128gcm``) and decrypt them for the simulator.

Each message gets a fresh sender key pair and salt; the body is one record of at most 4096
bytes: an 86-byte header (salt, rs, keyid = sender public key), the plaintext, the 0x02
delimiter and the 16-byte tag. Wire facts: docs/webpush.md §2.
"""

from __future__ import annotations

import base64
import binascii
import re

import http_ece
from cryptography.hazmat.primitives.asymmetric import ec

from pushgate.errors import PayloadTooLarge, RequestError

__all__ = [
    "AUTH_SECRET_SIZE",
    "HEADER_SIZE",
    "MAX_PLAINTEXT",
    "RECORD_SIZE",
    "b64url_decode",
    "b64url_encode",
    "decrypt",
    "encrypt",
]

RECORD_SIZE = 4096
"""The ``rs`` header field; larger than any single record we write."""
HEADER_SIZE = 86
"""salt (16) + rs (4) + idlen (1) + keyid (65-byte P-256 point)."""
MAX_PLAINTEXT = 3993
"""4096 - 86 header - 1 delimiter - 16 tag: the most a service must accept (RFC 8291 §4)."""
AUTH_SECRET_SIZE = 16
"""Length of the subscription's ``auth`` secret (RFC 8291 §3.2)."""

_VERSION = "aes128gcm"
_POINT_SIZE = 65
_TAG_AND_DELIMITER = 17
_B64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")


def _check_size(plaintext: bytes) -> None:
    """Raise PayloadTooLarge when ``plaintext`` does not fit one 4096-byte record (§2)."""
    if len(plaintext) > MAX_PLAINTEXT:
        raise PayloadTooLarge(
            f"The Web Push payload is {len(plaintext)} bytes, over the {MAX_PLAINTEXT}-byte "
            "limit for one encrypted 4096-byte record; shorten the alert text or the data.",
        )


def encrypt(plaintext: bytes, *, p256dh: bytes, auth_secret: bytes) -> bytes:
    """Encrypt ``plaintext`` for a subscription's decoded ``p256dh`` point and ``auth`` secret.

    Raises PayloadTooLarge above 3993 bytes, RequestError (``invalid_subscription``) when the
    keys are unusable. An empty plaintext is a programming error (ValueError).
    """
    if not plaintext:
        raise ValueError("Web Push encryption needs a non-empty plaintext")
    _check_size(plaintext)
    if len(auth_secret) != AUTH_SECRET_SIZE:
        raise RequestError(
            "The subscription's auth secret is not 16 bytes; ask the browser to subscribe again.",
            code="invalid_subscription",
        )
    sender_key = ec.generate_private_key(ec.SECP256R1())
    try:
        body: bytes = http_ece.encrypt(
            plaintext,
            private_key=sender_key,
            dh=p256dh,
            auth_secret=auth_secret,
            rs=RECORD_SIZE,
            version=_VERSION,
        )
    except (ValueError, http_ece.ECEException):
        raise RequestError(
            "The subscription's p256dh key is not a P-256 public key; ask the browser to "
            "subscribe again.",
            code="invalid_subscription",
        ) from None
    return body


def decrypt(body: bytes, ua_private_key: ec.EllipticCurvePrivateKey, auth_secret: bytes) -> bytes:
    """Decrypt an ``aes128gcm`` body as the browser would; ValueError saying why when it fails.

    Insists on what RFC 8291 requires of senders: a 65-byte P-256 keyid and a single record.
    """
    if len(body) < HEADER_SIZE + _TAG_AND_DELIMITER:
        raise ValueError(f"body of {len(body)} bytes is shorter than header + one record")
    record_size = int.from_bytes(body[16:20], "big")
    if body[20] != _POINT_SIZE:
        raise ValueError(f"keyid length is {body[20]}, not 65 (the sender's P-256 public key)")
    if len(body) - HEADER_SIZE > record_size:
        raise ValueError("the body holds more than one record; Web Push allows exactly one")
    try:
        plaintext: bytes = http_ece.decrypt(
            body, private_key=ua_private_key, auth_secret=auth_secret, version=_VERSION
        )
    except http_ece.ECEException as exc:
        raise ValueError(f"aes128gcm decryption failed: {exc.message}") from None
    except ValueError:
        raise ValueError("the keyid is not a point on P-256") from None
    return plaintext


def b64url_encode(data: bytes) -> str:
    """Base64url without padding (RFC 7515 §2), as Web Push keys are written."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode base64url with or without ``=`` padding; ValueError for anything else."""
    if not _B64URL.fullmatch(text):
        raise ValueError("not base64url text")
    unpadded = text.rstrip("=")
    try:
        return base64.urlsafe_b64decode(unpadded + "=" * (-len(unpadded) % 4))
    except binascii.Error:
        raise ValueError("not base64url text") from None
