"""The simulator as one object: APNs production and sandbox listeners, inbox and control API."""

from __future__ import annotations

import asyncio
import signal
import ssl
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from pushgate.simulator.apns import GOAWAY_SHUTDOWN, ApnsHandler
from pushgate.simulator.apns_state import ApnsRegistry, KeyEnvironment, ProviderKey
from pushgate.simulator.certs import CertificateEnvironment, SimulatorCA
from pushgate.simulator.control import ControlServer, build_control_app
from pushgate.simulator.faults import ApnsFaults, FaultInjector
from pushgate.simulator.inbox import Inbox
from pushgate.simulator.server import H2Listener, server_ssl_context
from pushgate.simulator.settings import ApnsEnvironment, SimulatorSettings


class Simulator:
    """A local APNs-compatible service; use ``async with Simulator(settings) as sim:``."""

    def __init__(self, settings: SimulatorSettings | None = None) -> None:
        self.settings = settings or SimulatorSettings()
        self.registry = ApnsRegistry()
        self.inbox = Inbox(self.settings.inbox_size)
        self._faults = FaultInjector()
        self._handlers: dict[ApnsEnvironment, ApnsHandler] = {}
        self._listeners: dict[ApnsEnvironment, H2Listener] = {}
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
        """Load or create the CA, then open both APNs listeners and the control API."""
        self._state_dir = await asyncio.to_thread(self._prepare_state_dir)  # key generation
        context = server_ssl_context(
            str(self._state_dir / "server.pem"),
            str(self._state_dir / "server.key"),
            client_ca_pem=self.ca.ca_cert_pem,
        )
        ports: tuple[tuple[ApnsEnvironment, int], ...] = (
            ("production", self.settings.apns_production_port),
            ("sandbox", self.settings.apns_sandbox_port),
        )
        for environment, port in ports:
            await self._start_apns(environment, port, context)
        app = build_control_app(self)
        self._control = ControlServer(app, self.settings.host, self.settings.control_port)
        await self._control.start()

    async def aclose(self) -> None:
        """Send GOAWAY on every connection, close the listeners, remove a temporary state dir."""
        for listener in self._listeners.values():
            await listener.aclose()
        self._listeners.clear()
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
    ) -> ProviderKey:
        """Trust an ES256 public key for provider tokens (ValueError if it is not P-256)."""
        return self.registry.add_key(key_id, team_id, public_key_pem, environment, topics)

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
