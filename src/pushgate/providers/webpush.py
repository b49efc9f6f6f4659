"""Validate Web Push subscriptions, render a Message for a service worker, classify answers.

Pure functions only: no I/O, no sleeping, no retrying, no logging (endpoints carry the device's
token and never leave this module in a message). Encryption and VAPID live in webpush_crypto and
webpush_vapid. Wire facts: docs/webpush.md, whose sections every bare § below cites.

The payload a service worker receives (``build_payload``), compact JSON, keys present only
when the Message sets them::

    {"title": str, "subtitle": str, "body": str, "badge": int, "tag": str,
     "category": str, "push_type": "background", "data": {...}}

``tag`` is the collapse id (the Notification API replaces a shown notification with the same
tag); ``push_type`` appears only for background pushes, which carry no title or body;
``data`` is ``Message.data`` as given (nested JSON allowed) and is always present.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, Final, Literal
from urllib.parse import urlsplit

import orjson
from cryptography.hazmat.primitives.asymmetric import ec

from pushgate.errors import PayloadTooLarge, RequestError
from pushgate.message import Message
from pushgate.outcomes import Delivered, Outcome, Rejected, Retry, Unregistered
from pushgate.providers.retry_after import find_header, retry_after_seconds
from pushgate.providers.webpush_crypto import (
    AUTH_SECRET_SIZE,
    MAX_PLAINTEXT,
    b64url_decode,
    b64url_encode,
)

__all__ = [
    "DEFAULT_TTL",
    "ERRORS",
    "MAX_ENDPOINT_LENGTH",
    "MAX_TTL",
    "URGENCIES",
    "Subscription",
    "Urgency",
    "build_payload",
    "classify",
    "request_headers",
    "topic_for",
    "ttl_for",
    "urgency_for",
    "validate_subscription",
]

Urgency = Literal["very-low", "low", "normal", "high"]
URGENCIES: Final[tuple[Urgency, ...]] = ("very-low", "low", "normal", "high")
"""The RFC 8030 §5.3 ``Urgency`` values (§1)."""
DEFAULT_TTL: Final = 2_419_200
"""TTL when the Message has no expiration: 4 weeks, FCM's default lifespan too (docs/fcm.md §3)."""
MAX_TTL: Final = 2_419_200
"""Longest TTL we ask for; services may keep messages for less (RFC 8030 §5.2)."""
MAX_ENDPOINT_LENGTH: Final = 2048
"""Longest endpoint URL accepted; real ones are 100-500 characters."""

_TOPIC_SIZE = 32
_TOPIC = re.compile(r"[A-Za-z0-9_-]{1,32}")
_POINT_SIZE = 65
_URGENCY_FOR_PRIORITY: Final[dict[int, Urgency]] = {10: "high", 5: "normal", 1: "low"}


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class Subscription:
    """A browser's PushSubscription: where to POST and the keys to encrypt for (§2).

    The repr shows only the endpoint's host: the endpoint URL is the device's address.
    """

    endpoint: str
    p256dh: bytes
    """The user agent's ECDH public key, a 65-byte uncompressed P-256 point."""
    auth: bytes
    """The 16-byte authentication secret."""

    def __repr__(self) -> str:
        return f"Subscription(host={urlsplit(self.endpoint).hostname!r})"


def validate_subscription(endpoint: str, p256dh: str, auth: str) -> Subscription:
    """Check a subscription from ``PushSubscription.toJSON()`` and return its decoded keys.

    Raises RequestError: ``invalid_endpoint`` (not an https URL with a host),
    ``invalid_p256dh`` (not base64url of a 65-byte uncompressed point on P-256),
    ``invalid_auth`` (not base64url of 16 bytes).
    """
    return Subscription(
        endpoint=_check_endpoint(endpoint), p256dh=_check_p256dh(p256dh), auth=_check_auth(auth)
    )


def _check_endpoint(endpoint: str) -> str:
    """The endpoint itself if it is an https URL with a host and nothing odd (RFC 8030 §5)."""
    problem = _endpoint_problem(endpoint)
    if problem is None:
        return endpoint
    raise RequestError(
        f"The Web Push endpoint {problem}; send PushSubscription.endpoint exactly as the "
        "browser gave it.",
        code="invalid_endpoint",
    )


def _endpoint_problem(endpoint: str) -> str | None:
    """What is wrong with the endpoint, or None."""
    if len(endpoint) > MAX_ENDPOINT_LENGTH:
        return f"is longer than {MAX_ENDPOINT_LENGTH} characters"
    if any(char.isspace() or not char.isprintable() for char in endpoint):
        return "contains whitespace or control characters"
    try:
        parts = urlsplit(endpoint)
        host = parts.hostname
        parts.port  # noqa: B018  # raises ValueError for a malformed port
    except ValueError:
        return "is not a URL"
    if parts.scheme.lower() != "https" or not host:
        return "is not an https URL with a host name"
    if parts.fragment:
        return "has a #fragment"
    return None


def _check_p256dh(p256dh: str) -> bytes:
    """The browser's ECDH public key: 65-byte uncompressed P-256 point on the curve (§2)."""
    try:
        point = b64url_decode(p256dh)
        if len(point) != _POINT_SIZE or point[0] != 0x04:
            raise ValueError("not an uncompressed point")
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise RequestError(
            "keys.p256dh must be the subscription's P-256 public key: base64url of a 65-byte "
            "uncompressed point (87 characters) that lies on the curve.",
            code="invalid_p256dh",
        ) from None
    return point


def _check_auth(auth: str) -> bytes:
    """The subscription's 16-byte authentication secret (§2)."""
    try:
        secret = b64url_decode(auth)
    except ValueError:
        secret = b""
    if len(secret) != AUTH_SECRET_SIZE:
        raise RequestError(
            "keys.auth must be the subscription's 16-byte secret in base64url (22 characters).",
            code="invalid_auth",
        )
    return secret


def build_payload(message: Message) -> bytes:
    """The JSON the service worker reads (layout in the module docstring); ≤ 3993 bytes."""
    payload: dict[str, Any] = _visible(message)
    if message.badge is not None:
        payload["badge"] = message.badge
    if message.collapse_id:
        payload["tag"] = message.collapse_id
    if message.category:
        payload["category"] = message.category
    if message.push_type == "background":
        payload["push_type"] = "background"
    payload["data"] = message.data
    try:
        encoded = orjson.dumps(payload)
    except orjson.JSONEncodeError as exc:
        raise RequestError(
            f"The notification cannot be encoded as JSON ({exc}); data values must be strings, "
            "numbers, booleans, null, lists or objects.",
            code="invalid_payload",
        ) from exc
    if len(encoded) > MAX_PLAINTEXT:
        raise PayloadTooLarge(
            f"The Web Push payload is {len(encoded)} bytes, over the {MAX_PLAINTEXT}-byte "
            "limit of one encrypted record; shorten the alert text or the data.",
        )
    return encoded


def _visible(message: Message) -> dict[str, str]:
    """Title, subtitle, body and image; refused on background pushes, which show nothing."""
    alert = message.alert
    parts = (
        {"title": alert.title, "subtitle": alert.subtitle, "body": alert.body, "image": alert.image}
        if alert
        else {}
    )
    visible = {key: value for key, value in parts.items() if value}
    if message.push_type not in ("alert", "background"):
        raise RequestError(
            f"Web Push delivers 'alert' and 'background' pushes; {message.push_type!r} is "
            "APNs-only.",
            code="unsupported_push_type",
        )
    if visible and message.push_type == "background":
        raise RequestError(
            "A background push may not carry an alert; remove it, or send the message with "
            "push_type 'alert'.",
            code="invalid_background_push",
        )
    return visible


def request_headers(
    message: Message,
    *,
    vapid_header: bytes,
    ttl: int | None = None,
    urgency: str | None = None,
    topic: str | None = None,
    now: float,
) -> tuple[tuple[bytes, bytes], ...]:
    """Headers of the POST to the endpoint (§1): Authorization, encoding, TTL, Urgency, Topic.

    ``ttl``, ``urgency`` and ``topic`` override what the Message implies (see ``ttl_for``,
    ``urgency_for``, ``topic_for``); the topic defaults to the collapse id.
    """
    headers = [
        (b"authorization", vapid_header),
        (b"content-encoding", b"aes128gcm"),
        (b"content-type", b"application/octet-stream"),
        (b"ttl", b"%d" % ttl_for(message, now=now, override=ttl)),
        (b"urgency", urgency_for(message, override=urgency).encode("ascii")),
    ]
    topic_value = topic_for(topic if topic is not None else message.collapse_id)
    if topic_value is not None:
        headers.append((b"topic", topic_value.encode("ascii")))
    return tuple(headers)


def ttl_for(message: Message, *, now: float, override: int | None = None) -> int:
    """TTL seconds: the override, else until ``expiration``, else 4 weeks; within 0..MAX_TTL."""
    if override is not None:
        seconds = override
    elif message.expiration is None:
        seconds = DEFAULT_TTL
    else:
        seconds = message.expiration - math.floor(now)
    return max(0, min(MAX_TTL, seconds))


def urgency_for(message: Message, *, override: str | None = None) -> Urgency:
    """``Urgency`` from the override, else priority: 10 high, 5 normal, 1 low (§1).

    Without a priority, alerts are ``high`` and background pushes ``normal``, matching the
    APNs defaults (10 and 5).
    """
    if override is not None:
        for urgency in URGENCIES:
            if override == urgency:
                return urgency
        raise RequestError(
            f"Urgency {override[:20]!r} is not one of {', '.join(URGENCIES)}.",
            code="invalid_urgency",
        )
    priority = message.priority or (5 if message.push_type == "background" else 10)
    return _URGENCY_FOR_PRIORITY[priority]


def topic_for(value: str | None) -> str | None:
    """A ``Topic`` header value (≤ 32 base64url characters, §1) for a collapse id.

    Values that already fit are used as they are; anything else becomes the first 32
    characters of base64url(sha256(value)), so equal ids still replace each other.
    """
    if not value:
        return None
    if _TOPIC.fullmatch(value):
        return value
    return b64url_encode(hashlib.sha256(value.encode("utf-8")).digest())[:_TOPIC_SIZE]


def _rejected(reason: str, *, configuration: bool = False) -> Rejected:
    return Rejected(reason=reason, configuration=configuration)


ERRORS: Final[dict[int, Outcome]] = {
    # §1 gateway policy: 400 means our request is malformed (VAPID, headers); alert.
    400: _rejected("BadRequest", configuration=True),
    # §3 401: no or unusable VAPID token on a subscription bound to an applicationServerKey.
    401: _rejected("Unauthorized", configuration=True),
    # §1/§3 403: invalid JWT or a VAPID key the subscription was not made with (Apple:
    # {"reason":"BadJwtToken"} for a malformed sub).
    403: _rejected("Forbidden", configuration=True),
    # §1 404: the normative "subscription expired" (RFC 8030 §7.3); delete it.
    404: Unregistered(reason="NotFound"),
    # §1 410: what real services send for unsubscribed or expired; delete it.
    410: Unregistered(reason="Gone"),
    # §1 413: body too large (never for ≤ 4096 bytes); shrink the payload, don't retry.
    413: _rejected("PayloadTooLarge"),
    # §1 429: rate limited; back off, honouring Retry-After.
    429: Retry(reason="TooManyRequests"),
}


def classify(
    status: int, body: bytes, headers: Iterable[tuple[bytes, bytes]] = (), *, now: float
) -> Outcome:
    """Turn a push service's answer into an Outcome using ERRORS (§1); ``now`` reads a
    Retry-After date.

    200, 201 and 202 are Delivered with the ``Location`` header as provider id; 5xx not in
    the table are Retry; any other status is Rejected.
    """
    if status in (200, 201, 202):
        location = find_header(headers, b"location")
        return Delivered(provider_id=location.decode("latin-1") if location else None)
    outcome = ERRORS.get(status)
    if outcome is None:
        outcome = Retry(reason=f"HTTP {status}") if status >= 500 else _rejected(f"HTTP {status}")
    if isinstance(outcome, Retry):
        after = retry_after_seconds(find_header(headers, b"retry-after"), now=now)
        return replace(outcome, after=after)
    if isinstance(outcome, Rejected):
        detail = _service_reason(body)
        reason = f"{outcome.reason}: {detail}" if detail else outcome.reason
        return replace(outcome, status=status, reason=reason)
    return outcome


def _service_reason(body: bytes) -> str:
    """The service's own words: Apple's ``reason``, autopush's ``message``, or the text."""
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        answer = None
    if isinstance(answer, dict):
        for key in ("reason", "message", "error"):
            if isinstance(answer.get(key), str):
                return str(answer[key])[:200]
        return ""
    line = body[:400].decode("utf-8", "replace").strip().split("\n", 1)[0]
    return "".join(char for char in line if char.isprintable())[:200]
