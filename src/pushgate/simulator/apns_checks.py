"""Stateless APNs request checks: headers, :path, push types and payload."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from pushgate.simulator.apns_state import Rejection
from pushgate.simulator.settings import ApnsRules

DEVICE_PATH = "/3/device/"
PAYLOAD_LIMIT = 4096
VOIP_PAYLOAD_LIMIT = 5120
PRIORITIES = {"10": 10, "5": 5, "1": 1}

TOPIC_SUFFIXES: dict[str, str | None] = {
    "alert": "",
    "background": "",
    "location": ".location-query",
    "voip": ".voip",
    "complication": ".complication",
    "fileprovider": ".pushkit.fileprovider",
    "liveactivity": ".push-type.liveactivity",
    "pushtotalk": ".voip-ptt",
    "widgets": ".push-type.widgets",
    "controls": ".push-type.controls",
    "mdm": None,  # the topic is the UID of the MDM certificate: no suffix rule
}
"""Every ``apns-push-type`` APNs knows, with the suffix its ``apns-topic`` must carry."""

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_TOPIC = re.compile(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*")
_TOKEN = re.compile(r"(?:[0-9a-fA-F]{2}){32,}")


@dataclass(frozen=True, slots=True)
class HeaderView:
    """First value of each regular header, and whether any header name was repeated."""

    values: dict[str, str]
    duplicated: bool

    @classmethod
    def parse(cls, headers: tuple[tuple[str, str], ...]) -> HeaderView:
        values: dict[str, str] = {}
        for name, value in headers:
            values.setdefault(name, value)
        return cls(values, len(values) != len(headers))

    def get(self, name: str) -> str | None:
        return self.values.get(name)


def check_apns_id(value: str | None) -> str | None:
    """``apns-id`` must be a UUID in 8-4-4-4-12 form (either case accepted) -> 400 BadMessageId."""
    if value is not None and not _UUID.fullmatch(value):
        raise Rejection(400, "BadMessageId")
    return value


def check_topic_syntax(value: str) -> str:
    """A topic is a bundle id, dot-separated letters, digits and hyphens -> 400 BadTopic."""
    if not _TOPIC.fullmatch(value):
        raise Rejection(400, "BadTopic")
    return value


def check_collapse_id(value: str | None) -> str | None:
    """``apns-collapse-id`` is at most 64 bytes -> 400 BadCollapseId."""
    if value is not None and len(value.encode()) > 64:
        raise Rejection(400, "BadCollapseId")
    return value


def check_priority(value: str | None) -> int:
    """``apns-priority`` is 10 (default), 5 or 1 -> 400 BadPriority."""
    if value is None:
        return 10
    if value not in PRIORITIES:
        raise Rejection(400, "BadPriority")
    return PRIORITIES[value]


def check_push_type(value: str | None) -> str | None:
    """``apns-push-type`` must be a known value -> 400 InvalidPushType."""
    if value is not None and value not in TOPIC_SUFFIXES:
        raise Rejection(400, "InvalidPushType")
    return value


def check_expiration(value: str | None) -> int | None:
    """``apns-expiration`` is epoch seconds, a non-negative integer -> 400 BadExpirationDate."""
    if value is None:
        return None
    if not value.isascii() or not value.isdigit():
        raise Rejection(400, "BadExpirationDate")
    return int(value)


def device_token(path: str) -> str:
    """The lower-cased token of ``/3/device/<token>``; BadPath, MissingDeviceToken or BadDeviceToken."""
    if not path.startswith(DEVICE_PATH):
        raise Rejection(404, "BadPath")
    token = path[len(DEVICE_PATH) :]
    if not token:
        raise Rejection(400, "MissingDeviceToken")
    if not _TOKEN.fullmatch(token):
        raise Rejection(400, "BadDeviceToken")
    return token.lower()


def implied_push_type(topic: str) -> str:
    """The push type a topic's suffix stands for (``alert`` for a bare bundle id)."""
    matches = [(len(s), t) for t, s in TOPIC_SUFFIXES.items() if s and topic.endswith(s)]
    return max(matches)[1] if matches else "alert"


def bundle_id(topic: str) -> str:
    """The app a topic belongs to: the topic without its push-type suffix."""
    suffix = TOPIC_SUFFIXES[implied_push_type(topic)] or ""
    return topic[: len(topic) - len(suffix)] if suffix and len(topic) > len(suffix) else topic


def check_topic_suffix(push_type: str | None, topic: str, reason: str) -> None:
    """The topic must carry the suffix its push type requires (voip -> ``.voip``, ...)."""
    suffix = TOPIC_SUFFIXES.get(push_type or "")
    if push_type is None or suffix is None:
        return
    if suffix:
        ok = topic.endswith(suffix) and len(topic) > len(suffix)
    else:
        ok = implied_push_type(topic) == "alert"
    if not ok:
        raise Rejection(400, reason)


def check_payload(body: bytes, push_type: str, priority: int, rules: ApnsRules) -> dict[str, Any]:
    """Body present, within the size limit, a JSON dictionary whose ``aps`` (if any) is one too
    (Apple's payload reference); background pushes kept to the rules."""
    if not body:
        raise Rejection(400, "PayloadEmpty")
    limit = VOIP_PAYLOAD_LIMIT if push_type == "voip" else PAYLOAD_LIMIT
    if len(body) > limit:
        raise Rejection(413, "PayloadTooLarge")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        payload = None
    if not isinstance(payload, dict) or not isinstance(payload.get("aps", {}), dict):
        raise Rejection(400, rules.invalid_payload_reason)
    if push_type == "background":
        _check_background(payload, priority, rules)
    return payload


def _check_background(payload: dict[str, Any], priority: int, rules: ApnsRules) -> None:
    """Background pushes: priority 5 or 1, and ``aps`` holding only ``content-available: 1``."""
    if priority == 10 and rules.background_priority_10_reason:
        raise Rejection(400, rules.background_priority_10_reason)
    aps = payload.get("aps")
    if rules.background_payload_reason and aps != {"content-available": 1}:
        raise Rejection(400, rules.background_payload_reason)
