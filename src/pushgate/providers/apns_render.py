"""A notification rendered for APNs once: payload bytes and the header values it implies.

Rendered (and so checked) when the notification is accepted, stored beside it, and read back
when the outbox is paged in: sending then needs no parse of the message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pushgate.message import Message
from pushgate.providers import apns


@dataclass(slots=True)
class ApnsRender:
    """What every APNs request of one notification carries.

    Not frozen: one is built per notification on the send path, and a frozen dataclass's
    ``__init__`` costs twice as much.
    """

    payload: bytes
    push_type: str
    priority: int
    volatile: tuple[tuple[bytes, bytes], ...]
    """apns-expiration / apns-collapse-id: literal, never HPACK-indexed."""
    topic: str | None = None
    """The message's own apns-topic; None: the credential's (``apns.topic_for``)."""
    apns_id: str | None = None
    """The message's own apns-id for every device; None: each delivery's derived one."""
    id_prefix: bytes | None = field(default=None, compare=False, repr=False)
    """The notification's ``apns.apns_id_prefix`` once a delivery needed it (never stored)."""

    @classmethod
    def of(cls, message: Message) -> ApnsRender:
        """Render and check: RequestError (e.g. PayloadTooLarge) if APNs would refuse it."""
        payload = apns.build_payload(message)
        apns.check_size(payload, message.push_type)
        return cls(
            payload=payload,
            push_type=message.push_type,
            priority=apns.priority_for(message),
            volatile=tuple(apns.volatile_headers(message, None)),
            topic=message.apns_topic,
            apns_id=message.apns_id,
        )

    def to_stored(self) -> dict[str, Any]:
        """A JSON-ready form to keep with the notification."""
        return {
            "payload": self.payload.decode(),
            "push_type": self.push_type,
            "priority": self.priority,
            "volatile": [[name.decode(), value.decode()] for name, value in self.volatile],
            "topic": self.topic,
            "apns_id": self.apns_id,
        }

    @classmethod
    def from_stored(cls, data: dict[str, Any]) -> ApnsRender:
        """Back from :meth:`to_stored`."""
        volatile = data["volatile"]
        return cls(
            data["payload"].encode(),
            data["push_type"],
            data["priority"],
            tuple((name.encode(), value.encode()) for name, value in volatile) if volatile else (),
            data.get("topic"),
            data.get("apns_id"),
        )
