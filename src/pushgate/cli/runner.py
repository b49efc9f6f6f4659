"""Run a Gateway under uvicorn (kept apart so CLI client commands start fast)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import ssl
from collections.abc import Iterator
from typing import Literal

import uvicorn
from starlette.types import ASGIApp

from pushgate.api.app import build_app
from pushgate.api.compat import listener_app
from pushgate.api.connections import (
    ConnectionGuard,
    ServerTls,
    accept_errors_logged_per_interval,
    default_max_connections,
    guarded,
)
from pushgate.cli.common import errors
from pushgate.cli.startup import listening_socket, preflight
from pushgate.config import Settings, TlsPair
from pushgate.gateway import Gateway
from pushgate.logs import get_logger
from pushgate.tuning import tune_garbage_collector

events = get_logger("pushgate.serve")


def announce_admin_key(gateway: Gateway) -> None:
    """Print a freshly generated admin key once (it is stored only as a hash)."""
    if gateway.generated_admin_key:
        errors.print(
            "Generated the admin API key (shown once, store it now; lost keys: "
            "pushgate admin reset-key):\n  "
            f"{gateway.generated_admin_key}",
            highlight=False,
            soft_wrap=True,
        )


def on_started(gateway: Gateway) -> None:
    """Once the gateway is up: show a new admin key, tune the collector for the send path."""
    announce_admin_key(gateway)
    tune_garbage_collector()


class ListenerServer(uvicorn.Server):
    """uvicorn on a socket bound (and checked) before start-up, speaking TLS when the listener
    has a certificate, its connections counted and timed by a :class:`ConnectionGuard`."""

    def __init__(
        self,
        sock: socket.socket,
        app: ASGIApp,
        settings: Settings,
        *,
        listener: str,
        tls: TlsPair,
        listeners: int,
        lifespan: Literal["on", "off"],
    ) -> None:
        self.socket = sock
        limits = settings.limits
        files = None
        if tls.tls_cert_file is not None and tls.tls_key_file is not None:
            files = ServerTls(tls.tls_cert_file, tls.tls_key_file)
        self.guard = ConnectionGuard(
            listener,
            max_connections=limits.max_connections or default_max_connections(listeners),
            header_timeout=limits.header_timeout,
            body_timeout=limits.body_timeout,
            tls=files,
        )
        super().__init__(
            uvicorn.Config(
                app,
                http=guarded(self.guard),
                ws="none",
                timeout_keep_alive=limits.idle_timeout,
                log_level=settings.log_level,
                access_log=False,
                lifespan=lifespan,
                log_config=None,
            )
        )

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        await super().serve(sockets or [self.socket])

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await super().shutdown(sockets)
        self.guard.close_all()

    @property
    def port(self) -> int:
        """The port listened on (the real one when 0 was asked for)."""
        return int(self.socket.getsockname()[1])


def listener_count(settings: Settings) -> int:
    """The API's listener and each Mattermost door's own: they share the descriptors."""
    return 1 + sum(door.listener is not None for door in settings.mattermost)


class GatewayServer(ListenerServer):
    """The gateway's API; its lifespan starts and stops the gateway."""

    def __init__(self, settings: Settings) -> None:
        preflight(settings)
        sock = listening_socket(settings.server.host, settings.server.port)
        self.settings = settings
        self.gateway = Gateway(settings)
        self.up = asyncio.Event()
        """Set once the gateway has started (store open, dispatcher running)."""

        def when_started(gateway: Gateway) -> None:
            on_started(gateway)
            self.up.set()

        super().__init__(
            sock,
            build_app(self.gateway, on_started=when_started),
            settings,
            listener="api",
            tls=settings.server,
            listeners=listener_count(settings),
            lifespan="on",
        )
        self.doors = door_listeners(settings, self.gateway)
        """The doors' own listeners, bound now so a busy port stops the start at once."""


class _FollowerServer(ListenerServer):
    """A server that leaves signals to the main one: it stops when the main one stops."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def door_listeners(settings: Settings, gateway: Gateway) -> list[ListenerServer]:
    """A server per Mattermost door that has a listener of its own."""
    servers: list[ListenerServer] = []
    for door in settings.mattermost:
        if door.listener is None:
            continue
        listener = door.listener
        what = f"the Mattermost door of app {door.app}"
        sock = listening_socket(listener.host, listener.port, what)
        servers.append(
            _FollowerServer(
                sock,
                listener_app(gateway, door),
                settings,
                listener=f"mattermost:{door.app}",
                tls=listener,
                listeners=listener_count(settings),
                lifespan="off",
            )
        )
    return servers


async def serve_all(server: GatewayServer) -> None:
    """The API, then the doors' own listeners once the gateway is up; all stop together.
    SIGHUP reads every listener's certificate and key again."""
    loop = asyncio.get_running_loop()
    accept_errors_logged_per_interval(loop)
    main_task = asyncio.create_task(server.serve())
    up = asyncio.create_task(server.up.wait())
    await asyncio.wait({main_task, up}, return_when=asyncio.FIRST_COMPLETED)
    up.cancel()
    doors = server.doors if server.up.is_set() else []
    door_tasks = [asyncio.create_task(door.serve()) for door in doors]
    loop.add_signal_handler(signal.SIGHUP, reload_certificates, [server, *doors])
    try:
        await main_task
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
        for door in doors:
            door.should_exit = True
        await asyncio.gather(*door_tasks, return_exceptions=True)


def reload_certificates(servers: list[ListenerServer]) -> None:
    """Load each TLS listener's certificate and key files again into its live context: new
    connections get the new certificate, open ones keep theirs. A pair that does not load
    is logged and the listener keeps the one it has."""
    for server in servers:
        tls = server.guard.tls
        if tls is None:
            continue
        cert, key = tls.cert_file, tls.key_file
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key)  # check first
        except (ssl.SSLError, OSError) as exc:
            events.error("tls_reload_failed", certificate=cert, error=type(exc).__name__)
            continue
        tls.context.load_cert_chain(cert, key)
        events.info("tls_reloaded", certificate=cert)


async def serve_gateway(settings: Settings) -> None:
    """Serve ``settings``' gateway (and its doors' listeners) until interrupted."""
    await serve_all(GatewayServer(settings))
