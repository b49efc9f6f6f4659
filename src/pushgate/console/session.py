"""Console sessions: the API key sealed in a cookie, and the CSRF token of the forms.

The cookie is a Fernet token (AES-CBC + HMAC, with its creation time) under a key derived
from the gateway's secret, so it can be neither read nor forged, and it expires after
``SESSION_SECONDS``. Every request re-identifies the key, so a deleted app's session ends
at once. Forms carry the session's CSRF token; the login form carries a token that a
short-lived cookie of its own holds (double submit), since there is no session yet.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

import orjson
from cryptography.fernet import Fernet, InvalidToken

from pushgate.security import SecretBox

COOKIE = "pushgate_console"
LOGIN_COOKIE = "pushgate_console_login"
COOKIE_PATH = "/console"
SESSION_SECONDS = 8 * 3600
LOGIN_SECONDS = 3600
PURPOSE = "pushgate console session v1"


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in console user: the key they signed in with and their forms' CSRF token."""

    api_key: str
    csrf: str


class SessionCodec:
    """Seals sessions into cookie values and opens them again."""

    def __init__(self, box: SecretBox) -> None:
        self._fernet = Fernet(box.derived_key(PURPOSE))

    def new(self, api_key: str) -> tuple[Session, str]:
        """A fresh session for ``api_key`` and its cookie value."""
        session = Session(api_key=api_key, csrf=secrets.token_urlsafe(32))
        value = self._fernet.encrypt(orjson.dumps({"k": session.api_key, "c": session.csrf}))
        return session, value.decode("ascii")

    def open(self, value: str | None) -> Session | None:
        """The session in a cookie value, or None if missing, tampered with or expired."""
        if not value:
            return None
        try:
            data = orjson.loads(self._fernet.decrypt(value.encode("ascii"), ttl=SESSION_SECONDS))
        except (InvalidToken, UnicodeEncodeError, orjson.JSONDecodeError):
            return None
        return Session(api_key=data["k"], csrf=data["c"])


def tokens_match(expected: str | None, given: str | None) -> bool:
    """Constant-time CSRF token check; a missing one never matches."""
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))
