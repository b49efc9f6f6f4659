"""What the benchmarks send: deterministic device tokens, users and one chat-like message."""

from __future__ import annotations

import hashlib
from typing import Any

from pushgate.message import Message
from pushgate.providers import apns

TOPIC = "com.example.chat"
KEY_ID = "BENCHKEY01"
TEAM_ID = "BENCHTEAM1"


def token(index: int) -> str:
    """Device token number ``index``: 64 lower-case hex digits, the same in every run."""
    return hashlib.sha256(b"pushgate-bench-%d" % index).hexdigest()


def user(index: int) -> str:
    """User id number ``index``."""
    return f"user-{index:07d}"


def message_fields(sequence: int = 0) -> dict[str, Any]:
    """A chat message as API fields; its APNs body is about 250 bytes like the reference runs."""
    return {
        "alert": {"title": "Ada Lovelace", "body": f"Are we still on for lunch? #{sequence:08d}"},
        "sound": "default",
        "thread_id": "conversation-4242",
        "badge": 3,
        "data": {
            "conversation_id": "c0a8f7e2-5b1d-4e0f-9a77-3d2b1c4e5f60",
            "message_id": f"m-{sequence:012d}",
            "sender": "ada",
        },
    }


def message(sequence: int = 0) -> Message:
    """The message of :func:`message_fields` as a validated Message."""
    return Message.model_validate(message_fields(sequence))


def apns_body() -> bytes:
    """The APNs request body the gateway sends for the bench message (for h2load)."""
    return apns.build_payload(message())
