"""The simulator's inbox: accepted notifications (bounded, oldest dropped) and rejection counts."""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class AuthInfo:
    """How the provider authenticated: a JWT signing key or a client certificate."""

    kind: str  # "token" | "certificate"
    key_id: str | None = None
    team_id: str | None = None
    subject_uid: str | None = None


@dataclass(frozen=True, slots=True)
class ReceivedNotification:
    """One notification the simulator accepted with 200."""

    received_at: float
    environment: str
    token: str
    topic: str
    push_type: str | None
    priority: int
    expiration: int | None
    apns_id: str
    collapse_id: str | None
    auth: AuthInfo
    payload: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the shape GET /inbox returns)."""
        data = asdict(self)
        data["auth"] = {k: v for k, v in data["auth"].items() if v is not None}
        return data


class Inbox:
    """Accepted notifications, newest last, plus counters of what was rejected and why."""

    def __init__(self, max_size: int = 100_000) -> None:
        self._items: deque[ReceivedNotification] = deque(maxlen=max_size)
        self._rejections: Counter[str] = Counter()
        self._accepted = 0

    def __len__(self) -> int:
        return len(self._items)

    def add(self, notification: ReceivedNotification) -> None:
        """Keep an accepted notification, dropping the oldest when full."""
        self._items.append(notification)
        self._accepted += 1

    def reject(self, reason: str) -> None:
        """Count one rejected request."""
        self._rejections[reason] += 1

    def query(
        self, *, token: str | None = None, topic: str | None = None, limit: int | None = None
    ) -> list[ReceivedNotification]:
        """Matching notifications, oldest first; ``limit`` keeps the newest ones."""
        token = token.lower() if token else None
        found = [
            n
            for n in self._items
            if (token is None or n.token == token) and (topic is None or n.topic == topic)
        ]
        return found[-limit:] if limit else found

    def clear(self) -> int:
        """Forget all notifications and counters; return how many notifications there were."""
        count = len(self._items)
        self._items.clear()
        self._rejections.clear()
        self._accepted = 0
        return count

    def stats(self) -> dict[str, Any]:
        """Totals and rejections by reason (the shape GET /stats returns)."""
        rejected = sum(self._rejections.values())
        return {
            "requests": self._accepted + rejected,
            "accepted": self._accepted,
            "rejected": rejected,
            "rejections": dict(self._rejections),
            "inbox": {
                "size": len(self._items),
                "max": self._items.maxlen,
                "dropped": self._accepted - len(self._items),
            },
        }
