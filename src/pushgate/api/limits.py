"""Pure ASGI middleware bounding the memory request bodies take: per request and all together.

The body is read in full here, before the endpoint sees it, so a body over the limit is a 413
whether it declared its length or came chunked (read inside FastAPI, the same overrun became
a 400 "error parsing the body"). Bodies being read share one byte budget: a request that
would take it over is answered 429 with ``Retry-After`` (32 concurrent 16 MB uploads once took
the process to 782 MB). The endpoint then receives the body as one message.
"""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pushgate.api.errors import too_many_requests
from pushgate.config import LimitsSettings

BUSY_RETRY_AFTER = 1.0
"""Seconds a client is asked to wait when the body budget is used up (bodies are read in
well under a second on a healthy gateway)."""


class BodyBudget:
    """Bytes of request bodies held in memory, against a bound shared by all requests."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, size: int) -> bool:
        """Reserve ``size`` more bytes, or say no (nothing reserved) if they do not fit."""
        if self.used + size > self.limit:
            return False
        self.used += size
        return True

    def give_back(self, size: int) -> None:
        self.used -= size


class BodyLimits:
    """Read every request body in full under the per-request and the shared limit."""

    def __init__(self, app: ASGIApp, *, limits: LimitsSettings | None = None) -> None:
        self.app = app
        limits = limits or LimitsSettings()
        self.max_bytes = limits.max_body_bytes
        self.budget = BodyBudget(limits.body_memory_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        chunks: list[bytes] = []
        held = 0
        try:
            while True:
                message = await receive()
                if message["type"] != "http.request":  # the client went away
                    return
                chunk = message.get("body", b"")
                if held + len(chunk) > self.max_bytes:
                    await self._refuse(send)
                    return
                if not self.budget.take(len(chunk)):
                    await self._busy(scope, receive, send)
                    return
                held += len(chunk)
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
            body = b"".join(chunks)
            chunks.clear()
            await self.app(scope, _replay(body, receive), send)
        finally:
            self.budget.give_back(held)

    async def _busy(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = too_many_requests(
            "server_busy",
            "The gateway is reading as many request bodies as it holds in memory at once; "
            "send again after Retry-After seconds.",
            BUSY_RETRY_AFTER,
        )
        await response(scope, receive, send)

    async def _refuse(self, send: Send) -> None:
        body = orjson.dumps(
            {
                "error": {
                    "code": "request_too_large",
                    "message": f"The request body exceeds {self.max_bytes} bytes; send less per request.",
                }
            }
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives ``body`` as one message, then waits on the client."""
    given = False

    async def replayed() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
