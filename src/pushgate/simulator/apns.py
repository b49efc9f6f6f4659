"""The APNs device-push endpoint: validates each request the way APNs does and answers like APNs.

Checks run in this order (the one pushy's mock server uses; Apple does not document its own);
the first failure is the answer:

1. ``apns-id`` is a UUID: 400 BadMessageId
2. ``:method`` is POST: 405 MethodNotAllowed
3. ``apns-topic`` present (a single-app certificate supplies its UID) and well formed:
   400 MissingTopic, BadTopic
4. ``apns-collapse-id`` at most 64 bytes: 400 BadCollapseId
5. ``apns-priority`` in {10, 5, 1}: 400 BadPriority; ``apns-expiration`` an integer:
   400 BadExpirationDate
6. ``apns-push-type`` known: 400 InvalidPushType
7. ``:path``: 404 BadPath, 400 MissingDeviceToken / BadDeviceToken; a registered token of the
   other environment: 400 BadDeviceToken; a dead token: 410 Unregistered + ``timestamp`` (ms);
   a registered token of another topic: 400 DeviceTokenNotForTopic
8. no header repeated: 400 DuplicateHeaders
9. authentication (403s, 429 TooManyProviderTokenUpdates), then the topic's bundle id must be
   one the certificate, the topic-specific key or the key's team covers:
   ``ApnsRules.topic_disallowed_reason`` (TopicDisallowed)
10. the topic carries the push type's suffix: ``ApnsRules.topic_disallowed_reason``
11. body: 400 PayloadEmpty, 413 PayloadTooLarge (4096; 5120 for VoIP), a JSON dictionary whose
    ``aps`` is one too (``ApnsRules.invalid_payload_reason``), background push rules
12. injected faults: 429 TooManyRequests (global or per device token), 500
    InternalServerError, 503 ServiceUnavailable

Every reason is one Apple documents (:mod:`~pushgate.simulator.apns_reasons`).
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass, field

import orjson
from h2.errors import ErrorCodes

from pushgate.simulator import apns_checks as checks
from pushgate.simulator.apns_auth import (
    TokenSession,
    authenticate_certificate,
    authenticate_token,
)
from pushgate.simulator.apns_state import ApnsRegistry, Rejection
from pushgate.simulator.certs import ApnsCertificateInfo, read_apns_certificate
from pushgate.simulator.faults import FaultInjector
from pushgate.simulator.inbox import AuthInfo, Inbox, ReceivedNotification
from pushgate.simulator.server import H2ServerConnection, Request, Response
from pushgate.simulator.settings import ApnsEnvironment, ApnsRules, SimulatorSettings

GOAWAY_SHUTDOWN = b'{"reason":"Shutdown"}'


@dataclass(slots=True)
class _ConnectionState:
    """What APNs remembers about one connection."""

    cert_auth: bool
    """The client presented a (verified) certificate: authorization headers are ignored."""
    certificate: ApnsCertificateInfo | None
    session: TokenSession = field(default_factory=TokenSession)
    token_validated: bool = False
    last_rejected: bool = False
    streams: int = 0


class ApnsHandler:
    """Answers ``POST /3/device/<token>`` for one environment (one listener)."""

    def __init__(
        self,
        environment: ApnsEnvironment,
        *,
        registry: ApnsRegistry,
        faults: FaultInjector,
        inbox: Inbox,
        settings: SimulatorSettings,
    ) -> None:
        self.environment = environment
        self._registry = registry
        self._faults = faults
        self._inbox = inbox
        self._rules: ApnsRules = settings.apns
        self._clock = settings.clock
        self._states: dict[H2ServerConnection, _ConnectionState] = {}

    # server.Handler ---------------------------------------------------------------------------

    def connection_made(self, conn: H2ServerConnection) -> None:
        der = conn.peer_certificate
        info = None
        if der:
            try:
                info = read_apns_certificate(der)
            except ValueError:
                info = None
        state = _ConnectionState(cert_auth=bool(der), certificate=info)
        self._states[conn] = state
        self._inbox.clients.connection_opened()
        conn.set_max_concurrent_streams(self._stream_limit(state))

    def connection_lost(self, conn: H2ServerConnection) -> None:
        if self._states.pop(conn, None) is not None:
            self._inbox.clients.connection_closed()

    def handle(self, conn: H2ServerConnection, request: Request) -> Response:
        state = self._states[conn]
        state.streams += 1
        self._inbox.clients.request()
        poison = self._faults.poison
        if poison and request.path.rpartition("/")[2].lower() in poison:
            conn.fail(ErrorCodes.PROTOCOL_ERROR, last_stream_id=request.stream_id)
            return Response(400)  # never sent: the connection is gone
        try:
            notification = self._accept(state, request)
        except Rejection as rejection:
            state.last_rejected = True
            self._inbox.reject(rejection.reason)
            response = self._error(rejection, request)
        else:
            state.last_rejected = False
            self._inbox.add(notification)
            response = self._success(notification.apns_id)
        faults = self._faults.faults
        if faults.goaway_every and state.streams % faults.goaway_every == 0:
            conn.goaway(GOAWAY_SHUTDOWN)
        elif faults.abrupt_goaway_every and state.streams % faults.abrupt_goaway_every == 0:
            conn.goaway(GOAWAY_SHUTDOWN, refuse_above=request.stream_id)
        conn.set_max_concurrent_streams(self._stream_limit(state))
        return dataclasses.replace(response, delay=self._faults.delay())

    def refresh_stream_limits(self) -> None:
        """Re-advertise MAX_CONCURRENT_STREAMS on every connection (after the faults changed)."""
        for conn, state in list(self._states.items()):
            conn.set_max_concurrent_streams(self._stream_limit(state))

    # validation -------------------------------------------------------------------------------

    def _accept(self, state: _ConnectionState, request: Request) -> ReceivedNotification:
        """Run every check in APNs order; raise :class:`Rejection` at the first failure."""
        headers = checks.HeaderView.parse(request.headers)
        apns_id = checks.check_apns_id(headers.get("apns-id")) or str(uuid.uuid4())
        if request.method != "POST":
            raise Rejection(405, "MethodNotAllowed")
        topic = self._topic(state, headers.get("apns-topic"))
        collapse_id = checks.check_collapse_id(headers.get("apns-collapse-id"))
        priority = checks.check_priority(headers.get("apns-priority"))
        expiration = checks.check_expiration(headers.get("apns-expiration"))
        push_type = checks.check_push_type(headers.get("apns-push-type"))
        token = self._device(request.path, topic)
        if headers.duplicated:
            raise Rejection(400, "DuplicateHeaders")
        auth = self._authenticate(state, headers.get("authorization"), topic)
        checks.check_topic_suffix(push_type, topic, self._rules.topic_disallowed_reason)
        effective_type = push_type or checks.implied_push_type(topic)
        payload = checks.check_payload(request.body, effective_type, priority, self._rules)
        fault = self._faults.draw(token)
        if fault is not None:
            raise fault
        return ReceivedNotification(
            self._clock(), self.environment, token, topic, push_type, priority,
            expiration, apns_id, collapse_id, auth, payload,
        )  # fmt: skip

    def _topic(self, state: _ConnectionState, value: str | None) -> str:
        """The request's topic; a single-app certificate lets the client leave it out."""
        if value is not None:
            return checks.check_topic_syntax(value)
        default = state.certificate.default_topic if state.certificate else None
        if default is None:
            raise Rejection(400, "MissingTopic")
        return default

    def _device(self, path: str, topic: str) -> str:
        """Token syntax, then what the simulator knows about that token."""
        token = checks.device_token(path)
        registration = self._registry.devices.get(token)
        if registration is not None and registration.environment != self.environment:
            raise Rejection(400, "BadDeviceToken")
        dead_since = self._registry.dead_tokens.get(token)
        if dead_since is not None:
            raise Rejection(410, "Unregistered", timestamp_ms=dead_since)
        if registration is not None and registration.topic != topic:
            raise Rejection(400, "DeviceTokenNotForTopic")
        return token

    def _authenticate(
        self, state: _ConnectionState, authorization: str | None, topic: str
    ) -> AuthInfo:
        """Certificate auth when a client certificate was presented, provider token otherwise."""
        if state.cert_auth:
            info = authenticate_certificate(state.certificate, self.environment)
            if topic not in info.topics:
                raise Rejection(400, self._rules.topic_disallowed_reason)
            return AuthInfo("certificate", subject_uid=info.subject_uid)
        if authorization is not None:
            self._inbox.clients.credential_seen(authorization)
        previous = state.session.token
        key = authenticate_token(
            state.session,
            authorization,
            environment=self.environment,
            registry=self._registry,
            rules=self._rules,
            now=self._clock(),
        )
        if previous is not None and state.session.token != previous:
            self._inbox.clients.token_refreshed()
        state.token_validated = True
        if not self._registry.key_allows(key, checks.bundle_id(topic)):
            raise Rejection(400, self._rules.topic_disallowed_reason)
        return AuthInfo("token", key_id=key.key_id, team_id=key.team_id)

    # answers ----------------------------------------------------------------------------------

    def _stream_limit(self, state: _ConnectionState) -> int:
        override = self._faults.faults.max_concurrent_streams
        if override is not None:
            return override
        if self._rules.one_stream_until_token and not state.cert_auth and not state.token_validated:
            return 1  # Apple: one stream until a request with a valid provider token
        if self._rules.drop_streams_after_rejection and state.last_rejected:
            return 1
        return self._rules.max_concurrent_streams

    def _ids(self, apns_id: str) -> tuple[tuple[str, str], ...]:
        if self.environment == "sandbox":
            return (("apns-id", apns_id), ("apns-unique-id", str(uuid.uuid4())))
        return (("apns-id", apns_id),)

    def _success(self, apns_id: str) -> Response:
        return Response(200, self._ids(apns_id))

    def _error(self, rejection: Rejection, request: Request) -> Response:
        body: dict[str, object] = {"reason": rejection.reason}
        if rejection.timestamp_ms is not None:
            body["timestamp"] = rejection.timestamp_ms
        given = next((v for k, v in request.headers if k == "apns-id"), None)
        apns_id = given if given and rejection.reason != "BadMessageId" else str(uuid.uuid4())
        headers = (("content-type", "application/json"), *self._ids(apns_id))
        return Response(rejection.status, headers, orjson.dumps(body))
