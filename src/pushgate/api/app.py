"""Build the ASGI application around a Gateway: routes, error handlers, limits, lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from pushgate import __version__
from pushgate.api import apps, compat, credentials, devices, health, notifications
from pushgate.api.errors import install_error_handlers
from pushgate.api.limits import BodySizeLimit
from pushgate.gateway import Gateway


def build_app(gateway: Gateway, *, on_started: Callable[[Gateway], None] | None = None) -> FastAPI:
    """The HTTP API of ``gateway``; the lifespan starts and stops it."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await gateway.start()
        if on_started is not None:
            on_started(gateway)
        try:
            yield
        finally:
            await gateway.stop()

    app = FastAPI(
        title="pushgate",
        version=__version__,
        description="Push notification gateway for chat apps: APNs, FCM and Web Push.",
        lifespan=lifespan,
    )
    app.state.gateway = gateway
    install_error_handlers(app)
    for module in (health, apps, credentials, devices, notifications):
        app.include_router(module.router)
    compat.install(app, gateway.settings)
    app.add_middleware(BodySizeLimit)
    return app
