"""VAPID checks of the Web Push simulator (RFC 8292).

``Authorization: vapid t=<JWT>, k=<base64url P-256 public key>``. Missing (or another scheme):
401 with ``WWW-Authenticate: vapid``. A key other than the subscription's applicationServerKey:
403 ``VapidPkHashMismatch`` (Apple's name). Anything wrong with the JWT (not ES256, bad signature
for ``k``, ``aud`` not the endpoint's origin, ``exp`` passed or more than 24 h ahead, ``sub`` not
a contactable ``mailto:``/``https:`` URI): 403 ``BadJwtToken``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import jwt
import orjson
from cryptography.hazmat.primitives.asymmetric import ec

from pushgate.simulator.server import Response
from pushgate.simulator.settings import WebPushRules
from pushgate.simulator.webpush_crypto import b64url_decode

_POINT_SIZE = 65
_MAILTO = re.compile(r"mailto:[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;.]+")
_SIGNATURE_ONLY = {
    "verify_signature": True,
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "verify_aud": False,
    "verify_iss": False,
}


class WebPushRejection(Exception):
    """A push service error answer: ``{"reason": ..., "message": ...}``."""

    def __init__(
        self, status: int, reason: str, message: str, headers: tuple[tuple[str, str], ...] = ()
    ) -> None:
        super().__init__(f"{status} {reason}")
        self.status, self.reason, self.message, self.headers = status, reason, message, headers

    def response(self) -> Response:
        """The HTTP answer."""
        body = orjson.dumps({"reason": self.reason, "message": self.message})
        return Response(self.status, (("content-type", "application/json"), *self.headers), body)


@dataclass(frozen=True, slots=True)
class VapidIdentity:
    """Who signed an accepted message."""

    key: str
    """``k`` as sent (base64url)."""
    subject: str | None


def verify_vapid(
    authorization: str | None,
    *,
    audiences: frozenset[str],
    bound_key: bytes | None,
    rules: WebPushRules,
    now: float,
) -> VapidIdentity | None:
    """Check the VAPID header of a message for a subscription whose origin is ``audience``.

    Returns None when there is no header and ``rules.require_vapid`` is off.
    """
    scheme, _, params = (authorization or "").strip().partition(" ")
    if scheme.lower() != "vapid":
        if authorization is None and not rules.require_vapid and bound_key is None:
            return None
        raise WebPushRejection(
            401,
            "MissingAuthorization",
            "Send 'Authorization: vapid t=<JWT>, k=<public key>' (RFC 8292).",
            (("www-authenticate", "vapid"),),
        )
    fields = _params(params)
    token, key_text = fields.get("t", ""), fields.get("k", "")
    point = _public_point(key_text)
    if bound_key is not None and point != bound_key:
        raise WebPushRejection(
            403,
            "VapidPkHashMismatch",
            "The VAPID key is not the applicationServerKey the subscription was created with.",
        )
    claims = _verified_claims(token, point)
    _check_claims(claims, audiences, rules, now)
    subject = claims.get("sub")
    return VapidIdentity(key_text, subject if isinstance(subject, str) else None)


def _params(text: str) -> dict[str, str]:
    """``t=..., k=...`` as a dict (names lower-cased)."""
    fields: dict[str, str] = {}
    for part in text.split(","):
        name, _, value = part.strip().partition("=")
        fields[name.strip().lower()] = value.strip()
    return fields


def _bad_jwt(why: str) -> WebPushRejection:
    return WebPushRejection(403, "BadJwtToken", f"The VAPID JWT is not acceptable: {why}.")


def _public_point(text: str) -> bytes:
    """``k``: base64url of a 65-byte uncompressed P-256 point."""
    try:
        point = b64url_decode(text)
        if len(point) != _POINT_SIZE or point[0] != 0x04:
            raise ValueError("wrong size")
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise _bad_jwt("k is not a base64url P-256 public key") from None
    return point


def _verified_claims(token: str, point: bytes) -> dict[str, Any]:
    """The JWT's claims once its ES256 signature verifies with ``point``."""
    public_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    try:
        if jwt.get_unverified_header(token).get("alg") != "ES256":
            raise _bad_jwt("alg is not ES256")
        claims: dict[str, Any] = jwt.decode(
            token, public_key, algorithms=["ES256"], options=_SIGNATURE_ONLY
        )
    except jwt.InvalidTokenError:
        raise _bad_jwt("t is not a JWT signed with k") from None
    return claims


def _check_claims(
    claims: dict[str, Any], audiences: frozenset[str], rules: WebPushRules, now: float
) -> None:
    """aud, exp and sub (RFC 8292 §2)."""
    if claims.get("aud") not in audiences:
        raise _bad_jwt(f"aud must be the push resource's origin {min(audiences, key=len)}")
    expires = claims.get("exp")
    if isinstance(expires, bool) or not isinstance(expires, int | float):
        raise _bad_jwt("exp is missing")
    if not math.isfinite(expires) or expires <= now:
        raise _bad_jwt("it has expired")
    if expires - now > rules.max_vapid_expiry:
        raise _bad_jwt(f"exp is more than {rules.max_vapid_expiry} seconds ahead")
    subject = claims.get("sub")
    if subject is None and not rules.require_vapid_subject:
        return
    if not (isinstance(subject, str) and _contactable(subject)):
        raise _bad_jwt("sub must be a mailto: address or an https: URL")


def _contactable(subject: str) -> bool:
    """A ``mailto:`` with a plain address or an ``https:`` URL, neither at ``localhost``.

    RFC 8292 §2.1 asks for a contact URI; Apple's push service answers 403 BadJwtToken for
    a ``mailto:`` with spaces or angle brackets and for an address at a host without a dot.
    """
    if _MAILTO.fullmatch(subject):
        return True
    if not subject.startswith("https://") or any(c.isspace() for c in subject):
        return False
    try:
        host = urlsplit(subject).hostname or ""
    except ValueError:
        return False
    return "." in host
