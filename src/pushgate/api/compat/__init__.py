"""Front doors that speak other push services' APIs, so their senders switch by changing a URL.

Each door parses its peer's requests into pushes for raw device tokens, feeds them to the same
outbox and dispatcher as pushgate's own API, and maps pushgate's outcomes back to the answers
the peer's senders act on. A door is served only when its configuration section is present.
"""

from __future__ import annotations

from fastapi import FastAPI

from pushgate.api.compat import gorush, gorush_feedback, gorush_stats, matrix, mattermost
from pushgate.api.compat._deliver import AppNames
from pushgate.api.hot_routes import HotRoute, HotRoutes
from pushgate.api.limits import BodyLimits
from pushgate.config import MattermostDoor, Settings
from pushgate.gateway import Gateway


def install(app: FastAPI, settings: Settings) -> list[HotRoute]:
    """Add the routes of every configured door; the per-push endpoints are returned, to be
    served by ``HotRoutes``."""
    app.state.app_names = AppNames()
    hot: list[HotRoute] = []
    if settings.mattermost:
        app.include_router(mattermost.router(mattermost.door_by_secret, mattermost.SECRET_PREFIX))
        hot.append(mattermost.send_push_route(mattermost.door_by_secret, mattermost.SECRET_PREFIX))
        if any(door.main_listener for door in settings.mattermost):
            app.include_router(mattermost.router(mattermost.door_on_main))
            hot.append(mattermost.send_push_route(mattermost.door_on_main))
    if settings.matrix is not None:
        hot.extend(matrix.ROUTES)
    if settings.gorush is not None:
        app.state.gorush_stats = gorush_stats.Stats()
        app.state.gorush_sys_stats = gorush_stats.SysStats()
        app.state.gorush_feedback = gorush_feedback.Feedback()
        app.include_router(gorush.router_for(settings.gorush))
    return hot


async def aclose(app: FastAPI) -> None:
    """Stop the doors' background work (before the gateway stops)."""
    feedback: gorush_feedback.Feedback | None = getattr(app.state, "gorush_feedback", None)
    if feedback is not None:
        await feedback.aclose()


def listener_app(gateway: Gateway, door: MattermostDoor) -> FastAPI:
    """The application of a Mattermost door's own listener: the proxy's routes at the root.

    The gateway is started and stopped by the main application.
    """
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.state.gateway = gateway
    app.state.app_names = AppNames()
    app.include_router(mattermost.router(mattermost.door_fixed(door)))
    app.add_middleware(HotRoutes, routes=[mattermost.send_push_route(mattermost.door_fixed(door))])
    app.add_middleware(BodyLimits, limits=gateway.settings.limits)
    return app
