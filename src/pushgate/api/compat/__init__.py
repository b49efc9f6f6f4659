"""Front doors that speak other push services' APIs, so their senders switch by changing a URL.

Each door parses its peer's requests into pushes for raw device tokens, feeds them to the same
outbox and dispatcher as pushgate's own API, and maps pushgate's outcomes back to the answers
the peer's senders act on. A door is served only when its configuration section is present.
"""

from __future__ import annotations

from fastapi import FastAPI

from pushgate.api.compat import gorush, matrix, mattermost
from pushgate.api.compat._deliver import AppNames
from pushgate.config import Settings


def install(app: FastAPI, settings: Settings) -> None:
    """Add the routes of every configured door."""
    app.state.app_names = AppNames()
    if settings.mattermost:
        app.include_router(mattermost.secret_router)
        if any(door.main_listener for door in settings.mattermost):
            app.include_router(mattermost.main_router)
    if settings.matrix is not None:
        app.state.matrix_recent = matrix.RecentEvents()
        app.include_router(matrix.router)
    if settings.gorush is not None:
        app.state.gorush_stats = gorush.Stats()
        app.include_router(gorush.router_for(settings.gorush))
