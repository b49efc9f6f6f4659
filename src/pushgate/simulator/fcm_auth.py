"""The FCM simulator's OAuth side: the JWT-bearer token endpoint and Bearer checks on sends
(docs/simulator.md).

``POST /token`` takes ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<JWT>``
and answers like Google: ``{"access_token", "expires_in", "token_type": "Bearer"}``, or 400
``{"error", "error_description"}``. The assertion must be RS256, signed by a key of the account
its ``iss`` names, with ``aud`` = one of the simulator's token URLs or Google's own, a firebase.messaging or
cloud-platform ``scope``, ``exp - iat`` ≤ 3600 and ``exp`` still ahead.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any
from urllib.parse import parse_qs

import jwt
import orjson

from pushgate.simulator.fcm_errors import permission_denied, unauthenticated
from pushgate.simulator.fcm_state import FcmRegistry, ServiceAccountRecord
from pushgate.simulator.server import Response
from pushgate.simulator.settings import FcmRules

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
"""Google's token endpoint: the ``aud`` Google's auth libraries sign for whatever a service
account's ``token_uri`` says, so the simulator accepts it besides its own URLs."""
SCOPES = frozenset(
    {
        "https://www.googleapis.com/auth/firebase.messaging",
        "https://www.googleapis.com/auth/cloud-platform",
    }
)
MAX_ASSERTION_LIFETIME = 3600
_TIMEFRAME = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
    "timeframe. Check your iat and exp values in the JWT claim."
)
_SIGNATURE_ONLY = {
    "verify_signature": True,
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "verify_aud": False,
    "verify_iss": False,
}


class OAuthError(Exception):
    """A Google OAuth error answer: ``{"error": ..., "error_description": ...}``."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{status} {error}")
        self.error, self.description, self.status = error, description, status

    def response(self) -> Response:
        """The HTTP answer."""
        body = orjson.dumps({"error": self.error, "error_description": self.description})
        return Response(self.status, (("content-type", "application/json; charset=utf-8"),), body)


def exchange(
    body: bytes,
    *,
    registry: FcmRegistry,
    audiences: Collection[str],
    rules: FcmRules,
    now: float,
) -> dict[str, Any]:
    """Check a token request and issue an access token; raise :class:`OAuthError` otherwise."""
    form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    grant_type = form.get("grant_type", [""])[0]
    if grant_type != GRANT_TYPE:
        raise OAuthError("unsupported_grant_type", f"Invalid grant_type: {grant_type[:100]}")
    assertion = form.get("assertion", [""])[0]
    if not assertion:
        raise OAuthError("invalid_request", "Missing required parameter: assertion")
    account, claims = _verify(assertion, registry)
    _check_claims(claims, audiences, rules, now)
    lifetime = rules.access_token_lifetime
    token = registry.issue(account, lifetime, now)
    return {"access_token": token, "expires_in": lifetime, "token_type": "Bearer"}


def _verify(assertion: str, registry: FcmRegistry) -> tuple[ServiceAccountRecord, dict[str, Any]]:
    """The account named by ``iss`` and the claims, once its key verifies the RS256 signature."""
    try:
        header = jwt.get_unverified_header(assertion)
        unverified = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        raise OAuthError("invalid_grant", "Invalid JWT: the assertion is not a JWT.") from None
    if header.get("alg") != "RS256":
        raise OAuthError("invalid_grant", "Invalid JWT Signature.")
    account = registry.accounts.get(str(unverified.get("iss")))
    if account is None:
        raise OAuthError("invalid_grant", "Invalid grant: account not found")
    kid = header.get("kid")
    keys = [account.keys[kid]] if kid in account.keys else list(account.keys.values())
    for key in keys:
        try:
            claims: dict[str, Any] = jwt.decode(
                assertion, key, algorithms=["RS256"], options=_SIGNATURE_ONLY
            )
        except jwt.InvalidTokenError:
            continue
        return account, claims
    raise OAuthError("invalid_grant", "Invalid JWT Signature.")


def _check_claims(
    claims: dict[str, Any], audiences: Collection[str], rules: FcmRules, now: float
) -> None:
    """aud, scope, iat and exp."""
    audience = claims.get("aud")
    if audience not in audiences:
        right = min(audiences, key=len) if audiences else "(none)"
        raise OAuthError(
            "invalid_grant", f"Invalid JWT: Failed audience check. The right audience is {right}"
        )
    scopes = str(claims.get("scope", "")).split()
    if not SCOPES.intersection(scopes):
        raise OAuthError("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
    issued_at, expires = claims.get("iat"), claims.get("exp")
    if not (_is_number(issued_at) and _is_number(expires)):
        raise OAuthError("invalid_grant", _TIMEFRAME)
    if not 0 < expires - issued_at <= MAX_ASSERTION_LIFETIME:
        raise OAuthError("invalid_grant", _TIMEFRAME)
    if expires <= now or issued_at > now + rules.assertion_clock_skew:
        raise OAuthError("invalid_grant", _TIMEFRAME)


def authorize_send(
    authorization: str | None, project: str, *, registry: FcmRegistry, now: float
) -> ServiceAccountRecord:
    """The account whose unexpired access token authorises sends to ``project``.

    401 UNAUTHENTICATED (no FcmError) for a missing, unknown or expired token; 403
    PERMISSION_DENIED when the token's account belongs to another project.
    """
    if authorization is None:
        raise unauthenticated(missing=True)
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        raise unauthenticated(missing=True)
    account = registry.resolve(token.strip(), now)
    if account is None:
        raise unauthenticated(missing=False)
    if not account.serves(project):
        raise permission_denied(project)
    return account


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
