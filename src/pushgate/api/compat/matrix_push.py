"""Matrix push gateway notifications as pushes: request validation and per-device payloads.

Pure functions. What each payload carries, and why, is written up in docs/compat-matrix.md.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from pushgate.message import FcmOptions, Message

_HEX_TOKEN = re.compile(r"[0-9a-fA-F]{64,200}")
_FULL_KEYS = (
    "event_id",
    "room_id",
    "type",
    "sender",
    "sender_display_name",
    "room_name",
    "room_alias",
    "membership",
    "user_is_target",
)
"""Notification fields a full-format FCM push carries as data."""


class BadNotify(ValueError):
    """The request is not a Push Gateway API notify; the text says what to fix."""

    def __init__(self, errcode: str, message: str) -> None:
        super().__init__(message)
        self.errcode = errcode


@dataclass(frozen=True, slots=True)
class Device:
    """One entry of ``notification.devices``."""

    app_id: str
    pushkey: str
    data: dict[str, Any]
    tweaks: dict[str, Any]

    @property
    def event_id_only(self) -> bool:
        return self.data.get("format") == "event_id_only"

    @property
    def default_payload(self) -> dict[str, Any]:
        value = self.data.get("default_payload")
        return value if isinstance(value, dict) else {}


def parse_notify(body: Any) -> tuple[dict[str, Any], list[Device]]:
    """The notification and its devices; BadNotify for a request the API does not allow."""
    if not isinstance(body, dict):
        raise BadNotify("M_NOT_JSON", "The body must be a JSON object.")
    notification = body.get("notification")
    if not isinstance(notification, dict):
        raise BadNotify("M_BAD_JSON", "The body needs a 'notification' object.")
    entries = notification.get("devices")
    if not isinstance(entries, list) or not entries:
        raise BadNotify("M_BAD_JSON", "'notification.devices' must be a non-empty array.")
    devices = []
    for index, entry in enumerate(entries):
        where = f"notification.devices[{index}]"
        if not isinstance(entry, dict):
            raise BadNotify("M_BAD_JSON", f"{where} must be an object.")
        for key in ("app_id", "pushkey"):
            if not isinstance(entry.get(key), str) or not entry[key]:
                raise BadNotify("M_BAD_JSON", f"{where}.{key} must be a non-empty string.")
        data, tweaks = entry.get("data") or {}, entry.get("tweaks") or {}
        if not isinstance(data, dict) or not isinstance(tweaks, dict):
            raise BadNotify("M_BAD_JSON", f"{where}.data and .tweaks must be objects.")
        devices.append(Device(entry["app_id"], entry["pushkey"], data, tweaks))
    counts = notification.get("counts") or {}
    if not isinstance(counts, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in counts.values()
    ):
        raise BadNotify("M_BAD_JSON", "'notification.counts' must map names to integers.")
    return notification, devices


def apns_token(pushkey: str) -> str | None:
    """The hex device token of an APNs pushkey: hex as is, or base64 (what iOS apps register)."""
    if _HEX_TOKEN.fullmatch(pushkey):
        return pushkey.lower()
    try:
        raw = base64.b64decode(pushkey, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) >= 32 else None


def _badge(notification: dict[str, Any]) -> int | None:
    counts = notification.get("counts") or {}
    if "unread" not in counts and "missed_calls" not in counts:
        return None
    return int(counts.get("unread", 0)) + int(counts.get("missed_calls", 0))


def _low(notification: dict[str, Any]) -> bool:
    return notification.get("prio") == "low"


def _alert_text(notification: dict[str, Any]) -> dict[str, str]:
    content = notification.get("content")
    body = content.get("body") if isinstance(content, dict) else None
    title = (
        notification.get("room_name")
        or notification.get("sender_display_name")
        or notification.get("sender")
    )
    alert = {"body": body if isinstance(body, str) and body else "New message"}
    if isinstance(title, str) and title:
        alert["title"] = title
    return alert


def apns_message(notification: dict[str, Any], device: Device) -> Message:
    """The APNs push for one device: ids and counts, plus a visible alert unless event_id_only.

    Badge-only updates and event_id_only pushes carry no message content; the pusher's
    ``default_payload`` is merged in (its ``aps`` into ours).
    """
    badge = _badge(notification)
    custom: dict[str, Any] = {}
    for key in ("room_id", "event_id"):
        if notification.get(key):
            custom[key] = notification[key]
    counts = notification.get("counts") or {}
    if "unread" in counts:
        custom["unread_count"] = counts["unread"]
    if "missed_calls" in counts:
        custom["missed_calls"] = counts["missed_calls"]
    aps: dict[str, Any] = {}
    event = bool(notification.get("event_id"))
    if event and not device.event_id_only:
        aps["alert"] = _alert_text(notification)
        custom.update({k: notification[k] for k in ("sender", "type") if notification.get(k)})
        sound = device.tweaks.get("sound")
        if isinstance(sound, str):
            aps["sound"] = sound
    if badge is not None:
        aps["badge"] = badge
    payload = dict(device.default_payload)
    extra_aps = payload.pop("aps", None)
    if isinstance(extra_aps, dict):
        aps = {**extra_aps, **aps}
    payload = {k: v for k, v in payload.items() if k not in custom}
    if not aps:  # nothing to show: wake the app with a background push
        return Message(data={**payload, **custom}, push_type="background", priority=5)
    return Message(aps=aps, data={**payload, **custom}, priority=5 if _low(notification) else 10)


def fcm_message(notification: dict[str, Any], device: Device) -> Message:
    """The data-only FCM message for one device; event_id_only keeps ids, prio and counts."""
    keys = ("event_id", "room_id") if device.event_id_only else _FULL_KEYS
    data: dict[str, Any] = {
        k: notification[k] for k in keys if notification.get(k) not in (None, "")
    }
    content = notification.get("content")
    if not device.event_id_only and isinstance(content, dict) and content:
        data["content"] = content
    data["prio"] = "low" if _low(notification) else "high"
    counts = notification.get("counts") or {}
    if "unread" in counts:
        data["unread"] = counts["unread"]
    if "missed_calls" in counts:
        data["missed_calls"] = counts["missed_calls"]
    merged = {**device.default_payload, **data}
    strings = {
        k: v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))
        for k, v in merged.items()
    }
    priority = "NORMAL" if _low(notification) else "HIGH"
    return Message(data=strings, fcm=FcmOptions(android={"priority": priority}))
