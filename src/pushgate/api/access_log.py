"""The opt-in access log (``access_log = true``): one ``http_request`` event per API request.

It names the route template (``/v1/devices/{token}``), never the path itself, whose segments
may be device tokens, and nothing of the query or the body.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pushgate.logs import get_logger

events = get_logger("pushgate.api")


def route_template(scope: Scope) -> str:
    """The matched route's template, or ``(unmatched)``."""
    return str(getattr(scope.get("route"), "path", "(unmatched)"))


class AccessLog:
    """Pure ASGI middleware: method, route template, status and duration of each request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            events.info(
                "http_request",
                method=scope["method"],
                route=route_template(scope),
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )
