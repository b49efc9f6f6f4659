"""The Web Push service simulator: ``POST /push/<subscription id>`` (RFC 8030, 8291, 8292).

A message is answered after these steps, the first failure being the answer:

1. the push resource: 404 ``NotFound`` (unknown path or subscription), 405 for a method not
   POST, 410 ``Unregistered`` for an expired subscription;
2. VAPID (:mod:`~pushgate.simulator.webpush_auth`): 401, 403 ``VapidPkHashMismatch`` /
   ``BadJwtToken``;
3. headers: ``TTL`` required (400 ``MissingTtl`` / ``BadTtl``), ``Urgency`` one of very-low, low,
   normal, high (400 ``BadUrgency``), ``Topic`` ≤ 32 base64url characters (400
   ``BadWebPushTopic``);
4. the body: 413 ``PayloadTooLarge`` above ``WebPushRules.max_body`` (4096); a non-empty body
   must be ``Content-Encoding: aes128gcm`` (400 ``BadContentEncoding``) and decrypt with the
   subscription's keys (400 ``DecryptionFailed``);
5. injected faults (``WebPushFaults``): 429, 500, 503;
6. success: 201 with ``Location: <base>/message/<id>`` and the ``TTL`` kept (capped at
   ``WebPushRules.max_ttl``); the decrypted message goes to the inbox.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import orjson

from pushgate.simulator.http1 import StatelessHandler
from pushgate.simulator.inbox import WebPushInbox, WebPushReceived
from pushgate.simulator.server import Request, Response
from pushgate.simulator.service_faults import RateInjector, WebPushFaults
from pushgate.simulator.settings import SimulatorSettings
from pushgate.simulator.webpush_auth import VapidIdentity, WebPushRejection, verify_vapid
from pushgate.simulator.webpush_crypto import decrypt
from pushgate.simulator.webpush_state import PUSH_PATH, WebPushRegistry, WebPushSubscription

MESSAGE_PATH = "/message/"
URGENCIES = ("very-low", "low", "normal", "high")
"""The ``Urgency`` values of RFC 8030 §5.3."""
_TTL = re.compile(r"[0-9]{1,10}")
_TOPIC = re.compile(r"[A-Za-z0-9_-]{1,32}")
_FAULT_ANSWERS = {
    "too_many_requests": (429, "TooManyRequests", True),
    "internal_server_error": (500, "InternalServerError", False),
    "service_unavailable": (503, "ServiceUnavailable", True),
}


@dataclasses.dataclass(frozen=True, slots=True)
class _Delivery:
    """The RFC 8030 headers of an acceptable message."""

    ttl: int
    urgency: str
    topic: str | None


class WebPushHandler(StatelessHandler):
    """Answers pushes to the subscriptions the simulator created."""

    def __init__(
        self,
        *,
        registry: WebPushRegistry,
        faults: RateInjector[WebPushFaults],
        inbox: WebPushInbox,
        settings: SimulatorSettings,
        base_url: Callable[[], str],
    ) -> None:
        self._registry = registry
        self._faults = faults
        self._inbox = inbox
        self.counters = inbox.clients
        self._rules = settings.webpush
        self._clock = settings.clock
        self._base_url = base_url

    def respond(self, request: Request) -> Response:
        """Steps 1-6 of the module docstring."""
        try:
            answer = self._push(request)
        except WebPushRejection as rejection:
            self._inbox.reject(rejection.reason)
            answer = rejection.response()
        return dataclasses.replace(answer, delay=self._faults.plan.response_delay)

    def _push(self, request: Request) -> Response:
        subscription = self._subscription(request)
        headers: dict[str, str] = {}
        for name, value in request.headers:
            headers.setdefault(name, value)
        if "authorization" in headers:
            self.counters.credential_seen(headers["authorization"])
        identity = verify_vapid(
            headers.get("authorization"),
            audiences=origins(subscription.endpoint),
            bound_key=subscription.application_server_key,
            rules=self._rules,
            now=self._clock(),
        )
        delivery = _delivery(headers)
        plaintext = self._decrypt(subscription, request.body, headers.get("content-encoding"))
        self._inject()
        return self._accept(subscription, delivery, identity, plaintext)

    def _subscription(self, request: Request) -> WebPushSubscription:
        """The subscription the path names: 404, 405 or 410 otherwise."""
        path = request.path.partition("?")[0]
        subscription = None
        if path.startswith(PUSH_PATH):
            subscription = self._registry.subscriptions.get(path.removeprefix(PUSH_PATH))
        if subscription is None:
            raise WebPushRejection(404, "NotFound", "There is no such push subscription.")
        if request.method != "POST":
            raise WebPushRejection(
                405, "MethodNotAllowed", "Push messages are POSTed.", (("allow", "POST"),)
            )
        if subscription.subscription_id in self._registry.expired:
            raise WebPushRejection(410, "Unregistered", "The subscription has expired.")
        return subscription

    def _decrypt(
        self, subscription: WebPushSubscription, body: bytes, encoding: str | None
    ) -> bytes:
        """The plaintext of an ``aes128gcm`` body (RFC 8291); an empty body carries none."""
        if len(body) > self._rules.max_body:
            raise WebPushRejection(
                413,
                "PayloadTooLarge",
                f"The body is {len(body)} bytes, over the {self._rules.max_body}-byte limit.",
            )
        if not body:
            return b""
        if encoding is None or encoding.strip().lower() != "aes128gcm":
            raise WebPushRejection(
                400, "BadContentEncoding", "Content-Encoding must be aes128gcm (RFC 8291)."
            )
        try:
            return decrypt(body, subscription.private_key, subscription.auth_secret)
        except ValueError as exc:
            raise WebPushRejection(400, "DecryptionFailed", f"Cannot decrypt: {exc}.") from None

    def _inject(self) -> None:
        """Raise the injected fault for this message, if the plan draws one."""
        fault = self._faults.draw()
        if fault is None:
            return
        status, reason, retry = _FAULT_ANSWERS[fault]
        seconds = self._faults.plan.retry_after
        headers = (("retry-after", str(seconds)),) if retry and seconds is not None else ()
        raise WebPushRejection(status, reason, "Injected by the simulator's fault plan.", headers)

    def _accept(
        self,
        subscription: WebPushSubscription,
        delivery: _Delivery,
        identity: VapidIdentity | None,
        plaintext: bytes,
    ) -> Response:
        """201 Created with the message's Location and the TTL kept; the inbox keeps it."""
        message_id = secrets.token_urlsafe(16)
        self._inbox.add(
            WebPushReceived(
                self._clock(), subscription.subscription_id, subscription.endpoint,
                message_id, delivery.ttl, delivery.urgency, delivery.topic,
                identity.subject if identity else None, identity.key if identity else None,
                plaintext, _json_or_none(plaintext),
            )
        )  # fmt: skip
        headers = (
            ("location", f"{self._base_url()}{MESSAGE_PATH}{message_id}"),
            ("ttl", str(min(delivery.ttl, self._rules.max_ttl))),
        )
        return Response(201, headers)


def _delivery(headers: dict[str, str]) -> _Delivery:
    """TTL (required), Urgency and Topic (RFC 8030 §5.2-5.4)."""
    ttl = headers.get("ttl")
    if ttl is None:
        raise WebPushRejection(400, "MissingTtl", "The TTL header is required (RFC 8030 §5.2).")
    if not _TTL.fullmatch(ttl.strip()):
        raise WebPushRejection(400, "BadTtl", "TTL must be a whole number of seconds.")
    urgency = headers.get("urgency", "normal").strip()
    if urgency not in URGENCIES:
        raise WebPushRejection(400, "BadUrgency", f"Urgency must be one of {', '.join(URGENCIES)}.")
    topic = headers.get("topic")
    if topic is not None and not _TOPIC.fullmatch(topic):
        raise WebPushRejection(
            400, "BadWebPushTopic", "Topic must be 1 to 32 base64url characters."
        )
    return _Delivery(int(ttl), urgency, topic)


def origins(endpoint: str) -> frozenset[str]:
    """The ``aud`` a VAPID JWT may carry for this endpoint: its origin (RFC 8292 §2), written
    as RFC 6454 serialises it (default port left out) or as the URL spells its host and port."""
    parts = urlsplit(endpoint)
    scheme = parts.scheme.lower()
    spelled = f"{scheme}://{parts.netloc.lower()}"
    default = {"https": 443, "http": 80}.get(scheme)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    port = parts.port
    serialised = f"{scheme}://{host}" if port in (None, default) else f"{scheme}://{host}:{port}"
    return frozenset({spelled, serialised})


def _json_or_none(plaintext: bytes) -> Any:
    """The plaintext as JSON, or None when it is not JSON."""
    try:
        return orjson.loads(plaintext) if plaintext else None
    except orjson.JSONDecodeError:
        return None
