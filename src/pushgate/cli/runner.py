"""Run a Gateway under uvicorn (kept apart so CLI client commands start fast)."""

from __future__ import annotations

import uvicorn

from pushgate.api.app import build_app
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


def uvicorn_server(settings: Settings, gateway: Gateway) -> uvicorn.Server:
    """A uvicorn server for the gateway's API."""
    app = build_app(gateway, on_started=on_started)
    config = uvicorn.Config(
        app,
        host=settings.server.host,
        port=settings.server.port,
        log_level=settings.log_level,
        access_log=False,
        lifespan="on",
    )
    return uvicorn.Server(config)
