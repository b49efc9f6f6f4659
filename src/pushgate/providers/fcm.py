"""Render a Message as an FCM HTTP v1 send request and turn FCM answers into Outcomes.

Pure functions only: no I/O, no sleeping, no retrying, no logging (registration tokens never
leave this module in a message). Wire facts come from docs/fcm.md: every § below is one of its
sections (the error table cites the one behind each row).

How a Message is rendered (``build_message``):

- ``alert.title``/``alert.body`` become ``message.notification``; a ``background`` push is
  data-only (no ``notification``) and tells iOS ``content-available`` with ``apns-push-type:
  background`` at ``apns-priority: 5`` (1 stays 1), as FCM requires for data-only Apple
  messages (§4); its Android priority still follows ``priority``. ``alert.subtitle`` has no
  cross-platform field and is not sent (put it in the ``apns`` override's ``payload``).
- ``data`` becomes ``message.data``, a map of strings (§3). Strings pass unchanged; numbers
  and booleans become their JSON text (``3`` → ``"3"``, ``1.5`` → ``"1.5"``, ``true`` →
  ``"true"``); null, lists and objects are refused (``invalid_data``): encode them yourself,
  e.g. as a JSON string. Reserved keys are refused (``reserved_data_key``).
- ``priority`` 10 → Android ``HIGH``, 5 or 1 → ``NORMAL``, and the same ``apns-priority``;
  none leaves FCM's defaults.
- ``push_type`` must be ``alert`` or ``background``; APNs-only types such as ``voip`` are
  refused (``unsupported_push_type``).
- ``expiration`` (epoch seconds) → Android ``ttl`` and web ``TTL``: seconds from now, clamped to
  0..2,419,200; ``apns-expiration`` gets the epoch value itself (§3, §4).
- ``collapse_id`` → Android ``collapse_key`` and ``apns-collapse-id``.
- ``badge``, ``sound``, ``category``, ``thread_id``, ``mutable_content``, ``content_available``
  and ``aps`` → the APNs ``aps`` dictionary; ``sound`` (text) and ``badge`` also go to
  ``android.notification`` (``sound``, ``notification_count``).
- The caller's ``android``/``apns``/``webpush`` dictionaries are merged over what the Message
  produced: nested objects merge key by key, any other value replaces ours.

What the size limit measures (FCM does not say exactly, §3 [U]): the compact JSON of the
message's ``notification`` and ``data`` objects, ``{"notification":{...},"data":{...}}``, i.e.
the keys and values the app receives. Targets and platform overrides do not count. The limit is
4096 bytes for device tokens and ``topic_limit`` (default 4096; FCM's ErrorCode page says 2048,
which is unconfirmed [U]) for topic and condition sends. ``payload_size`` is public so the
simulator can measure the same way.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any, Final
from urllib.parse import quote

import orjson

from pushgate.errors import PayloadTooLarge, RequestError
from pushgate.message import Message
from pushgate.outcomes import Delivered, Outcome, Rejected, Retry, Unregistered
from pushgate.providers.retry_after import find_header, retry_after_seconds

__all__ = [
    "DOCUMENTED_TOPIC_LIMIT",
    "ERRORS",
    "MAX_TTL",
    "PAYLOAD_LIMIT",
    "QUOTA_RETRY_AFTER",
    "RESERVED_DATA_KEYS",
    "RESERVED_DATA_PREFIXES",
    "build_message",
    "classify",
    "data_map",
    "payload_size",
    "request_headers",
    "send_path",
    "send_url",
    "ttl_seconds",
]

PAYLOAD_LIMIT: Final = 4096
"""Largest payload FCM accepts, in bytes, keys and values included (§3)."""
DOCUMENTED_TOPIC_LIMIT: Final = 2048
"""The topic limit FCM's ErrorCode page names; unconfirmed elsewhere [U], so not the default."""
MAX_TTL: Final = 2_419_200
"""Longest Android ttl, in seconds (28 days, §3)."""
QUOTA_RETRY_AFTER: Final = 60.0
"""Wait after a quota error that names no Retry-After: back-off starts at 1 minute (§5)."""
RESERVED_DATA_KEYS: Final = frozenset({"from", "message_type"})
"""``data`` keys FCM refuses (§3)."""
RESERVED_DATA_PREFIXES: Final = ("google.", "gcm.notification.")
"""``data`` key prefixes FCM refuses (§3)."""

_TOPIC = re.compile(r"[a-zA-Z0-9\-_.~%]+")
_FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
_BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
_APNS_ERROR = "type.googleapis.com/google.firebase.fcm.v1.ApnsError"


def build_message(
    message: Message,
    *,
    token: str | None = None,
    topic: str | None = None,
    condition: str | None = None,
    android: Mapping[str, Any] | None = None,
    apns: Mapping[str, Any] | None = None,
    webpush: Mapping[str, Any] | None = None,
    fcm_options: Mapping[str, Any] | None = None,
    validate_only: bool = False,
    topic_limit: int = PAYLOAD_LIMIT,
    now: float,
) -> bytes:
    """The send body ``{"validate_only": ..., "message": {...}}`` for exactly one target (§3).

    Raises RequestError for a bad target, push type or data, PayloadTooLarge over the limit
    (see the module docstring for what is measured).
    """
    body: dict[str, Any] = _target(token, topic, condition)
    background = _check_push_type(message)
    notification = {} if background else _notification(message)
    if notification:
        body["notification"] = notification
    if message.data:
        body["data"] = data_map(message.data)
    _check_size(body, topic_limit if token is None else PAYLOAD_LIMIT)
    ttl = ttl_seconds(message.expiration, now=now)
    sections = {
        "android": _merge(_android(message, ttl, notification=bool(notification)), android),
        "apns": _merge(_apns(message, background=background), apns),
        "webpush": _merge(_webpush(ttl), webpush),
    }
    body.update((name, section) for name, section in sections.items() if section)
    if fcm_options:
        body["fcm_options"] = dict(fcm_options)
    try:
        return orjson.dumps({"validate_only": validate_only, "message": body})
    except orjson.JSONEncodeError as exc:
        raise RequestError(
            f"The FCM message cannot be encoded as JSON ({exc}); aps and platform override "
            "values must be strings, 64-bit numbers, booleans, lists or objects.",
            code="invalid_payload",
        ) from exc


def data_map(values: Mapping[str, Any]) -> dict[str, str]:
    """``Message.data`` as FCM's string map: scalars as JSON text, the rest refused (§3)."""
    result: dict[str, str] = {}
    for key, value in values.items():
        if key in RESERVED_DATA_KEYS or key.startswith(RESERVED_DATA_PREFIXES):
            raise RequestError(
                f"The data key {key[:60]!r} is reserved by FCM ('from', 'message_type', "
                "'google.*', 'gcm.notification.*'); rename it.",
                code="reserved_data_key",
            )
        result[key] = _data_value(key, value)
    return result


def _data_value(key: str, value: object) -> str:
    """One data value as a string: text unchanged, finite numbers and booleans as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        return repr(value)
    raise RequestError(
        f"The data value of {key[:60]!r} is {type(value).__name__}; FCM data values are strings. "
        "Send text, a number or a boolean, or encode structured values as a JSON string.",
        code="invalid_data",
    )


def payload_size(message_object: Mapping[str, Any]) -> int:
    """Bytes counted against the limit: compact JSON of ``notification`` and ``data`` only."""
    counted = {
        key: message_object[key] for key in ("notification", "data") if key in message_object
    }
    return len(orjson.dumps(counted))


def ttl_seconds(expiration: int | None, *, now: float) -> int | None:
    """Seconds from ``now`` until ``expiration`` (epoch), clamped to 0..2,419,200 (§3)."""
    if expiration is None:
        return None
    return max(0, min(MAX_TTL, expiration - math.floor(now)))


def _target(token: str | None, topic: str | None, condition: str | None) -> dict[str, Any]:
    """The message's single target: ``token``, ``topic`` or ``condition`` (§3)."""
    targets = {"token": token, "topic": topic, "condition": condition}
    given = [(name, value) for name, value in targets.items() if value is not None]
    if len(given) != 1:
        raise RequestError(
            "An FCM message needs exactly one target: a registration token, a topic or a "
            "condition.",
            code="invalid_target",
        )
    name, value = given[0]
    if name == "topic":
        value = value.removeprefix("/topics/")
        if not _TOPIC.fullmatch(value):
            raise RequestError(
                f"{value[:80]!r} is not an FCM topic name: use letters, digits and -_.~% only.",
                code="invalid_topic",
            )
    elif not value.strip() or not value.isprintable() or len(value) > 4096:
        raise RequestError(
            f"The FCM {name} must be non-empty printable text of at most 4096 characters.",
            code="invalid_target",
        )
    return {name: value}


def _check_push_type(message: Message) -> bool:
    """True for a background (data-only) push; FCM carries only alert and background pushes."""
    if message.push_type == "alert":
        return False
    if message.push_type != "background":
        raise RequestError(
            f"FCM delivers 'alert' and 'background' pushes; {message.push_type!r} is APNs-only.",
            code="unsupported_push_type",
        )
    if _notification(message):
        raise RequestError(
            "A background push may not carry an alert title or body: it is delivered as a "
            "data-only message. Remove them, or send the message with push_type 'alert'.",
            code="invalid_background_push",
        )
    return True


def _notification(message: Message) -> dict[str, str]:
    """The cross-platform ``notification`` object: title, body and image when present."""
    alert = message.alert
    if alert is None:
        return {}
    parts = {"title": alert.title, "body": alert.body, "image": alert.image}
    return {key: value for key, value in parts.items() if value}


def _check_size(body: Mapping[str, Any], limit: int) -> None:
    """Raise PayloadTooLarge when notification + data exceed ``limit`` bytes."""
    size = payload_size(body)
    if size > limit:
        raise PayloadTooLarge(
            f"The FCM payload (notification and data, as JSON) is {size} bytes, over the "
            f"{limit}-byte limit; shorten the alert text or the data.",
        )


def _android(message: Message, ttl: int | None, *, notification: bool) -> dict[str, Any]:
    """AndroidConfig from priority, ttl, collapse id, sound and badge (§3, §4)."""
    android: dict[str, Any] = {}
    if message.priority is not None:
        android["priority"] = "HIGH" if message.priority == 10 else "NORMAL"
    if ttl is not None:
        android["ttl"] = f"{ttl}s"
    if message.collapse_id:
        android["collapse_key"] = message.collapse_id
    extras: dict[str, Any] = {}
    if notification and isinstance(message.sound, str) and message.sound:
        extras["sound"] = message.sound
    if notification and message.badge is not None:
        extras["notification_count"] = message.badge
    if extras:
        android["notification"] = extras
    return android


def _apns(message: Message, *, background: bool) -> dict[str, Any]:
    """ApnsConfig: headers FCM forwards to APNs and the ``aps`` dictionary (§3, §4)."""
    headers: dict[str, str] = {}
    if background:
        headers["apns-push-type"] = "background"
        headers["apns-priority"] = "1" if message.priority == 1 else "5"
    elif message.priority is not None:
        headers["apns-priority"] = str(message.priority)
    if message.expiration is not None:
        headers["apns-expiration"] = str(message.expiration)
    if message.collapse_id:
        headers["apns-collapse-id"] = message.collapse_id
    apns: dict[str, Any] = {"headers": headers} if headers else {}
    aps = _aps(message, background=background)
    if aps:
        apns["payload"] = {"aps": aps}
    return apns


def _aps(message: Message, *, background: bool) -> dict[str, Any]:
    """The ``aps`` keys the Message sets; ``Message.aps`` extras win."""
    aps: dict[str, Any] = {
        "badge": message.badge,
        "sound": message.sound or None,
        "category": message.category or None,
        "thread-id": message.thread_id or None,
        "mutable-content": 1 if message.mutable_content else None,
        "content-available": 1 if message.content_available or background else None,
    }
    return {key: value for key, value in aps.items() if value is not None} | message.aps


def _webpush(ttl: int | None) -> dict[str, Any]:
    """WebpushConfig: the RFC 8030 ``TTL`` header when the Message expires (§3, §4)."""
    return {"headers": {"TTL": str(ttl)}} if ttl is not None else {}


def _merge(ours: dict[str, Any], theirs: Mapping[str, Any] | None) -> dict[str, Any]:
    """``theirs`` over ``ours``: nested objects merge key by key, other values replace."""
    merged = dict(ours)
    for key, value in (theirs or {}).items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def send_path(project_id: str) -> bytes:
    """The request path ``/v1/projects/{project_id}/messages:send`` (§1)."""
    return f"/v1/projects/{quote(project_id, safe=':')}/messages:send".encode("ascii")


def send_url(base_url: str, project_id: str) -> str:
    """The full send URL, e.g. ``https://fcm.googleapis.com/v1/projects/p/messages:send``."""
    return base_url.rstrip("/") + send_path(project_id).decode("ascii")


def request_headers(access_token: str) -> tuple[tuple[bytes, bytes], ...]:
    """Headers of a send request: the OAuth bearer token and the JSON content type (§1)."""
    return (
        (b"authorization", b"Bearer " + access_token.encode("ascii")),
        (b"content-type", b"application/json; charset=UTF-8"),
    )


def _rejected(reason: str, *, configuration: bool = False) -> Rejected:
    return Rejected(reason=reason, configuration=configuration)


ERRORS: Final[dict[str | int, Outcome]] = {
    # §5 UNSPECIFIED_ERROR: no more information; a permanent failure for this message.
    "UNSPECIFIED_ERROR": _rejected("UNSPECIFIED_ERROR"),
    # §5 INVALID_ARGUMENT: a caller bug, don't retry; when it says the registration token is
    # invalid (message text or a message.token field violation), classify() unregisters instead.
    "INVALID_ARGUMENT": _rejected("INVALID_ARGUMENT"),
    # §5 UNREGISTERED (404): app uninstalled or token expired; remove the token.
    "UNREGISTERED": Unregistered(reason="UNREGISTERED"),
    # §5 SENDER_ID_MISMATCH (403): token of another project; our setup, not a dead token.
    "SENDER_ID_MISMATCH": _rejected("SENDER_ID_MISMATCH", configuration=True),
    # §5/§6 QUOTA_EXCEEDED (429): back off, at least a minute unless Retry-After says.
    "QUOTA_EXCEEDED": Retry(reason="QUOTA_EXCEEDED", after=QUOTA_RETRY_AFTER),
    # §5 UNAVAILABLE (503): overloaded; retry, honouring Retry-After.
    "UNAVAILABLE": Retry(reason="UNAVAILABLE"),
    # §5 INTERNAL (500): retry under the UNAVAILABLE rules.
    "INTERNAL": Retry(reason="INTERNAL"),
    # §5 THIRD_PARTY_AUTH_ERROR (401): APNs/Web Push key missing in Firebase; keep the token.
    "THIRD_PARTY_AUTH_ERROR": _rejected("THIRD_PARTY_AUTH_ERROR", configuration=True),
    # §5 APNS_AUTH_ERROR: the legacy name of THIRD_PARTY_AUTH_ERROR; same action.
    "APNS_AUTH_ERROR": _rejected("APNS_AUTH_ERROR", configuration=True),
    # §5 400 without FcmError (BadRequest detail only, e.g. a data value not a string).
    400: _rejected("INVALID_ARGUMENT"),
    # §2/§5 401 UNAUTHENTICATED without FcmError: bad or expired access token; refresh once.
    401: Retry(reason="UNAUTHENTICATED", refresh_credentials=True),
    # §5 403 PERMISSION_DENIED without FcmError: FCM API disabled or IAM missing.
    403: _rejected("PERMISSION_DENIED", configuration=True),
    # §5 404 without FcmError: wrong project id in the URL [U]; configuration alert.
    404: _rejected("NOT_FOUND (wrong project id in the send URL?)", configuration=True),
    # §6 429 without FcmError: over quota or overloaded; back off from a minute.
    429: Retry(reason="RESOURCE_EXHAUSTED", after=QUOTA_RETRY_AFTER),
    # §5 500 without FcmError: retry as INTERNAL.
    500: Retry(reason="INTERNAL"),
    # §5 503 without FcmError: retry as UNAVAILABLE.
    503: Retry(reason="UNAVAILABLE"),
}


def classify(
    status: int, body: bytes, headers: Iterable[tuple[bytes, bytes]] = (), *, now: float
) -> Outcome:
    """Turn one FCM answer into an Outcome using ERRORS (§5); ``now`` reads a Retry-After date.

    The FcmError ``errorCode`` decides first; answers without one fall back to the HTTP status.
    Unknown answers are Retry for 5xx and Rejected otherwise.
    """
    if 200 <= status < 300:
        return Delivered(provider_id=_message_name(body))
    error = _error_object(body)
    code = _detail(error, _FCM_ERROR).get("errorCode")
    key: str | int = code if isinstance(code, str) and code in ERRORS else status
    if key in ("INVALID_ARGUMENT", 400) and _about_token(error):
        return Unregistered(reason="InvalidRegistration")
    outcome = ERRORS.get(key) or _unknown(status, code)
    if isinstance(outcome, Retry):
        after = retry_after_seconds(find_header(headers, b"retry-after"), now=now)
        return replace(outcome, after=after or outcome.after)
    if isinstance(outcome, Rejected):
        return replace(outcome, status=status, reason=_reason(outcome.reason, error, body))
    return outcome


def _unknown(status: int, code: object) -> Outcome:
    """Outcome for an answer ERRORS does not know: retry 5xx, reject the rest."""
    reason = code if isinstance(code, str) else f"HTTP {status}"
    if status >= 500:
        return Retry(reason=reason[:100])
    return _rejected(reason[:100], configuration=status in (401, 403))


def _message_name(body: bytes) -> str | None:
    """The ``name`` of a 200 answer (``projects/P/messages/ID``), if readable."""
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    name = answer.get("name") if isinstance(answer, dict) else None
    return name if isinstance(name, str) else None


def _error_object(body: bytes) -> dict[str, Any]:
    """The google.rpc Status ``error`` object (also inside a one-element list), or {}."""
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    if isinstance(answer, list) and len(answer) == 1:
        answer = answer[0]
    error = answer.get("error") if isinstance(answer, dict) else None
    return error if isinstance(error, dict) else {}


def _detail(error: Mapping[str, Any], type_url: str) -> dict[str, Any]:
    """The first entry of ``error.details`` with this ``@type``, or {}."""
    details = error.get("details")
    for detail in details if isinstance(details, list) else ():
        if isinstance(detail, dict) and detail.get("@type") == type_url:
            return detail
    return {}


def _about_token(error: Mapping[str, Any]) -> bool:
    """True when an INVALID_ARGUMENT blames the registration token, not the payload (§5)."""
    text = str(error.get("message", "")).lower()
    if "registration token" in text and ("not a valid" in text or "invalid" in text):
        return True
    violations = _detail(error, _BAD_REQUEST).get("fieldViolations")
    return any(
        isinstance(violation, dict) and violation.get("field") == "message.token"
        for violation in (violations if isinstance(violations, list) else ())
    )


def _reason(base: str, error: Mapping[str, Any], body: bytes) -> str:
    """``base`` plus the APNs reason FCM relayed and the service's message (or text body)."""
    apns_error = _detail(error, _APNS_ERROR)
    apns_reason = apns_error.get("reason")
    if isinstance(apns_reason, str):
        apns_status = apns_error.get("statusCode", apns_error.get("status_code", "?"))
        base = f"{base} (APNs {apns_status} {apns_reason[:60]})"
    message = error.get("message") if error else _text_excerpt(body)
    return f"{base}: {str(message)[:200]}" if message else base


def _text_excerpt(body: bytes) -> str:
    """The first line of a non-JSON body, printable characters only."""
    line = body[:400].decode("utf-8", "replace").strip().split("\n", 1)[0]
    return "".join(char for char in line if char.isprintable())[:200]
