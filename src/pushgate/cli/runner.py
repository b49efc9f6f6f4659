"""Run a Gateway under uvicorn (kept apart so CLI client commands start fast)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import uvicorn

from pushgate.api.app import build_app
from pushgate.api.compat import listener_app
from pushgate.cli.common import errors
from pushgate.config import Settings
from pushgate.gateway import Gateway
from pushgate.tuning import tune_garbage_collector


def announce_admin_key(gateway: Gateway) -> None:
    """Print a freshly generated admin key once (it is stored only as a hash)."""
    if gateway.generated_admin_key:
        errors.print(
            "Generated the admin API key (shown once, store it now):\n  "
            f"{gateway.generated_admin_key}",
            highlight=False,
            soft_wrap=True,
        )


def on_started(gateway: Gateway) -> None:
    """Once the gateway is up: show a new admin key, tune the collector for the send path."""
    announce_admin_key(gateway)
    tune_garbage_collector()


def uvicorn_server(
    settings: Settings, gateway: Gateway, started: asyncio.Event | None = None
) -> uvicorn.Server:
    """A uvicorn server for the gateway's API; ``started`` is set once the gateway is up."""

    def when_started(gateway: Gateway) -> None:
        on_started(gateway)
        if started is not None:
            started.set()

    app = build_app(gateway, on_started=when_started)
    config = uvicorn.Config(
        app,
        host=settings.server.host,
        port=settings.server.port,
        log_level=settings.log_level,
        access_log=False,
        lifespan="on",
    )
    return uvicorn.Server(config)


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
        )
        servers.append(_FollowerServer(config))
    return servers


async def serve_all(settings: Settings, gateway: Gateway) -> None:
    """The API, then the doors' own listeners once the gateway is up; all stop together."""
    started = asyncio.Event()
    main_task = asyncio.create_task(uvicorn_server(settings, gateway, started).serve())
    up = asyncio.create_task(started.wait())
    await asyncio.wait({main_task, up}, return_when=asyncio.FIRST_COMPLETED)
    up.cancel()
    doors = door_listeners(settings, gateway) if started.is_set() else []
    door_tasks = [asyncio.create_task(server.serve()) for server in doors]
    try:
        await main_task
    finally:
        for server in doors:
            server.should_exit = True
        await asyncio.gather(*door_tasks, return_exceptions=True)
