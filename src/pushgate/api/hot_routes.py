"""Pure ASGI middleware serving the front doors' per-push endpoints without FastAPI's routing.

Synapse and the Mattermost server post one small request per push, so per-request framework
work is most of what such a request costs: FastAPI's routing, dependency solving, request and
response objects took about a third of the API process's time on Matrix notifies. These
endpoints read a body and answer bytes, so they are served here, inside ``BodyLimits`` (the
body arrives whole, within the shared budget) and outside the rest of the stack. Any other
method on their paths is answered 405 as the router answered it; a handler that finds no door
for the request (an unknown URL secret) leaves it to the application, which answers 404.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from pushgate.api.errors import error_response


@dataclass(frozen=True, slots=True)
class Answer:
    """A complete HTTP answer."""

    status: int
    body: bytes
    content_type: bytes = b"application/json"
    headers: tuple[tuple[bytes, bytes], ...] = ()

    async def send(self, send: Send) -> None:
        headers = [
            (b"content-type", self.content_type),
            (b"content-length", str(len(self.body)).encode()),
            *self.headers,
        ]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})


Handler = Callable[[Scope, bytes], Awaitable[Answer | None]]
"""Answers a POST from its scope (``path_params`` set) and body; None: not ours after all."""


@dataclass(frozen=True, slots=True)
class HotRoute:
    """A POST endpoint; ``path`` may hold one ``{name}`` segment (taken as ``path_params``)."""

    path: str
    handler: Handler

    def match(self, path: str) -> dict[str, str] | None:
        """The path parameters if ``path`` is this route's, else None."""
        head, brace, rest = self.path.partition("{")
        if not brace:
            return {} if path == self.path else None
        name, _, tail = rest.partition("}")
        if len(path) <= len(head) + len(tail) or not path.startswith(head):
            return None
        if not path.endswith(tail):
            return None
        value = path[len(head) : len(path) - len(tail)]
        return None if "/" in value else {name: value}


class HotRoutes:
    """Serve ``routes`` directly; everything else goes to ``app``."""

    def __init__(self, app: ASGIApp, *, routes: Sequence[HotRoute]) -> None:
        self.app = app
        self.routes = tuple(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for route in self.routes:
                params = route.match(scope["path"])
                if params is not None:
                    await self._serve(route, params, scope, receive, send)
                    return
        await self.app(scope, receive, send)

    async def _serve(
        self, route: HotRoute, params: dict[str, str], scope: Scope, receive: Receive, send: Send
    ) -> None:
        scope["route"] = route  # the access log names the route template
        if scope["method"] != "POST":
            response = error_response(405, "method_not_allowed", "Method Not Allowed")
            response.headers["allow"] = "POST"
            await response(scope, receive, send)
            return
        message = await receive()  # BodyLimits gives the whole body in one message
        if message["type"] != "http.request":
            return  # the client went away
        answer = await route.handler({**scope, "path_params": params}, message.get("body", b""))
        if answer is None:
            del scope["route"]
            await self.app(scope, _replayed(message, receive), send)
            return
        await answer.send(send)


def _replayed(first: dict[str, object], receive: Receive) -> Receive:
    """A ``receive`` that gives ``first`` again, then waits on the client."""
    given = False

    async def replayed() -> dict[str, object]:
        nonlocal given
        if not given:
            given = True
            return first
        return await receive()

    return replayed  # type: ignore[return-value]
