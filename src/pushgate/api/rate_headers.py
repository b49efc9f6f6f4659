"""Pure ASGI middleware: ``X-RateLimit-*`` headers on every answer to a rate-limited key.

The auth dependency counts the request and leaves its quota in the ASGI scope; the headers
are added here, at the start of the response, so they reach every answer (a 204 built by an
endpoint and a 429 built by an error handler alike).
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pushgate.api.auth import RATE_LIMIT_SCOPE


class RateLimitHeaders:
    """Add the quota's headers to the answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            quota = scope.get(RATE_LIMIT_SCOPE)
            if message["type"] == "http.response.start" and quota is not None:
                headers = MutableHeaders(scope=message)
                for name, value in quota.headers().items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
