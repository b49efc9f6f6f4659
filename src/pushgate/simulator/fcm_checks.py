"""Validation of an FCM send body, ``{"validate_only"?, "message": {...}}``.

Two stages, like Google's JSON transcoder followed by FCM:

1. Schema: field names (snake_case or lowerCamelCase, as proto JSON allows), value types, map
   values strings (``Invalid value at 'message.data[0].value' (TYPE_STRING), 3``), ``ttl`` a
   duration ``^\\d+(\\.\\d+)?s$``, enums such as Android ``priority``. Failures carry a BadRequest
   detail only.
2. FCM rules: exactly one target (``token`` | ``topic`` | ``condition`` | ``fid``), the token's
   syntax (``FcmRules.token_pattern`` (undocumented)), topic names and conditions, reserved data keys,
   ttl ≤ 2,419,200 s, data-only Apple messages at ``apns-priority: 10``, analytics labels, the
   webpush link, and the size (:func:`payload_size`). Failures carry FcmError INVALID_ARGUMENT
   (and a field violation).

The limits come from Google's documentation (docs/simulator.md cites the pages), written
here rather than shared with the gateway's provider, so that a wrong constant on one side
shows up as a disagreement instead of being agreed to by both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from pushgate.simulator.fcm_errors import (
    FcmRejection,
    bad_value,
    invalid_argument,
    parse_error,
    unknown_field,
)
from pushgate.simulator.settings import FcmRules

MAX_TTL = 2_419_200
"""Longest ``android.ttl`` FCM takes, in seconds: 28 days (AndroidConfig reference)."""
RESERVED_DATA_KEYS = frozenset({"from", "message_type"})
"""``data`` keys FCM refuses (Message reference: "reserved words")."""
RESERVED_DATA_PREFIXES = ("google.", "gcm.notification.")
"""``data`` key prefixes FCM refuses."""

_S, _B, _I, _MAP, _STRUCT, _LIST, _DURATION = (
    "string", "bool", "int", "map", "struct", "list", "duration",
)  # fmt: skip
_NOTIFICATION_STRINGS = (
    "title", "body", "icon", "color", "sound", "tag", "click_action", "body_loc_key",
    "title_loc_key", "channel_id", "ticker", "event_time", "image",
)  # fmt: skip
_NOTIFICATION_BOOLS = (
    "sticky", "local_only", "default_sound", "default_vibrate_timings", "default_light_settings",
)  # fmt: skip
_SCHEMA: dict[str, dict[str, str]] = {
    "SendMessageRequest": {"validate_only": _B, "message": "Message"},
    "Message": {
        "name": _S, "data": _MAP, "notification": "Notification", "android": "AndroidConfig",
        "webpush": "WebpushConfig", "apns": "ApnsConfig", "fcm_options": "FcmOptions",
        "token": _S, "topic": _S, "condition": _S, "fid": _S,
    },
    "Notification": {"title": _S, "body": _S, "image": _S},
    "AndroidConfig": {
        "collapse_key": _S, "priority": "enum:AndroidMessagePriority", "ttl": _DURATION,
        "restricted_package_name": _S, "data": _MAP, "notification": "AndroidNotification",
        "fcm_options": "AndroidFcmOptions", "direct_boot_ok": _B,
        "bandwidth_constrained_ok": _B, "restricted_satellite_ok": _B,
    },
    "AndroidNotification": {
        **dict.fromkeys(_NOTIFICATION_STRINGS, _S), **dict.fromkeys(_NOTIFICATION_BOOLS, _B),
        "body_loc_args": _LIST, "title_loc_args": _LIST, "vibrate_timings": _LIST,
        "notification_priority": "enum:NotificationPriority", "visibility": "enum:Visibility",
        "proxy": "enum:Proxy", "notification_count": _I, "light_settings": _STRUCT,
    },
    "AndroidFcmOptions": {"analytics_label": _S},
    "ApnsConfig": {
        "headers": _MAP, "payload": _STRUCT, "fcm_options": "ApnsFcmOptions",
        "live_activity_token": _S,
    },
    "ApnsFcmOptions": {"analytics_label": _S, "image": _S},
    "WebpushConfig": {
        "headers": _MAP, "data": _MAP, "notification": _STRUCT, "fcm_options": "WebpushFcmOptions",
    },
    "WebpushFcmOptions": {"link": _S, "analytics_label": _S},
    "FcmOptions": {"analytics_label": _S},
}  # fmt: skip
_ENUMS = {
    "AndroidMessagePriority": ("NORMAL", "HIGH"),
    "NotificationPriority": (
        "PRIORITY_UNSPECIFIED", "PRIORITY_MIN", "PRIORITY_LOW", "PRIORITY_DEFAULT",
        "PRIORITY_HIGH", "PRIORITY_MAX",
    ),
    "Visibility": ("VISIBILITY_UNSPECIFIED", "PRIVATE", "PUBLIC", "SECRET"),
    "Proxy": ("PROXY_UNSPECIFIED", "ALLOW", "DENY", "IF_PRIORITY_LOWERED"),
}  # fmt: skip
_TYPE_PREFIX = "type.googleapis.com/google.firebase.fcm.v1."
_TARGETS = ("token", "topic", "condition", "fid")
_DURATION_TEXT = re.compile(r"\d+(\.\d+)?s")
_TOPIC = re.compile(r"[a-zA-Z0-9\-_.~%]+")
_LABEL = re.compile(r"[a-zA-Z0-9\-_.~%]{1,50}")
_CONDITION_TOKEN = re.compile(r"\s*(?:(&&|\|\||!|\(|\))|'([a-zA-Z0-9\-_.~%]+)'\s+in\s+topics\b)")
_MAX_CONDITION_TOPICS = 5
_MAX_CONDITION_TOKENS = 100
"""Bounds the parser's recursion; five topics need far fewer tokens."""
_CAMEL = re.compile(r"(?<!^)([A-Z])")


@dataclass(frozen=True, slots=True)
class SendRequest:
    """A send body that passed every check."""

    validate_only: bool
    message: dict[str, Any]
    """The ``message`` object exactly as sent (field names as the client wrote them)."""
    target_kind: str
    target: str
    """The token, fid, condition, or the topic without a ``/topics/`` prefix."""


def parse_send(body: bytes, rules: FcmRules) -> SendRequest:
    """Check a send body; raise :class:`FcmRejection` at the first failure."""
    try:
        raw = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise parse_error("Invalid JSON payload received. Unexpected token.", "") from None
    if not isinstance(raw, dict):
        raise parse_error("Invalid JSON payload received. Expected an object.", "")
    request = _normalise(raw, "SendMessageRequest", "")
    message = request.get("message")
    if message is None:
        raise invalid_argument("Request contains an invalid argument.", "message")
    kind, target = _target(message, rules)
    _check_data_keys(message)
    _check_android(message.get("android", {}))
    _check_apns(message)
    _check_options(message)
    limit = rules.payload_limit if kind in ("token", "fid") else rules.topic_payload_limit
    size = payload_size(message)
    if size > limit:
        raise invalid_argument(
            f"Message is too big: notification and data take {size} bytes, over the "
            f"{limit}-byte limit."
        )
    return SendRequest(request.get("validate_only", False), raw["message"], kind, target)


def payload_size(message: dict[str, Any]) -> int:
    """Bytes counted against FCM's 4096-byte limit: the compact JSON of ``notification`` and
    ``data``, keys and values included (how FCM itself counts is undocumented)."""
    counted = {key: message[key] for key in ("notification", "data") if key in message}
    return len(orjson.dumps(counted))


def _normalise(value: Any, type_name: str, path: str) -> dict[str, Any]:
    """``value`` as an object of ``type_name`` with snake_case keys and nulls dropped."""
    if not isinstance(value, dict):
        raise bad_value(path, _TYPE_PREFIX + type_name, value)
    fields = _SCHEMA[type_name]
    result: dict[str, Any] = {}
    for name, item in value.items():
        key = _CAMEL.sub(r"_\1", name).lower() if name != name.lower() else name
        kind = fields.get(key)
        if kind is None:
            raise unknown_field(name, path)
        if item is not None:
            result[key] = _leaf(item, kind, f"{path}.{key}" if path else key)
    return result


def _leaf(item: Any, kind: str, path: str) -> Any:
    """One field's value, checked against its kind (sub-objects normalised)."""
    if kind in _SCHEMA:
        return _normalise(item, kind, path)
    if kind.startswith("enum:"):
        return _enum(item, kind.removeprefix("enum:"), path)
    expected = {
        _S: ("TYPE_STRING", str), _B: ("TYPE_BOOL", bool), _DURATION: ("TYPE_STRING", str),
        _STRUCT: ("type.googleapis.com/google.protobuf.Struct", dict),
        _LIST: ("type.googleapis.com/google.protobuf.ListValue", list), _MAP: ("map", dict),
    }.get(kind)  # fmt: skip
    if kind == _I:
        number = isinstance(item, int) and not isinstance(item, bool)
        if not number and not (isinstance(item, str) and item.lstrip("-").isdigit()):
            raise bad_value(path, "TYPE_INT32", item)
    elif expected is not None and not isinstance(item, expected[1]):
        raise bad_value(path, expected[0], item)
    if kind == _MAP:
        for index, (_, text) in enumerate(item.items()):
            if not isinstance(text, str):
                raise bad_value(f"{path}[{index}].value", "TYPE_STRING", text)
    if kind == _DURATION and not _DURATION_TEXT.fullmatch(item):
        raise bad_value(path, "type.googleapis.com/google.protobuf.Duration", item)
    return item


def _enum(item: Any, name: str, path: str) -> Any:
    """An enum given by name (any case, as the Admin SDK sends lowercase) or by number."""
    values = _ENUMS[name]
    if isinstance(item, str) and item.upper() in values:
        return item.upper()
    if isinstance(item, int) and not isinstance(item, bool) and 0 <= item <= len(values):
        return item
    raise bad_value(path, _TYPE_PREFIX + name, item)


def _target(message: dict[str, Any], rules: FcmRules) -> tuple[str, str]:
    """Exactly one target, syntactically valid."""
    given = [name for name in _TARGETS if name in message]
    if len(given) > 1:
        raise parse_error(
            "Invalid JSON payload received. Oneof field 'target' is already set. "
            f"Cannot set '{given[1]}'",
            "message",
        )
    if not given:
        raise invalid_argument("Recipient of the message is not set.", "message")
    kind = given[0]
    value: str = message[kind]
    if kind == "token" and not re.fullmatch(rules.token_pattern, value):
        raise invalid_argument(
            "The registration token is not a valid FCM registration token", "message.token"
        )
    if kind == "fid" and not re.fullmatch(rules.fid_pattern, value):
        raise invalid_argument("The Firebase installation ID is not valid.", "message.fid")
    if kind == "topic":
        value = value.removeprefix("/topics/")
        if not _TOPIC.fullmatch(value):
            raise invalid_argument(
                "Invalid topic name: use letters, digits and -_.~% only.", "message.topic"
            )
    if kind == "condition":
        check_condition(value)
    return kind, value


def check_condition(text: str) -> None:
    """A boolean over ``'t' in topics`` with ``&&``, ``||``, ``!`` and parentheses, ≤ 5 topics."""
    tokens: list[str] = []
    position = 0
    while text[position:].strip():
        match = _CONDITION_TOKEN.match(text, position)
        if match is None:
            raise _bad_condition("it cannot be parsed")
        tokens.append(match.group(1) or "topic")
        position = match.end()
    if tokens.count("topic") > _MAX_CONDITION_TOPICS:
        raise _bad_condition(f"it names more than {_MAX_CONDITION_TOPICS} topics")
    if len(tokens) > _MAX_CONDITION_TOKENS or _expression(tokens, 0) != len(tokens):
        raise _bad_condition("it cannot be parsed")


def _expression(tokens: list[str], index: int) -> int:
    """``term ('||' term)*`` from ``index``; the index after it."""
    index = _term(tokens, index)
    while index < len(tokens) and tokens[index] == "||":
        index = _term(tokens, index + 1)
    return index


def _term(tokens: list[str], index: int) -> int:
    """``factor ('&&' factor)*``."""
    index = _factor(tokens, index)
    while index < len(tokens) and tokens[index] == "&&":
        index = _factor(tokens, index + 1)
    return index


def _factor(tokens: list[str], index: int) -> int:
    """``'!' factor | '(' expression ')' | 't' in topics``."""
    token = tokens[index] if index < len(tokens) else None
    if token == "!":
        return _factor(tokens, index + 1)
    if token == "topic":
        return index + 1
    if token == "(":
        index = _expression(tokens, index + 1)
        if index < len(tokens) and tokens[index] == ")":
            return index + 1
    raise _bad_condition("it cannot be parsed")


def _bad_condition(why: str) -> FcmRejection:
    return invalid_argument(f"Invalid condition expression provided: {why}.", "message.condition")


def _check_data_keys(message: dict[str, Any]) -> None:
    """No reserved keys in ``data`` maps."""
    maps = (
        ("message.data", message.get("data")),
        ("message.android.data", message.get("android", {}).get("data")),
        ("message.webpush.data", message.get("webpush", {}).get("data")),
    )
    for path, data in maps:
        for key in data or {}:
            if key in RESERVED_DATA_KEYS or key.startswith(RESERVED_DATA_PREFIXES):
                raise invalid_argument(f"Invalid data payload key: {key!r} is reserved.", path)


def _check_android(android: dict[str, Any]) -> None:
    """``ttl`` within 0..2,419,200 seconds."""
    ttl = android.get("ttl")
    if ttl is not None and float(ttl[:-1]) > MAX_TTL:
        raise invalid_argument(
            f"TTL must be between 0 and {MAX_TTL} seconds (28 days).", "message.android.ttl"
        )


def _check_apns(message: dict[str, Any]) -> None:
    """Data-only messages to Apple devices may not ask for ``apns-priority: 10``."""
    apns = message.get("apns", {})
    headers = {name.lower(): value for name, value in apns.get("headers", {}).items()}
    if headers.get("apns-priority") != "10" or "notification" in message:
        return
    aps = apns.get("payload", {}).get("aps")
    if isinstance(aps, dict) and any(key in aps for key in ("alert", "badge", "sound")):
        return
    raise invalid_argument(
        "Data-only messages to Apple devices must use apns-priority 5; 10 is for alerts.",
        "message.apns.headers",
    )


def _check_options(message: dict[str, Any]) -> None:
    """Analytics labels match ``^[a-zA-Z0-9-_.~%]{1,50}$``; the web link is https."""
    sections = (
        ("message", message),
        ("message.android", message.get("android", {})),
        ("message.apns", message.get("apns", {})),
        ("message.webpush", message.get("webpush", {})),
    )
    for path, section in sections:
        label = section.get("fcm_options", {}).get("analytics_label")
        if label is not None and not _LABEL.fullmatch(label):
            raise invalid_argument(
                "The analytics label must match ^[a-zA-Z0-9-_.~%]{1,50}$.",
                f"{path}.fcm_options.analytics_label",
            )
    link = message.get("webpush", {}).get("fcm_options", {}).get("link")
    if link is not None and not link.startswith("https://"):
        raise invalid_argument(
            "The webpush link must be an https URL.", "message.webpush.fcm_options.link"
        )
