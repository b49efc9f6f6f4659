"""The Mattermost push proxy's request model and the payloads the Mattermost mobile app expects.

Pure functions: a request body in, a pushgate Message out. The rules (which keys each push
type carries, badge handling, cuts, emoji) are written up in docs/compat-mattermost.md.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields
from typing import Any, Final, TypeVar

import emoji

from pushgate.message import FcmOptions, Message
from pushgate.store import Verdict

NO_SIGNATURE: Final = "NO_SIGNATURE"
MESSAGE_LIMIT: Final = 2047
"""Messages longer than this many bytes are cut to one byte less."""
CHANNEL_NAME_LIMIT: Final = 64
DEAD_REASONS: Final = frozenset(
    {
        "Unregistered",
        "BadDeviceToken",
        "DeviceTokenNotForTopic",
        "MissingDeviceToken",
        "UNREGISTERED",
    }
)
"""The push services' reasons that make the proxy answer REMOVE (the device is dead)."""


class GoDecodeError(ValueError):
    """The body is not what Go's encoding/json would decode into the struct; text as Go's."""


@dataclass(slots=True)
class PushNotification:
    """``model.PushNotification`` as the Mattermost server sends it (zero values when absent)."""

    ack_id: str = ""
    platform: str = ""
    server_id: str = ""
    device_id: str = ""
    post_id: str = ""
    category: str = ""
    sound: str = ""
    message: str = ""
    badge: int = 0
    cont_ava: int = 0
    team_id: str = ""
    channel_id: str = ""
    root_id: str = ""
    channel_name: str = ""
    type: str = ""
    sub_type: str = ""
    transport: str = ""
    sender_id: str = ""
    sender_name: str = ""
    override_username: str = ""
    override_icon_url: str = ""
    from_webhook: str = ""
    version: str = ""
    is_crt_enabled: bool = False
    is_id_loaded: bool = False
    signature: str = ""


@dataclass(slots=True)
class PushNotificationAck:
    """``model.PushNotificationAck``: a delivery receipt the server forwards."""

    id: str = ""
    received_at: int = 0
    platform: str = ""
    type: str = ""
    post_id: str = ""
    is_id_loaded: bool = False


_T = TypeVar("_T")


def go_decode(cls: type[_T], body: bytes, go_name: str) -> _T:
    """Decode ``body`` the way Go's ``json.Decoder`` fills a struct.

    Unknown keys are ignored, keys match field names case-insensitively (an exact match
    first), ``null`` leaves the zero value, and a value of the wrong JSON type fails the whole
    decode with Go's message. Written by hand because no JSON library mimics Go's rules.
    """
    text = body.decode("utf-8", errors="replace")
    if not text.strip():
        raise GoDecodeError("EOF")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GoDecodeError(_syntax_error(text, exc)) from None
    if value is None:
        return cls()
    if not isinstance(value, dict):
        raise GoDecodeError(
            f"json: cannot unmarshal {_json_kind(value)} into Go value of type {go_name}"
        )
    types = {f.name: f.type for f in fields(cls)}  # type: ignore[arg-type]
    folded = {name.casefold(): name for name in types}
    decoded: dict[str, Any] = {}
    struct = go_name.rpartition(".")[2]
    for key, item in value.items():
        name = key if key in types else folded.get(key.casefold())
        if name is None or item is None:
            continue
        decoded[name] = _typed(item, types[name], f"{struct}.{name}")
    return cls(**decoded)


def _typed(item: object, go_type: str, field: str) -> object:
    kind = _json_kind(item)
    ok = {
        "str": kind == "string",
        "bool": kind == "bool",
        "int": kind == "number" and isinstance(item, int),
    }[go_type]
    if not ok:
        shown = f"number {item}" if kind == "number" else kind
        type_name = {"str": "string", "bool": "bool", "int": "int"}[go_type]
        if go_type == "int" and field.endswith("received_at"):
            type_name = "int64"
        raise GoDecodeError(
            f"json: cannot unmarshal {shown} into Go struct field {field} of type {type_name}"
        )
    return item


def _json_kind(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _syntax_error(text: str, exc: json.JSONDecodeError) -> str:
    """Go's wording for the common cases: a cut-off body, or a stray character."""
    if exc.pos >= len(text.rstrip()):
        return "unexpected EOF"
    return f"invalid character {text[exc.pos]!r} looking for beginning of value"


@dataclass(frozen=True, slots=True)
class Platform:
    """A platform string split as the proxy does: ``apple_rn-v2`` is type apple_rn, version 2."""

    type: str
    version: int

    @classmethod
    def parse(cls, platform: str) -> Platform:
        head, found, tail = platform.partition("-v")
        if not found:
            return cls(platform, 1)
        return cls(head, int(tail) if tail.isdigit() else 1)


def cut_utf8(text: str, limit: int) -> str:
    """At most ``limit`` bytes of ``text``, never splitting a character."""
    encoded = text.encode()
    if len(encoded) <= limit:
        return text
    return encoded[:limit].decode("utf-8", errors="ignore")


def prepared(push: PushNotification) -> PushNotification:
    """The proxy's cuts before sending: message to 2046 bytes, channel name to 64."""
    if len(push.message.encode()) > MESSAGE_LIMIT:
        push.message = cut_utf8(push.message, MESSAGE_LIMIT - 1)
    push.channel_name = cut_utf8(push.channel_name, CHANNEL_NAME_LIMIT)
    return push


_EMOJI_CODE = re.compile(r":[A-Za-z0-9_+\-]+:")


def with_emoji(text: str) -> str:
    """``:tada:`` becomes the emoji followed by one space, as the proxy renders message text."""

    def replace(match: re.Match[str]) -> str:
        code = match.group(0)
        rendered = emoji.emojize(code, language="alias")
        return code if rendered == code else rendered + " "

    return _EMOJI_CODE.sub(replace, text)


def _signature(push: PushNotification) -> str:
    return push.signature or NO_SIGNATURE


_OPTIONAL_KEYS: Final = (
    "ack_id",
    "channel_id",
    "team_id",
    "sender_id",
    "sender_name",
    "post_id",
    "root_id",
    "override_username",
    "override_icon_url",
    "from_webhook",
)


def apns_message(push: PushNotification, platform: Platform) -> Message:
    """The APNs push the proxy would send for ``push`` (VoIP when ``transport`` is voip)."""
    if push.transport == "voip":
        return _voip_message(push)
    aps: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    if push.is_id_loaded:
        aps.update({"alert": {"body": push.message}, "sound": "default", "mutable-content": 1})
        aps["content-available"] = 1
        custom.update(version=push.version, id_loaded=True)
    elif push.type in ("message", "session"):
        text = with_emoji(push.message)
        titled = push.channel_name and push.version == "v2"
        aps["alert"] = {"title": push.channel_name, "body": text} if titled else text
        aps.update({"sound": "default", "mutable-content": 1})
        if push.type == "message":
            aps["content-available"] = 1
        custom.update(version=push.version, channel_name=push.channel_name)
    elif push.type in ("clear", "test"):
        aps["content-available"] = 1
    if push.category and (push.is_id_loaded or push.type in ("message", "session")):
        aps["category"] = push.category
    if push.badge != -1:
        clear_to_one = push.type == "clear" and push.badge == 0 and platform.version > 1
        aps["badge"] = 1 if clear_to_one else push.badge
    if push.channel_id:
        use_root = push.is_crt_enabled and push.root_id
        aps["thread-id"] = push.root_id if use_root else push.channel_id
    custom.update(
        type=push.type,
        sub_type=push.sub_type,
        server_id=push.server_id,
        is_crt_enabled=push.is_crt_enabled,
        signature=_signature(push),
    )
    for key in _OPTIONAL_KEYS:
        if value := getattr(push, key):
            custom[key] = value
    return Message(aps=aps, data=custom, priority=10)


def _voip_message(push: PushNotification) -> Message:
    custom: dict[str, Any] = {
        "type": push.type,
        "sub_type": push.sub_type,
        "channel_id": push.channel_id,
        "server_id": push.server_id,
        "post_id": push.post_id,
        "thread_id": push.root_id,
        "sender_id": push.sender_id,
        "id_loaded": push.is_id_loaded,
    }
    for key in ("sender_name", "channel_name", "ack_id"):
        if value := getattr(push, key):
            custom[key] = value
    custom["signature"] = _signature(push)
    return Message(aps={"content-available": 1}, data=custom, push_type="voip", priority=10)


def fcm_message(push: PushNotification) -> Message:
    """The data-only FCM message the proxy would send for ``push`` (high priority)."""
    data = {
        "ack_id": push.ack_id,
        "type": push.type,
        "sub_type": push.sub_type,
        "version": push.version,
        "channel_id": push.channel_id,
        "is_crt_enabled": "true" if push.is_crt_enabled else "false",
        "server_id": push.server_id,
        "category": push.category,
        "signature": _signature(push),
    }
    if push.badge != -1:
        data["badge"] = str(push.badge)
    if push.root_id:
        data["root_id"] = push.root_id
    if push.is_id_loaded:
        data.update(
            post_id=push.post_id,
            message=push.message,
            id_loaded="true",
            sender_id=push.sender_id,
            sender_name="Someone",
            team_id=push.team_id,
        )
    elif push.type in ("message", "session"):
        data.update(
            team_id=push.team_id,
            sender_id=push.sender_id,
            sender_name=push.sender_name,
            message=with_emoji(push.message),
            channel_name=push.channel_name,
            post_id=push.post_id,
            override_username=push.override_username,
            override_icon_url=push.override_icon_url,
            from_webhook=push.from_webhook,
        )
    return Message(data=data, fcm=FcmOptions(android={"priority": "HIGH"}))


def answer_for(result: Verdict) -> tuple[str, str | None]:
    """The proxy's status (and FAIL text) for a delivery's verdict."""
    status = result.status
    if status in ("delivered", "pending", "erased"):
        # pending: durable and still being retried; the server never retries, so OK it is.
        # erased: a repeated ack_id whose first push was finished long ago; not sent again.
        return "OK", None
    if status == "unregistered" and result.reason in DEAD_REASONS:
        return "REMOVE", None
    code = f" {result.status_code}" if result.status_code else ""
    return "FAIL", f"Failed to send ({status}{code}): {result.reason}"
