"""Run a Gateway under uvicorn (kept apart so CLI client commands start fast)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import ssl
from collections.abc import Iterator

import uvicorn

from pushgate.api.app import build_app
from pushgate.api.compat import listener_app
from pushgate.cli.common import errors
from pushgate.cli.startup import listening_socket, preflight
from pushgate.config import Settings
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


class GatewayServer(uvicorn.Server):
    """uvicorn serving the gateway's API on a socket bound (and checked) before start-up."""

    def __init__(self, settings: Settings) -> None:
        preflight(settings)
        self.socket = listening_socket(settings.server.host, settings.server.port)
        self.settings = settings
        self.gateway = Gateway(settings)
        self.up = asyncio.Event()
        """Set once the gateway has started (store open, dispatcher running)."""

        def when_started(gateway: Gateway) -> None:
            on_started(gateway)
            self.up.set()

        super().__init__(
            uvicorn.Config(
                build_app(self.gateway, on_started=when_started),
                log_level=settings.log_level,
                access_log=False,
                lifespan="on",
                log_config=None,
                ssl_certfile=settings.server.tls_cert_file,
                ssl_keyfile=settings.server.tls_key_file,
            )
        )

    @property
    def port(self) -> int:
        """The port listened on (the real one when 0 was asked for)."""
        return int(self.socket.getsockname()[1])


class _FollowerServer(uvicorn.Server):
    """A server that leaves signals to the main one: it stops when the main one stops."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def door_listeners(settings: Settings, gateway: Gateway) -> list[uvicorn.Server]:
    """A uvicorn server per Mattermost door that has a listener of its own."""
    servers = []
    for door in settings.mattermost:
        if door.listener is None:
            continue
        listener = door.listener
        config = uvicorn.Config(
            listener_app(gateway, door),
            host=listener.host,
            port=listener.port,
            ssl_certfile=listener.tls_cert_file,
            ssl_keyfile=listener.tls_key_file,
            log_level=settings.log_level,
            access_log=False,
            lifespan="off",
            log_config=None,
        )
        servers.append(_FollowerServer(config))
    return servers


async def serve_all(server: GatewayServer) -> None:
    """The API, then the doors' own listeners once the gateway is up; all stop together.
    SIGHUP reads every listener's certificate and key again."""
    main_task = asyncio.create_task(server.serve(sockets=[server.socket]))
    up = asyncio.create_task(server.up.wait())
    await asyncio.wait({main_task, up}, return_when=asyncio.FIRST_COMPLETED)
    up.cancel()
    doors = door_listeners(server.settings, server.gateway) if server.up.is_set() else []
    door_tasks = [asyncio.create_task(door.serve()) for door in doors]
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, reload_certificates, [server, *doors])
    try:
        await main_task
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
        for door in doors:
            door.should_exit = True
        await asyncio.gather(*door_tasks, return_exceptions=True)


def reload_certificates(servers: list[uvicorn.Server]) -> None:
    """Load each TLS listener's certificate and key files again into its live context: new
    connections get the new certificate, open ones keep theirs. A pair that does not load
    is logged and the listener keeps the one it has."""
    for server in servers:
        config = server.config
        if config.ssl is None or config.ssl_certfile is None:
            continue
        cert, key = str(config.ssl_certfile), str(config.ssl_keyfile)
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key)  # check first
        except (ssl.SSLError, OSError) as exc:
            events.error("tls_reload_failed", certificate=cert, error=type(exc).__name__)
            continue
        config.ssl.load_cert_chain(cert, key)
        events.info("tls_reloaded", certificate=cert)


async def serve_gateway(settings: Settings) -> None:
    """Serve ``settings``' gateway (and its doors' listeners) until interrupted."""
    await serve_all(GatewayServer(settings))
