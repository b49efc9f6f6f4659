"""Build the ASGI application around a Gateway: routes, error handlers, limits, lifespan.

The interactive docs (``/docs`` Swagger UI, ``/redoc``) load their scripts and styles from
the ``fastapi-offline`` package, served by the gateway itself: they work without a network
and never call a CDN.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from pushgate import __version__
from pushgate.api import (
    apps,
    audit,
    chat_messages,
    chat_state,
    compat,
    credentials,
    devices,
    feedback,
    health,
    keys,
    notifications,
)
from pushgate.api.access_log import AccessLog
from pushgate.api.errors import error_responses, install_error_handlers
from pushgate.api.hot_routes import HotRoutes
from pushgate.api.json_body import StrictJsonBody
from pushgate.api.limits import BodyLimits
from pushgate.api.operator_access import OperatorAccess
from pushgate.api.rate_headers import RateLimitHeaders
from pushgate.console.views import install_console
from pushgate.gateway import Gateway

DOCS_ASSETS = "/docs-assets"
"""Where the Swagger UI and ReDoc files are served from."""

AUTHENTICATED_ERRORS = error_responses(401, 403, 408, 413, 422, 429)
"""Error answers every endpoint behind an API key may give."""


def build_app(gateway: Gateway, *, on_started: Callable[[Gateway], None] | None = None) -> FastAPI:
    """The HTTP API of ``gateway``; the lifespan starts and stops it."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await gateway.start()
        rates.start()
        if on_started is not None:
            on_started(gateway)
        try:
            yield
        finally:
            await rates.stop()
            await compat.aclose(app)
            await gateway.stop()

    app = FastAPIOffline(
        title="pushgate",
        version=__version__,
        description=(
            "Push notification gateway for chat apps: APNs, FCM and Web Push. Authenticate "
            "with `Authorization: Bearer <key>` (the Authorize button). Every error is "
            '`{"error": {"code", "message", "details"?}}`; refused input is always 422.'
        ),
        lifespan=lifespan,
        static_url=DOCS_ASSETS,
        swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": True},
        # pushgate reports through /metrics and its logs. FastAPI's native OpenTelemetry
        # support looks up three global providers on every request to see whether it is
        # configured: 2.6 % of the event loop at Matrix load, for nothing here.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.gateway = gateway
    install_error_handlers(app)
    # The front doors first: routes are matched in order, and a door's sender posts one small
    # request per push (their paths and ours are disjoint, so the order changes no match).
    # Their per-push endpoints are served ahead of the stack, by HotRoutes.
    # So is the chat post (one request per message).
    hot_routes = [*compat.install(app, gateway.settings), *chat_messages.HOT_ROUTES]
    # Then the send endpoints, for the same reason: each included router before the one that
    # matches has all its routes tried, twice per request (a fifth of a chat post's CPU).
    for module in (notifications, chat_messages):
        app.include_router(module.router, responses=AUTHENTICATED_ERRORS)
    app.include_router(health.router)
    for module in (apps, audit, keys, credentials, devices, feedback, chat_state):
        app.include_router(module.router, responses=AUTHENTICATED_ERRORS)
    rates = install_console(app, gateway)
    limits = gateway.settings.limits
    app.add_middleware(StrictJsonBody, limits=limits)
    app.add_middleware(HotRoutes, routes=hot_routes)
    app.add_middleware(BodyLimits, limits=limits)
    app.add_middleware(RateLimitHeaders)
    app.add_middleware(OperatorAccess, settings=gateway.settings.server)
    if gateway.settings.access_log:
        app.add_middleware(AccessLog)
    return app
