"""The simulator's inboxes (APNs, FCM, Web Push): accepted messages (bounded, oldest dropped) and
rejection counts."""

from __future__ import annotations

import base64
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Generic, TypeVar

from pushgate.simulator.counters import ClientCounters


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


_Item = TypeVar("_Item")


class _Log(Generic[_Item]):
    """Accepted items, newest last, plus counters of what was rejected and why."""

    def __init__(self, max_size: int = 100_000) -> None:
        self._items: deque[_Item] = deque(maxlen=max_size)
        self._rejections: Counter[str] = Counter()
        self._accepted = 0
        self.clients = ClientCounters()
        """What the clients of this service did (connections, credentials, deliveries)."""

    def __len__(self) -> int:
        return len(self._items)

    def add(self, item: _Item) -> None:
        """Keep an accepted item, dropping the oldest when full."""
        self._items.append(item)
        self._accepted += 1
        self.clients.delivered(self._target(item))

    def _target(self, item: _Item) -> str:
        """Whom an item was delivered to (a device token, topic or subscription)."""
        raise NotImplementedError

    def reject(self, reason: str) -> None:
        """Count one rejected request."""
        self._rejections[reason] += 1

    def _select(self, keep: Callable[[_Item], bool], limit: int | None) -> list[_Item]:
        """Items ``keep`` accepts, oldest first; ``limit`` keeps the newest ones."""
        found = [item for item in self._items if keep(item)]
        return found[-limit:] if limit else found

    def clear(self) -> int:
        """Forget all items and counters; return how many items there were."""
        count = len(self._items)
        self._items.clear()
        self._rejections.clear()
        self._accepted = 0
        self.clients.clear()
        return count

    def stats(self) -> dict[str, Any]:
        """Totals and rejections by reason (the shape of the control API's stats endpoints)."""
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
            "clients": self.clients.to_json(),
        }


class Inbox(_Log[ReceivedNotification]):
    """Notifications the APNs listeners accepted."""

    def _target(self, item: ReceivedNotification) -> str:
        return item.token

    def query(
        self, *, token: str | None = None, topic: str | None = None, limit: int | None = None
    ) -> list[ReceivedNotification]:
        """Matching notifications, oldest first; ``limit`` keeps the newest ones."""
        token = token.lower() if token else None
        return self._select(
            lambda n: (token is None or n.token == token) and (topic is None or n.topic == topic),
            limit,
        )


@dataclass(frozen=True, slots=True)
class FcmReceived:
    """One FCM send the simulator accepted with 200 (``validate_only`` sends are not kept)."""

    received_at: float
    project_id: str
    """The project named in the send URL."""
    message_id: str
    """The ``name`` answered: ``projects/P/messages/0:...``."""
    target_kind: str
    """``token``, ``topic``, ``condition`` or ``fid``."""
    target: str
    service_account: str
    """``client_email`` of the account whose access token authorised the send."""
    message: dict[str, Any]
    """The ``message`` object exactly as sent."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the shape GET /fcm/inbox returns)."""
        return asdict(self)


class FcmInbox(_Log[FcmReceived]):
    """Messages the FCM listener accepted."""

    def _target(self, item: FcmReceived) -> str:
        return item.target if item.target_kind == "token" else f"{item.target_kind}:{item.target}"

    def query(
        self,
        *,
        project_id: str | None = None,
        token: str | None = None,
        topic: str | None = None,
        limit: int | None = None,
    ) -> list[FcmReceived]:
        """Matching messages, oldest first; ``limit`` keeps the newest ones."""
        wanted = [("token", token), ("topic", topic.removeprefix("/topics/") if topic else None)]

        def keep(m: FcmReceived) -> bool:
            if project_id is not None and m.project_id != project_id:
                return False
            return all(v is None or (m.target_kind, m.target) == (k, v) for k, v in wanted)

        return self._select(keep, limit)


@dataclass(frozen=True, slots=True)
class WebPushReceived:
    """One Web Push message the simulator accepted with 201, decrypted."""

    received_at: float
    subscription_id: str
    endpoint: str
    message_id: str
    ttl: int
    """The ``TTL`` asked for (the answer may carry a shorter one)."""
    urgency: str
    """The ``Urgency`` header, ``normal`` when absent."""
    topic: str | None
    vapid_subject: str | None
    vapid_key: str | None
    """The ``k`` of the VAPID header (base64url application server key), if one was sent."""
    plaintext: bytes
    payload: Any
    """The plaintext parsed as JSON, or None when it is not JSON."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (GET /webpush/inbox): plaintext as base64, ``text`` when UTF-8."""
        data = asdict(self)
        data["plaintext"] = base64.b64encode(self.plaintext).decode("ascii")
        try:
            data["text"] = self.plaintext.decode("utf-8")
        except UnicodeDecodeError:
            data["text"] = None
        return data


class WebPushInbox(_Log[WebPushReceived]):
    """Messages the Web Push listener accepted."""

    def _target(self, item: WebPushReceived) -> str:
        return item.subscription_id

    def query(
        self,
        *,
        subscription_id: str | None = None,
        endpoint: str | None = None,
        limit: int | None = None,
    ) -> list[WebPushReceived]:
        """Matching messages, oldest first; ``limit`` keeps the newest ones."""
        return self._select(
            lambda m: (
                (subscription_id is None or m.subscription_id == subscription_id)
                and (endpoint is None or m.endpoint == endpoint)
            ),
            limit,
        )
