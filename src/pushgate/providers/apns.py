"""Render a Message for APNs (payload, topic, headers) and turn APNs answers into Outcomes.

Pure functions only: no I/O, no sleeping, no retrying, no logging (device tokens never leave
this module in a message). Wire facts come from docs/apns.md: every § below is one of its
sections (the reason table cites the one behind each row).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from pushgate.errors import PayloadTooLarge, RequestError
from pushgate.message import Message
from pushgate.outcomes import Delivered, Outcome, Rejected, Retry, Unregistered
from pushgate.providers.retry_after import find_header, retry_after_seconds

__all__ = [
    "APNS_ID_NAMESPACE",
    "PAYLOAD_LIMIT",
    "REASONS",
    "TOKEN_UPDATE_RETRY_AFTER",
    "TOPIC_SUFFIXES",
    "VOIP_PAYLOAD_LIMIT",
    "apns_id_prefix",
    "build_payload",
    "check_size",
    "classify",
    "default_priority",
    "delivery_apns_id",
    "device_path",
    "for_device",
    "payload_limit",
    "priority_for",
    "stable_headers",
    "topic_for",
    "volatile_headers",
]

PAYLOAD_LIMIT: Final = 4096
"""Largest body APNs accepts, in bytes (§3)."""
VOIP_PAYLOAD_LIMIT: Final = 5120
"""Largest body for ``voip`` pushes, in bytes (§3)."""
TOKEN_UPDATE_RETRY_AFTER: Final = 60.0
"""Seconds to wait after 429 TooManyProviderTokenUpdates when APNs gives no Retry-After."""

TOPIC_SUFFIXES: Final[dict[str, str]] = {
    # §4: what each apns-push-type appends to the bundle id to form apns-topic.
    "alert": "",
    "background": "",
    "mdm": "",
    "voip": ".voip",
    "complication": ".complication",
    "fileprovider": ".pushkit.fileprovider",
    "location": ".location-query",
    "liveactivity": ".push-type.liveactivity",
    "pushtotalk": ".voip-ptt",
    "widgets": ".push-type.widgets",
    "controls": ".push-type.controls",
}

_FOREGROUND_KEYS: Final = ("alert", "badge", "sound")
_HEADER_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")


def build_payload(message: Message) -> bytes:
    """Return the JSON body: ``aps`` plus the message's custom data keys beside it (§9)."""
    payload: dict[str, Any] = {"aps": _aps(message), **message.data}
    try:
        return orjson.dumps(payload)
    except orjson.JSONEncodeError as exc:
        raise RequestError(
            f"The notification cannot be encoded as JSON ({exc}); custom data and aps values "
            "must be strings, numbers, booleans, lists or objects.",
            code="invalid_payload",
        ) from exc


def _aps(message: Message) -> dict[str, Any]:
    """Build the ``aps`` dictionary; background pushes carry only content-available (§4)."""
    if message.push_type == "background":
        _check_background(message)
    aps: dict[str, Any] = {}
    alert = _alert(message)
    if alert:
        aps["alert"] = alert
    if message.badge is not None:
        aps["badge"] = message.badge
    if message.sound:
        aps["sound"] = message.sound
    if message.category:
        aps["category"] = message.category
    if message.thread_id:
        aps["thread-id"] = message.thread_id
    if message.mutable_content:
        aps["mutable-content"] = 1
    if message.content_available or message.push_type == "background":
        aps["content-available"] = 1
    for key, value in message.aps.items():
        if key in aps and aps[key] != value:
            raise RequestError(
                f"The aps key {key!r} is set both by a message field and in 'aps' with different "
                "values; set it in one place.",
                code="conflicting_aps_key",
            )
        aps[key] = value
    return aps


def _alert(message: Message) -> dict[str, str]:
    """The alert dictionary with its empty parts left out."""
    if message.alert is None:
        return {}
    parts = {
        "title": message.alert.title,
        "subtitle": message.alert.subtitle,
        "body": message.alert.body,
    }
    return {key: value for key, value in parts.items() if value}


def _check_background(message: Message) -> None:
    """Refuse alert, badge and sound on a background push: APNs requires them absent (§4)."""
    present = [key for key in _FOREGROUND_KEYS if key in message.aps]
    if _alert(message):
        present.append("alert")
    if message.badge is not None:
        present.append("badge")
    if message.sound:
        present.append("sound")
    if present:
        found = ", ".join(sorted(set(present)))
        raise RequestError(
            f"A background push may not carry {found}: APNs wants only content-available "
            "(plus custom data) in it. Remove them, or send the message with push_type 'alert'.",
            code="invalid_background_push",
        )


def payload_limit(push_type: str) -> int:
    """The largest body APNs accepts for this push type, in bytes (§3)."""
    return VOIP_PAYLOAD_LIMIT if push_type == "voip" else PAYLOAD_LIMIT


def check_size(payload: bytes, push_type: str) -> None:
    """Raise PayloadTooLarge when the body exceeds the push type's limit (APNs would say 413)."""
    limit = payload_limit(push_type)
    if len(payload) > limit:
        raise PayloadTooLarge(
            f"The APNs payload is {len(payload)} bytes, over the {limit}-byte limit for "
            f"{push_type} pushes; shorten the alert text or the custom data.",
        )


def topic_for(bundle_id: str, push_type: str) -> str:
    """The apns-topic for a push type: the bundle id plus the type's suffix (§4)."""
    try:
        return bundle_id + TOPIC_SUFFIXES[push_type]
    except KeyError:
        raise ValueError(f"unknown APNs push type {push_type!r}") from None


def default_priority(push_type: str) -> int:
    """APNs priority used when the message names none: 5 for background, else 10 (§3, §4)."""
    return 5 if push_type == "background" else 10


def priority_for(message: Message) -> int:
    """The message's apns-priority; background pushes at priority 10 are refused (§4)."""
    priority = message.priority
    if priority is None:
        return default_priority(message.push_type)
    if priority == 10 and message.push_type == "background":
        raise RequestError(
            "Background pushes must use priority 5 (or 1): APNs refuses priority 10 for them.",
            code="invalid_priority",
        )
    return priority


def stable_headers(
    *, topic: str, push_type: str, priority: int, authorization: bytes | None
) -> tuple[tuple[bytes, bytes], ...]:
    """Stable request headers (apns-topic, apns-push-type, apns-priority, authorization).

    ``topic`` is the apns-topic exactly as sent (``topic_for``); ``priority`` an already
    checked one (``priority_for``); ``authorization`` the ``bearer <jwt>`` value, or None with
    certificate auth.
    """
    headers = [
        (b"apns-topic", topic.encode()),
        (b"apns-push-type", push_type.encode()),
        (b"apns-priority", b"%d" % priority),
    ]
    if authorization is not None:
        headers.append((b"authorization", authorization))
    return tuple(headers)


def volatile_headers(message: Message, apns_id: str | None) -> list[tuple[bytes, bytes]]:
    """Per-request headers (apns-id, apns-expiration, apns-collapse-id), never HPACK-indexed."""
    headers: list[tuple[bytes, bytes]] = []
    if apns_id is not None:
        headers.append((b"apns-id", apns_id.encode()))
    if message.expiration is not None:
        headers.append((b"apns-expiration", b"%d" % message.expiration))
    if message.collapse_id:
        headers.append((b"apns-collapse-id", _header_value("collapse_id", message.collapse_id)))
    return headers


APNS_ID_NAMESPACE: Final = uuid.UUID("5b0a6c1e-4f1d-4c43-9a57-8e8d8f3e2b6d")
"""The namespace hashed with a notification id into its deliveries' ``apns-id`` prefix
(fixed: changing it would give a re-sent copy a different id than the first)."""
_NAMESPACE_BYTES: Final = APNS_ID_NAMESPACE.bytes


_VARIANT: Final = "89ab" * 4
"""The RFC 9562 variant nibble (10xx) for each hex digit it replaces."""


def apns_id_prefix(notification_id: str) -> bytes:
    """The first four groups of the ``apns-id`` of every delivery of a notification: SHA-1
    of the namespace and the notification id, laid out as uuid5 does, with version 8 (RFC
    9562's custom layout: the last group is the delivery's id). Made once per notification."""
    h = hashlib.sha1(_NAMESPACE_BYTES + notification_id.encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-8{h[13:16]}-{_VARIANT[int(h[16], 16)]}{h[17:20]}-".encode()


def delivery_apns_id(prefix: bytes, delivery_id: int) -> bytes:
    """The ``apns-id`` of one delivery (§3): its notification's ``apns_id_prefix`` and the
    delivery id as the last 12 hex digits, the same on every try, so a copy re-sent after a
    lost answer can be matched to the first. The delivery id makes it unique instead of a
    hash per push: hashing notification id and token cost 1.3 µs of the ~19 µs a push takes."""
    return prefix + b"%012x" % delivery_id


def _header_value(field: str, value: str) -> bytes:
    """``value`` as an HTTP/2 header value, or RequestError naming ``field``.

    RFC 9113 §8.2.1 forbids control characters and a leading or trailing space or tab; a
    server that receives one drops the stream or the whole connection (and every request on
    it), and would again on every retry, so the notification is refused when it is accepted.
    """
    if _HEADER_UNSAFE.search(value):
        raise RequestError(
            f"{field} contains control characters; use printable text of at most 64 bytes.",
            code=f"invalid_{field}",
        )
    if value != value.strip(" \t"):
        raise RequestError(
            f"{field} starts or ends with a space or tab, which an HTTP/2 header value may not; "
            "trim it.",
            code=f"invalid_{field}",
        )
    return value.encode()


def _is_hex_pairs(token: str) -> bool:
    """Whether ``token`` is a non-empty run of hex digit pairs (faster than a regex: this
    runs once per push)."""
    if not token.isalnum():  # also refuses "" and the whitespace bytes.fromhex skips
        return False
    try:
        bytes.fromhex(token)
    except ValueError:
        return False
    return True


def device_path(token: str) -> bytes:
    """The request path ``/3/device/<token>`` (§1); the token must be hex text."""
    if not _is_hex_pairs(token):
        raise RequestError(
            f"An APNs device token is an even number of hex digits (usually 64); this one "
            f"has {len(token)} characters and does not qualify.",
            code="invalid_device_token",
        )
    return b"/3/device/" + token.encode("ascii")


def _rejected(status: int, reason: str, *, configuration: bool = False) -> Rejected:
    return Rejected(reason=reason, status=status, configuration=configuration)


REASONS: Final[dict[tuple[int, str], Outcome]] = {
    # §7 BadCollapseId, §8 caller bug: collapse id over 64 bytes; fail the message.
    (400, "BadCollapseId"): _rejected(400, "BadCollapseId"),
    # §7 BadDeviceToken, §8 probably dead: Unregistered only if environments match.
    (400, "BadDeviceToken"): Unregistered(reason="BadDeviceToken"),
    # §7 BadExpirationDate, §8 caller bug: invalid apns-expiration.
    (400, "BadExpirationDate"): _rejected(400, "BadExpirationDate"),
    # §7 BadMessageId, §8 caller bug: apns-id is not a lowercase UUID.
    (400, "BadMessageId"): _rejected(400, "BadMessageId"),
    # §7 BadPriority, §8 caller bug: priority not 10, 5 or 1 (or 10 on background).
    (400, "BadPriority"): _rejected(400, "BadPriority"),
    # §7 BadTopic, §8 configuration alarm: the credential's topic is malformed.
    (400, "BadTopic"): _rejected(400, "BadTopic", configuration=True),
    # §7 DeviceTokenNotForTopic, §8 probably dead: Unregistered only if environments match.
    (400, "DeviceTokenNotForTopic"): Unregistered(reason="DeviceTokenNotForTopic"),
    # §7 DuplicateHeaders, §8 caller bug: a header was sent twice.
    (400, "DuplicateHeaders"): _rejected(400, "DuplicateHeaders"),
    # §7 IdleTimeout, §8 reconnect: open a new connection and resend.
    (400, "IdleTimeout"): Retry(reason="IdleTimeout"),
    # §7 InvalidPushType, §8 caller bug: unknown apns-push-type.
    (400, "InvalidPushType"): _rejected(400, "InvalidPushType"),
    # §7 MissingDeviceToken, §8 caller bug: no token in :path.
    (400, "MissingDeviceToken"): _rejected(400, "MissingDeviceToken"),
    # §7 MissingTopic, §8 configuration alarm: token auth or multi-topic cert needs a topic.
    (400, "MissingTopic"): _rejected(400, "MissingTopic", configuration=True),
    # §7 PayloadEmpty, §8 caller bug: empty body.
    (400, "PayloadEmpty"): _rejected(400, "PayloadEmpty"),
    # §7 TopicDisallowed, §8 configuration alarm: the credential may not push this topic.
    (400, "TopicDisallowed"): _rejected(400, "TopicDisallowed", configuration=True),
    # §7 BadCertificate, §8 configuration alarm: the client certificate is invalid.
    (403, "BadCertificate"): _rejected(403, "BadCertificate", configuration=True),
    # §7 BadCertificateEnvironment, §8 configuration alarm: cert for the other environment.
    (403, "BadCertificateEnvironment"): _rejected(
        403, "BadCertificateEnvironment", configuration=True
    ),
    # §5/§7 BadEnvironmentKeyIdInToken (documented spelling), §8 configuration alarm.
    (403, "BadEnvironmentKeyIdInToken"): _rejected(
        403, "BadEnvironmentKeyIdInToken", configuration=True
    ),
    # §5/§7 BadEnvironmentKeyInToken (spelling seen on the wire), §8 configuration alarm.
    (403, "BadEnvironmentKeyInToken"): _rejected(
        403, "BadEnvironmentKeyInToken", configuration=True
    ),
    # §5/§7 ExpiredProviderToken, §8 refresh credentials: mint a new JWT, retry once.
    (403, "ExpiredProviderToken"): Retry(reason="ExpiredProviderToken", refresh_credentials=True),
    # §7 Forbidden, §8 configuration alarm (never retry).
    (403, "Forbidden"): _rejected(403, "Forbidden", configuration=True),
    # §5/§7 InvalidProviderToken, §8 configuration alarm: bad key, kid, team or signature.
    (403, "InvalidProviderToken"): _rejected(403, "InvalidProviderToken", configuration=True),
    # §5/§7 MissingProviderToken, §8 configuration alarm: no JWT and no client certificate.
    (403, "MissingProviderToken"): _rejected(403, "MissingProviderToken", configuration=True),
    # §5/§7 UnrelatedKeyIdInToken, §8 reconnect: the key needs a connection of its own.
    (403, "UnrelatedKeyIdInToken"): Retry(reason="UnrelatedKeyIdInToken"),
    # §7 BadPath, §8 caller bug: invalid :path.
    (404, "BadPath"): _rejected(404, "BadPath"),
    # §7 MethodNotAllowed, §8 caller bug: :method was not POST.
    (405, "MethodNotAllowed"): _rejected(405, "MethodNotAllowed"),
    # §7 ExpiredToken, §8 dead token: delete it (no timestamp documented).
    (410, "ExpiredToken"): Unregistered(reason="ExpiredToken"),
    # §7 Unregistered, §8 dead token: delete it; the body's ms timestamp becomes `since`.
    (410, "Unregistered"): Unregistered(reason="Unregistered"),
    # §7 PayloadTooLarge, §8 caller bug (never retry): body over 4096/5120 bytes.
    (413, "PayloadTooLarge"): _rejected(413, "PayloadTooLarge"),
    # §5/§7 TooManyProviderTokenUpdates, §8 throttle: hold the connection, wait.
    (429, "TooManyProviderTokenUpdates"): Retry(
        reason="TooManyProviderTokenUpdates", after=TOKEN_UPDATE_RETRY_AFTER
    ),
    # §7 TooManyRequests, §8 throttle: too many pushes to this token; delay it.
    (429, "TooManyRequests"): Retry(reason="TooManyRequests"),
    # §7 InternalServerError, §8 transient: back off and retry.
    (500, "InternalServerError"): Retry(reason="InternalServerError"),
    # §7 ServiceUnavailable, §8 transient: back off and retry.
    (503, "ServiceUnavailable"): Retry(reason="ServiceUnavailable"),
    # §7 Shutdown, §8 reconnect: the server is going away; resend on a new connection.
    (503, "Shutdown"): Retry(reason="Shutdown"),
}


def classify(
    status: int, body: bytes, headers: Iterable[tuple[bytes, bytes]] = (), *, now: float
) -> Outcome:
    """Turn one APNs answer into an Outcome using REASONS (§7, §8).

    The same signature as the FCM and Web Push classifiers; ``now`` (epoch seconds) reads a
    Retry-After date. Unknown reasons and unparsable bodies are Rejected (non-retryable,
    §7), except for 429 and 5xx answers, which are always worth a later retry. A token
    rejection is Unregistered here; ``for_device`` decides whether an environment mismatch
    explains it.
    """
    if status == 200:
        apns_id = find_header(headers, b"apns-id")
        return Delivered(provider_id=None if apns_id is None else apns_id.decode("latin-1"))
    error = _error_body(body)
    reason = error.get("reason") if error is not None else None
    if not isinstance(reason, str):
        return _fallback(status, f"HTTP {status} without a readable reason", headers, now=now)
    outcome = REASONS.get((status, reason))
    if outcome is None:
        return _fallback(status, reason[:200], headers, now=now)
    if isinstance(outcome, Unregistered) and status == 410:
        return replace(outcome, since=_since(error))
    if isinstance(outcome, Retry):
        after = retry_after_seconds(find_header(headers, b"retry-after"), now=now)
        return replace(outcome, after=after or outcome.after)
    return outcome


def for_device(
    outcome: Outcome, *, device_environment: str, credential_environment: str
) -> Outcome:
    """A token rejection (400 BadDeviceToken, DeviceTokenNotForTopic) that an environment
    mismatch explains is our setup, not a dead token (§8): a configuration Rejected."""
    if (
        isinstance(outcome, Unregistered)
        and outcome.reason in _ENVIRONMENT_SENSITIVE
        and device_environment != credential_environment
    ):
        return _environment_mismatch(outcome.reason, device_environment, credential_environment)
    return outcome


_ENVIRONMENT_SENSITIVE: Final = frozenset({"BadDeviceToken", "DeviceTokenNotForTopic"})


def _error_body(body: bytes) -> dict[str, Any] | None:
    """The JSON error object, or None when the body is not one."""
    try:
        error = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return error if isinstance(error, dict) else None


def _fallback(
    status: int, reason: str, headers: Iterable[tuple[bytes, bytes]], *, now: float
) -> Outcome:
    """Outcome for an answer the table does not know: retry 429/5xx, reject the rest."""
    if status == 429 or status >= 500:
        return Retry(
            reason=reason, after=retry_after_seconds(find_header(headers, b"retry-after"), now=now)
        )
    return Rejected(reason=reason, status=status, configuration=status == 403)


def _environment_mismatch(reason: str, device_env: str, credential_env: str) -> Rejected:
    """A token-rejection that an environment mismatch explains is our setup, not a dead token."""
    return Rejected(
        reason=(
            f"{reason}: the device registered a {device_env} token but the credential sends to "
            f"APNs {credential_env}; register the device with the right environment or add a "
            f"{device_env} credential"
        ),
        status=400,
        configuration=True,
    )


def _since(error: dict[str, Any]) -> datetime | None:
    """The 410 ``timestamp`` (milliseconds since the epoch) as an aware UTC datetime (§7)."""
    timestamp = error.get("timestamp")
    if isinstance(timestamp, bool) or not isinstance(timestamp, int | float):
        return None
    try:
        return datetime.fromtimestamp(timestamp / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
