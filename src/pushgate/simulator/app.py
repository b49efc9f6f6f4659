"""The simulator as one object: APNs production and sandbox, FCM and Web Push listeners, their
inboxes and the control API."""

from __future__ import annotations

import asyncio
import signal
import ssl
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric import ec

from pushgate.simulator.apns import GOAWAY_SHUTDOWN, ApnsHandler
from pushgate.simulator.apns_state import ApnsRegistry, KeyEnvironment, ProviderKey
from pushgate.simulator.certs import CertificateEnvironment, SimulatorCA
from pushgate.simulator.control import ControlServer, build_control_app
from pushgate.simulator.faults import ApnsFaults, FaultInjector
from pushgate.simulator.fcm import TOKEN_PATH, FcmHandler
from pushgate.simulator.fcm_auth import GOOGLE_TOKEN_URL
from pushgate.simulator.fcm_state import (
    FcmRegistry,
    ServiceAccountRecord,
    make_service_account,
    new_registration_token,
)
from pushgate.simulator.http1 import DualListener, dual_ssl_context
from pushgate.simulator.inbox import FcmInbox, Inbox, WebPushInbox
from pushgate.simulator.server import H2Listener, server_ssl_context
from pushgate.simulator.service_faults import (
    FCM_FAULTS,
    WEBPUSH_FAULTS,
    FcmFaults,
    RateInjector,
    RollingQuota,
    WebPushFaults,
)
from pushgate.simulator.settings import ApnsEnvironment, SimulatorSettings
from pushgate.simulator.webpush import WebPushHandler
from pushgate.simulator.webpush_state import WebPushRegistry

_Service = Literal["fcm", "webpush"]
_WILDCARDS = ("", "0.0.0.0", "::")


class Simulator:
    """Local APNs, FCM and Web Push services; use ``async with Simulator(settings) as sim:``."""

    def __init__(self, settings: SimulatorSettings | None = None) -> None:
        self.settings = settings or SimulatorSettings()
        self.registry = ApnsRegistry()
        self.inbox = Inbox(self.settings.inbox_size)
        self._faults = FaultInjector()
        self._handlers: dict[ApnsEnvironment, ApnsHandler] = {}
        self._listeners: dict[ApnsEnvironment, H2Listener] = {}
        self.fcm_registry = FcmRegistry()
        self.fcm_inbox = FcmInbox(self.settings.inbox_size)
        self._fcm_faults = RateInjector(FcmFaults(), FCM_FAULTS)
        self._fcm_quota = RollingQuota(self.settings.clock)
        self.webpush_registry = WebPushRegistry()
        self.webpush_inbox = WebPushInbox(self.settings.inbox_size)
        self._webpush_faults = RateInjector(WebPushFaults(), WEBPUSH_FAULTS)
        self._services: dict[_Service, DualListener] = {}
        self._control: ControlServer | None = None
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        self._state_dir: Path | None = None
        self._ca: SimulatorCA | None = None

    async def __aenter__(self) -> Simulator:
        try:
            await self.start()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        await self.aclose()

    async def start(self) -> None:
        """Load or create the CA, then open the APNs, FCM and Web Push listeners and the
        control API."""
        self._state_dir = await asyncio.to_thread(self._prepare_state_dir)  # key generation
        cert_file, key_file = (
            str(self._state_dir / "server.pem"),
            str(self._state_dir / "server.key"),
        )
        context = server_ssl_context(cert_file, key_file, client_ca_pem=self.ca.ca_cert_pem)
        ports: tuple[tuple[ApnsEnvironment, int], ...] = (
            ("production", self.settings.apns_production_port),
            ("sandbox", self.settings.apns_sandbox_port),
        )
        for environment, port in ports:
            await self._start_apns(environment, port, context)
        await self._start_services(dual_ssl_context(cert_file, key_file))
        app = build_control_app(self)
        self._control = ControlServer(app, self.settings.host, self.settings.control_port)
        await self._control.start()

    async def aclose(self) -> None:
        """Send GOAWAY on every connection, close the listeners, remove a temporary state dir."""
        for listener in self._listeners.values():
            await listener.aclose()
        self._listeners.clear()
        for service in self._services.values():
            await service.aclose()
        self._services.clear()
        if self._control is not None:
            await self._control.aclose()
            self._control = None
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None

    # where it listens -------------------------------------------------------------------------

    @property
    def ca(self) -> SimulatorCA:
        """The CA that signs the server certificate and the APNs client certificates."""
        if self._ca is None:
            raise RuntimeError("the simulator is not started")
        return self._ca

    @property
    def apns_production_port(self) -> int:
        return self._listeners["production"].port

    @property
    def apns_sandbox_port(self) -> int:
        return self._listeners["sandbox"].port

    @property
    def fcm_port(self) -> int:
        return self._service("fcm").port

    @property
    def fcm_base_url(self) -> str:
        """Where FCM HTTP v1 listens, e.g. ``https://127.0.0.1:8445`` (no trailing slash)."""
        return self._url(self.fcm_port)

    @property
    def fcm_token_url(self) -> str:
        """The OAuth token endpoint: the ``token_uri`` (and assertion ``aud``) to use."""
        return self.fcm_base_url + TOKEN_PATH

    @property
    def webpush_port(self) -> int:
        return self._service("webpush").port

    @property
    def webpush_base_url(self) -> str:
        """The Web Push service's origin; subscription endpoints are ``<this>/push/<id>``."""
        return self._url(self.webpush_port)

    @property
    def control_url(self) -> str:
        if self._control is None:
            raise RuntimeError("the simulator is not started")
        return self._control.url

    @property
    def ca_file(self) -> str:
        """Path of the CA certificate (PEM) that clients must trust."""
        if self._state_dir is None:
            raise RuntimeError("the simulator is not started")
        return str(self._state_dir / "ca.pem")

    def describe(self) -> list[str]:
        """Human-readable lines saying where the simulator listens."""
        host = self.settings.host
        return [
            f"APNs production  https://{host}:{self.apns_production_port}  (api.push.apple.com)",
            f"APNs sandbox     https://{host}:{self.apns_sandbox_port}  (api.sandbox.push.apple.com)",
            f"FCM HTTP v1      {self.fcm_base_url}  (fcm.googleapis.com; token URL "
            f"{self.fcm_token_url})",
            f"Web Push         {self.webpush_base_url}  (endpoints {self.webpush_base_url}/push/<id>)",
            f"control API      {self.control_url}",
            f"trust this CA    {self.ca_file}",
        ]

    # what it knows ----------------------------------------------------------------------------

    def register_key(
        self,
        key_id: str,
        team_id: str,
        public_key_pem: bytes | str,
        environment: KeyEnvironment = "both",
        topics: tuple[str, ...] | list[str] | None = None,
        *,
        bundle_ids: tuple[str, ...] | list[str] = (),
    ) -> ProviderKey:
        """Trust an ES256 public key for provider tokens (ValueError if it is not P-256).

        ``bundle_ids`` are the team's apps, which its team-scoped keys may push to; ``topics``
        makes a topic-specific key instead (see :meth:`ApnsRegistry.add_key`)."""
        return self.registry.add_key(
            key_id, team_id, public_key_pem, environment, topics, bundle_ids=bundle_ids
        )

    def register_device(self, token: str, topic: str, environment: ApnsEnvironment) -> None:
        """Bind a token to a topic and environment (enables DeviceTokenNotForTopic / env checks)."""
        self.registry.register_device(token, topic, environment)

    def mark_dead(self, token: str, timestamp_ms: int | None = None) -> int:
        """Answer 410 Unregistered for this token; return the timestamp (default: now, in ms)."""
        stamp = int(self.settings.clock() * 1000) if timestamp_ms is None else timestamp_ms
        self.registry.mark_dead(token, stamp)
        return stamp

    def issue_client_certificate(
        self, topic: str, environment: CertificateEnvironment = "universal", **options: Any
    ) -> tuple[bytes, bytes]:
        """(cert_pem, key_pem) of an APNs client certificate the listeners accept."""
        return self.ca.issue_apns_client_cert(topic=topic, environment=environment, **options)

    @property
    def faults(self) -> ApnsFaults:
        """The fault plan in force."""
        return self._faults.faults

    def set_faults(self, faults: ApnsFaults | None = None, **fields: Any) -> ApnsFaults:
        """Replace the fault plan (``ApnsFaults`` or its fields); unset fields get their defaults."""
        plan = faults if faults is not None else ApnsFaults.model_validate(fields)
        self._faults.replace(plan)
        for handler in self._handlers.values():
            handler.refresh_stream_limits()
        return plan

    def clear_faults(self) -> ApnsFaults:
        """Back to no faults."""
        return self.set_faults(ApnsFaults())

    def drop_apns_connections(self) -> int:
        """Abort every open APNs connection at once, as a network failure would; returns how
        many there were. Requests in flight on them stay unanswered."""
        connections = [c for listener in self._listeners.values() for c in listener.connections]
        for connection in connections:
            connection.abort()
        return len(connections)

    # FCM ----------------------------------------------------------------------------------------

    def register_service_account(
        self,
        client_email: str,
        project_id: str,
        public_key_pem: bytes | str,
        *,
        key_id: str | None = None,
        project_number: str | None = None,
    ) -> ServiceAccountRecord:
        """Trust an account's RSA key for the token endpoint (a private key PEM is accepted:
        only its public half is kept); ``project_number`` is the sender id, also accepted in send
        URLs. ValueError if the key is not RSA."""
        return self.fcm_registry.add_account(
            client_email, project_id, public_key_pem, key_id=key_id, project_number=project_number
        )

    def register_service_account_json(
        self, service_account: dict[str, Any] | str | bytes
    ) -> ServiceAccountRecord:
        """Trust the account of a service-account JSON file (only the public key is kept)."""
        return self.fcm_registry.add_account_json(service_account)

    def create_service_account(
        self, project_id: str, *, project_number: str | None = None
    ) -> dict[str, Any]:
        """A new service-account JSON (private key included, ``token_uri`` = :attr:`fcm_token_url`)
        that the simulator trusts; generating the RSA key takes a moment."""
        info = make_service_account(project_id, self.fcm_token_url)
        record = self.fcm_registry.add_account_json(info)
        record.project_number = project_number or record.project_number
        return info

    def register_fcm_token(self, token: str, project_id: str) -> None:
        """Bind a registration token to a project id (or number): sends to it from another
        project's account get 403 SENDER_ID_MISMATCH."""
        self.fcm_registry.register_token(token, project_id)

    def create_fcm_token(self, project_id: str) -> str:
        """A new realistic registration token, bound to ``project_id``."""
        token = new_registration_token()
        self.fcm_registry.register_token(token, project_id)
        return token

    def mark_fcm_unregistered(self, token: str) -> None:
        """Answer 404 UNREGISTERED for this registration token from now on."""
        self.fcm_registry.mark_unregistered(token)

    @property
    def fcm_faults(self) -> FcmFaults:
        """The FCM fault plan in force."""
        return self._fcm_faults.plan

    def set_fcm_faults(self, faults: FcmFaults | None = None, **fields: Any) -> FcmFaults:
        """Replace the FCM fault plan (``FcmFaults`` or its fields); also restarts the quota
        window."""
        plan = faults if faults is not None else FcmFaults.model_validate(fields)
        self._fcm_faults.replace(plan)
        self._fcm_quota.reset()
        return plan

    def clear_fcm_faults(self) -> FcmFaults:
        """Back to no FCM faults."""
        return self.set_fcm_faults(FcmFaults())

    # Web Push -----------------------------------------------------------------------------------

    def create_webpush_subscription(
        self,
        application_server_key: str | None = None,
        *,
        private_key: ec.EllipticCurvePrivateKey | None = None,
        auth_secret: bytes | None = None,
    ) -> dict[str, Any]:
        """Subscribe like a browser; return ``PushSubscription.toJSON()``: ``{"endpoint",
        "expirationTime": None, "keys": {"p256dh", "auth"}}``. With ``application_server_key``
        (base64url VAPID public key) only that key may push (ValueError if not P-256). A
        browser's own ``private_key``/``auth_secret`` may be given; else new ones are made."""
        subscription = self.webpush_registry.create(
            self.webpush_base_url,
            application_server_key,
            private_key=private_key,
            auth_secret=auth_secret,
        )
        return subscription.to_json()

    def expire_webpush_subscription(self, endpoint: str) -> None:
        """Answer 410 for this subscription (endpoint URL or id) from now on; KeyError if
        unknown."""
        self.webpush_registry.expire(endpoint)

    @property
    def webpush_faults(self) -> WebPushFaults:
        """The Web Push fault plan in force."""
        return self._webpush_faults.plan

    def set_webpush_faults(
        self, faults: WebPushFaults | None = None, **fields: Any
    ) -> WebPushFaults:
        """Replace the Web Push fault plan (``WebPushFaults`` or its fields)."""
        plan = faults if faults is not None else WebPushFaults.model_validate(fields)
        self._webpush_faults.replace(plan)
        return plan

    def clear_webpush_faults(self) -> WebPushFaults:
        """Back to no Web Push faults."""
        return self.set_webpush_faults(WebPushFaults())

    # internals --------------------------------------------------------------------------------

    def _prepare_state_dir(self) -> Path:
        """Use (or make) the state dir; make sure the server certificate names our hosts."""
        if self.settings.state_dir is not None:
            state_dir = Path(self.settings.state_dir).expanduser()
        else:
            self._tempdir = tempfile.TemporaryDirectory(prefix="pushgate-simulator-")
            state_dir = Path(self._tempdir.name)
        self._ca = SimulatorCA.load_or_create(state_dir)
        cert_pem, _ = self._ca.server_credentials(
            self.settings.server_hostnames, self.settings.server_ips
        )
        if (state_dir / "server.pem").read_bytes() != cert_pem:
            self._ca.save(state_dir)
        return state_dir

    async def _start_apns(
        self, environment: ApnsEnvironment, port: int, context: ssl.SSLContext
    ) -> None:
        handler = ApnsHandler(
            environment,
            registry=self.registry,
            faults=self._faults,
            inbox=self.inbox,
            settings=self.settings,
        )
        listener = H2Listener(
            handler, context, host=self.settings.host, port=port, shutdown_debug=GOAWAY_SHUTDOWN
        )
        await listener.start()
        self._handlers[environment] = handler
        self._listeners[environment] = listener

    async def _start_services(self, context: ssl.SSLContext) -> None:
        """Open the FCM and Web Push listeners (HTTP/2 and HTTP/1.1)."""
        fcm = FcmHandler(
            registry=self.fcm_registry,
            faults=self._fcm_faults,
            quota=self._fcm_quota,
            inbox=self.fcm_inbox,
            settings=self.settings,
            audiences=self._token_audiences,
        )
        webpush = WebPushHandler(
            registry=self.webpush_registry,
            faults=self._webpush_faults,
            inbox=self.webpush_inbox,
            settings=self.settings,
            base_url=lambda: self.webpush_base_url,
        )
        services = (
            ("fcm", fcm, self.settings.fcm_port),
            ("webpush", webpush, self.settings.webpush_port),
        )
        for name, handler, port in services:
            listener = DualListener(handler, context, host=self.settings.host, port=port)
            await listener.start()
            self._services[name] = listener

    def _service(self, name: _Service) -> DualListener:
        """The started listener of an FCM or Web Push service."""
        if name not in self._services:
            raise RuntimeError("the simulator is not started")
        return self._services[name]

    def _url(self, port: int) -> str:
        """``https://host:port`` for clients: a wildcard listen address becomes a server IP."""
        host = self.settings.host
        if host in _WILDCARDS:
            host = self.settings.server_ips[0] if self.settings.server_ips else "127.0.0.1"
        return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"

    def _token_audiences(self) -> frozenset[str]:
        """Every spelling of the token URL a client may have been given, plus the extras."""
        hosts = {self.settings.host, *self.settings.server_hostnames, *self.settings.server_ips}
        port = self.fcm_port
        named = {f"[{h}]" if ":" in h else h for h in hosts if h not in _WILDCARDS}
        urls = {f"https://{h}:{port}{TOKEN_PATH}" for h in named}
        return frozenset(
            {self.fcm_token_url, GOOGLE_TOKEN_URL, *urls, *self.settings.fcm.extra_token_audiences}
        )


def serve(settings: SimulatorSettings, *, out: Callable[[str], None] = print) -> None:
    """Run the simulator until SIGINT or SIGTERM, printing where it listens (for ``pushgate simulator``)."""
    asyncio.run(_serve(settings, out))


async def _serve(settings: SimulatorSettings, out: Callable[[str], None]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with Simulator(settings) as sim:
            for line in sim.describe():
                out(line)
            out("Press Ctrl+C to stop.")
            await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
