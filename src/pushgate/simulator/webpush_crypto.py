"""What a browser does with a Web Push message: decrypt the aes128gcm body (RFC 8188, RFC 8291).

The key schedule and record format are the ``http_ece`` library's (the reference implementation
of RFC 8188); this module adds the rules RFC 8291 puts on top of RFC 8188: one record only and a
65-byte P-256 sender key in ``keyid``.
"""

from __future__ import annotations

import base64
import struct

import http_ece
from cryptography.hazmat.primitives.asymmetric import ec

AUTH_SECRET_SIZE = 16
"""Bytes of a subscription's ``auth`` secret (RFC 8291 §3.2)."""
_HEADER = struct.Struct("!16sLB")
"""salt (16) | record size (uint32) | keyid length (RFC 8188 §2.1)."""
_POINT_SIZE = 65


def decrypt(body: bytes, ua_private_key: ec.EllipticCurvePrivateKey, auth_secret: bytes) -> bytes:
    """The plaintext of one aes128gcm message; ValueError saying what is wrong with it."""
    if len(body) < _HEADER.size:
        raise ValueError("the body is shorter than the aes128gcm header")
    _, record_size, keyid_size = _HEADER.unpack_from(body)
    if keyid_size != _POINT_SIZE or body[_HEADER.size] != 0x04:
        raise ValueError("keyid must be the sender's 65-byte uncompressed P-256 public key")
    if len(body) - _HEADER.size - keyid_size > record_size:
        raise ValueError("RFC 8291 allows a single record; the body holds more")
    try:
        return bytes(
            http_ece.decrypt(
                body, private_key=ua_private_key, auth_secret=auth_secret, version="aes128gcm"
            )
        )
    except http_ece.ECEException as exc:
        raise ValueError(str(exc.message).rstrip(".")) from None


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url, as subscriptions and VAPID headers carry keys."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Base64url with or without padding; ValueError for anything else."""
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        raise ValueError("not base64url") from None
