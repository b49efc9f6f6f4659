"""Mint and cache the ES256 provider tokens (JWT) that authorize token-based APNs requests.

Apple's rules (docs/apns.md §5): a token whose ``iat`` is more than an hour old gets
``403 ExpiredProviderToken``, and changing tokens more than once per 20 minutes gets
``429 TooManyProviderTokenUpdates``. The signer therefore re-mints after ``refresh_after``
(20-55 minutes, default 50) and never sooner than 20 minutes after the previous token, not even
when asked to by ``invalidate()``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

import jwt

from pushgate.providers.apns_credentials import ApnsTokenCredential

__all__ = [
    "DEFAULT_REFRESH_AFTER",
    "MAX_REFRESH_AFTER",
    "MIN_REFRESH_INTERVAL",
    "ProviderTokenSigner",
]

MIN_REFRESH_INTERVAL: Final = 20 * 60
"""Seconds that must pass between two tokens (§5)."""
MAX_REFRESH_AFTER: Final = 55 * 60
"""Latest configurable refresh age: leaves 5 minutes before APNs calls the token expired."""
DEFAULT_REFRESH_AFTER: Final = 50 * 60
"""Default token age at which a new one is minted (as apns2 does, §5)."""


class ProviderTokenSigner:
    """Signs ``bearer <jwt>`` values for one signing key and hands out the cached one.

    One signer per credential, shared by every connection that uses the key, so all of them
    send the same token and APNs sees at most one token change per 20 minutes.
    """

    __slots__ = (
        "_clock",
        "_credential",
        "_header",
        "_issued_at",
        "_on_mint",
        "_refresh_after",
        "_refresh_at",
    )

    def __init__(
        self,
        credential: ApnsTokenCredential,
        *,
        clock: Callable[[], float] = time.time,
        refresh_after: float = DEFAULT_REFRESH_AFTER,
        on_mint: Callable[[int], None] | None = None,
    ) -> None:
        """``on_mint`` hears the ``iat`` of every new token (the console shows the JWT's age)."""
        if not MIN_REFRESH_INTERVAL <= refresh_after <= MAX_REFRESH_AFTER:
            raise ValueError(
                f"refresh_after must be between {MIN_REFRESH_INTERVAL} and "
                f"{MAX_REFRESH_AFTER} seconds (20-55 minutes), got {refresh_after}"
            )
        self._credential = credential
        self._clock = clock
        self._refresh_after = refresh_after
        self._header = b""
        self._issued_at: int | None = None
        self._refresh_at = float("-inf")
        self._on_mint = on_mint

    @property
    def issued_at(self) -> int | None:
        """The ``iat`` of the current token (epoch seconds), or None before the first one."""
        return self._issued_at

    def token(self) -> bytes:
        """The ``authorization`` header value; a new token only once the current one is due."""
        if self._clock() < self._refresh_at:
            return self._header
        return self._mint()

    def invalidate(self, rejected: bytes | None = None) -> bool:
        """Handle ``403 ExpiredProviderToken``; True if a newer token is ready to retry with.

        ``rejected`` is the header value the failed request carried. If a newer token has
        already replaced it, nothing is minted and the caller may retry. Otherwise a new token
        is minted, unless the current one is younger than 20 minutes: then the refresh is
        refused (False) and the caller should reject the delivery instead of looping. (Our
        refresh rule keeps ``iat`` under an hour old, so this only happens after a clock jump.)
        """
        if rejected is not None and self._header and rejected != self._header:
            return True
        if self._issued_at is not None and self._clock() - self._issued_at < MIN_REFRESH_INTERVAL:
            return False
        self._mint()
        return True

    def _mint(self) -> bytes:
        """Sign a new token with ``iat`` = now and cache its header value."""
        issued_at = int(self._clock())
        credential = self._credential
        signed = jwt.encode(
            {"iss": credential.team_id, "iat": issued_at},
            credential.private_key,
            algorithm="ES256",
            headers={"kid": credential.key_id, "typ": None},
        )
        self._header = b"bearer " + signed.encode("ascii")
        self._issued_at = issued_at
        self._refresh_at = issued_at + self._refresh_after
        if self._on_mint is not None:
            self._on_mint(issued_at)
        return self._header

    def __repr__(self) -> str:
        return (
            f"ProviderTokenSigner(key_id={self._credential.key_id!r}, "
            f"team_id={self._credential.team_id!r}, issued_at={self._issued_at!r})"
        )
