"""The OAuth2 JWT-bearer flow that turns an FCM service account into cached access tokens.

Sans-I/O, like h2: ``assertion_request()`` says what to POST to the account's ``token_uri``,
``accept_token_response()`` reads the answer, ``current()`` hands out the cached token. The
caller owns the HTTP exchange (and should let one exchange run at a time per account, since all
sends of an account share this object's token). Wire facts: docs/fcm.md §2.

A typical send::

    token = source.current()
    if token is None:
        url, body, headers = source.assertion_request()
        response = <POST url>
        token = source.accept_token_response(response.status, response.body)
    <send with token>; on Retry(refresh_credentials=True): source.invalidate(token), once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Final, TypeGuard
from urllib.parse import urlencode

import orjson
from google.auth import crypt
from google.auth import jwt as google_jwt

from pushgate.errors import CredentialError, TransportError
from pushgate.providers.fcm_credentials import FcmServiceAccount

__all__ = [
    "ASSERTION_LIFETIME",
    "FCM_SCOPE",
    "GRANT_TYPE",
    "REFRESH_MARGIN",
    "FcmTokenSource",
    "TokenEndpointUnavailable",
]

FCM_SCOPE: Final = "https://www.googleapis.com/auth/firebase.messaging"
GRANT_TYPE: Final = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME: Final = 3600
"""Seconds between the assertion's ``iat`` and ``exp``: Google's maximum (§2)."""
REFRESH_MARGIN: Final = 300.0
"""A cached token is replaced once it has less than this many seconds left."""

_Headers = tuple[tuple[bytes, bytes], ...]
_FORM_HEADERS: Final[_Headers] = (
    (b"content-type", b"application/x-www-form-urlencoded"),
    (b"accept", b"application/json"),
)


class TokenEndpointUnavailable(TransportError):
    """The token endpoint failed for a passing reason (429, 5xx, unreadable 200); retry later."""

    code = "token_endpoint_unavailable"
    retryable = True


class FcmTokenSource:
    """Mints assertions for one service account and caches the access token they buy."""

    __slots__ = ("_account", "_clock", "_expires_at", "_refresh_at", "_signer", "_token")

    def __init__(
        self, account: FcmServiceAccount, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._account = account
        self._clock = clock
        self._signer = crypt.RSASigner(account.private_key, key_id=account.private_key_id)
        self._token: str | None = None
        self._expires_at = 0.0
        self._refresh_at = 0.0

    @property
    def expires_at(self) -> float | None:
        """Epoch seconds when the cached token expires, or None without one."""
        return self._expires_at if self._token is not None else None

    def assertion(self) -> bytes:
        """A fresh RS256 JWT: iss, scope, aud=token_uri, iat=now, exp=iat+3600, kid (§2)."""
        issued_at = int(self._clock())
        claims = {
            "iss": self._account.client_email,
            "scope": FCM_SCOPE,
            "aud": self._account.token_uri,
            "iat": issued_at,
            "exp": issued_at + ASSERTION_LIFETIME,
        }
        signed: bytes = google_jwt.encode(self._signer, claims)
        return signed

    def assertion_request(self) -> tuple[str, bytes, _Headers]:
        """URL, form body and headers of the token request to POST (§2)."""
        form = urlencode({"grant_type": GRANT_TYPE, "assertion": self.assertion().decode()})
        return self._account.token_uri, form.encode("ascii"), _FORM_HEADERS

    def accept_token_response(self, status: int, body: bytes) -> str:
        """Cache and return the access token from the token endpoint's answer.

        Raises CredentialError (code ``token_rejected``) when Google refuses the account (a
        person must act), TokenEndpointUnavailable for 429/5xx or an unreadable success.
        """
        answer = _json_object(body)
        if status != 200:
            raise _refusal(status, answer)
        token, lifetime = _token_fields(answer)
        now = self._clock()
        self._token = token
        self._expires_at = now + lifetime
        # Short-lived tokens are used for half their life rather than never (margin > lifetime).
        self._refresh_at = self._expires_at - min(REFRESH_MARGIN, lifetime / 2)
        return token

    def current(self) -> str | None:
        """The cached token, or None when there is none or it expires within 5 minutes."""
        if self._token is None or self._clock() >= self._refresh_at:
            return None
        return self._token

    def invalidate(self, rejected: str | None = None) -> None:
        """Drop the cached token after FCM answered 401 for it.

        ``rejected`` is the token the failed request carried; if another send has already
        replaced it, the newer token is kept. Retrying once is the caller's rule.
        """
        if rejected is None or rejected == self._token:
            self._token = None

    def __repr__(self) -> str:
        return (
            f"FcmTokenSource(project_id={self._account.project_id!r}, "
            f"client_email={self._account.client_email!r}, expires_at={self.expires_at!r})"
        )


def _json_object(body: bytes) -> dict[str, Any]:
    """The body's JSON object, or an empty one when it is not JSON."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _token_fields(answer: dict[str, Any]) -> tuple[str, float]:
    """The access token and its lifetime in seconds from a 200 answer."""
    token = answer.get("access_token")
    lifetime = answer.get("expires_in", ASSERTION_LIFETIME)
    token_type = answer.get("token_type", "Bearer")
    if _header_safe(token) and _positive(lifetime) and str(token_type).lower() == "bearer":
        return token, float(lifetime)
    raise TokenEndpointUnavailable(
        "The token endpoint answered 200 without a usable Bearer access_token and expires_in; "
        "retrying later."
    )


def _header_safe(value: object) -> TypeGuard[str]:
    """True for non-empty printable ASCII text (it goes into the Authorization header)."""
    return isinstance(value, str) and value.isascii() and value.isprintable() and bool(value)


def _positive(value: object) -> TypeGuard[int | float]:
    """True for a positive JSON number (booleans excluded)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def _refusal(status: int, answer: dict[str, Any]) -> CredentialError | TokenEndpointUnavailable:
    """The error for a non-200 token answer: transient for 429/5xx, else the account's fault."""
    error = answer.get("error")
    description = answer.get("error_description")
    detail = ": ".join(str(part)[:200] for part in (error, description) if part)
    if status == 429 or status >= 500:
        return TokenEndpointUnavailable(
            f"The token endpoint answered {status}{f' ({detail})' if detail else ''}; "
            "retrying later."
        )
    return CredentialError(
        f"The token endpoint refused the service account with {status}"
        f"{f' ({detail})' if detail else ''}. Check that the key was not deleted or disabled "
        "in the Google Cloud console, and that this server's clock is right.",
        code="token_rejected",
    )
