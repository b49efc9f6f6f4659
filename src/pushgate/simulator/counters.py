"""What a client did, counted per service: connections, requests, credentials, deliveries.

These answer the questions a team asks of its own client code ("does it reuse connections?",
"does it mint a JWT per request?", "did every device get one push?"), which the inbox alone
cannot answer.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any


class ClientCounters:
    """Counters of one service; :meth:`clear` starts them again."""

    def __init__(self) -> None:
        self.connections = 0
        self.open_connections = 0
        self.requests = 0
        self.token_refreshes = 0
        self._credentials: set[bytes] = set()
        self._deliveries: Counter[str] = Counter()

    def connection_opened(self) -> None:
        self.connections += 1
        self.open_connections += 1

    def connection_closed(self) -> None:
        self.open_connections -= 1

    def request(self) -> None:
        self.requests += 1

    def credential_seen(self, credential: str) -> None:
        """A JWT or access token on a request; kept as a digest, never as the secret."""
        self._credentials.add(hashlib.sha256(credential.encode()).digest())

    def token_refreshed(self) -> None:
        """A new token was issued (FCM) or replaced the one a connection used (APNs)."""
        self.token_refreshes += 1

    def delivered(self, target: str) -> None:
        """One accepted message to a device token, topic or subscription."""
        self._deliveries[target] += 1

    def clear(self) -> None:
        """Forget everything but the connections still open."""
        self.connections = self.requests = self.token_refreshes = 0
        self._credentials.clear()
        self._deliveries.clear()

    def to_json(self) -> dict[str, Any]:
        """The ``clients`` part of the stats endpoints."""
        return {
            "connections": self.connections,
            "open_connections": self.open_connections,
            "requests": self.requests,
            "distinct_credentials": len(self._credentials),
            "token_refreshes": self.token_refreshes,
            "deliveries": dict(self._deliveries),
        }
