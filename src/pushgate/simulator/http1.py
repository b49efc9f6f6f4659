"""One TLS port speaking HTTP/2 and HTTP/1.1, for handlers that keep no per-connection state.

The FCM and Web Push simulators answer each request on its own, so their handlers implement
just :meth:`StatelessHandler.respond`. A :class:`DualListener` offers ALPN ``h2`` and
``http/1.1``: ``h2`` connections go to the generic :class:`~pushgate.simulator.server.
H2ServerConnection`; ``http/1.1`` (or no ALPN) to :class:`H1ServerConnection`, a small h11 server
with keep-alive and pipelining (answered in order).
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import logging
import ssl
from collections.abc import Callable

import h11

from pushgate.simulator.counters import ClientCounters
from pushgate.simulator.server import (
    MAX_BODY,
    MAX_HEADER_LIST_SIZE,
    H2ServerConnection,
    Request,
    Response,
    server_ssl_context,
)

log = logging.getLogger(__name__)


class StatelessHandler:
    """Base for handlers whose answers depend on the request only (no connection state);
    connections and requests, HTTP/2 and HTTP/1.1 alike, are counted in ``counters``."""

    counters: ClientCounters

    def connection_made(self, conn: object) -> None:
        self.counters.connection_opened()

    def connection_lost(self, conn: object) -> None:
        self.counters.connection_closed()

    def handle(self, conn: H2ServerConnection, request: Request) -> Response:
        """HTTP/2 entry point: the same answer as over HTTP/1.1."""
        return self.answer(request)

    def answer(self, request: Request) -> Response:
        """Count the request and answer it (both protocols come here)."""
        self.counters.request()
        return self.respond(request)

    def respond(self, request: Request) -> Response:
        """Answer one request."""
        raise NotImplementedError


def dual_ssl_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    """A server context like :func:`server_ssl_context`, offering ALPN h2 and http/1.1."""
    context = server_ssl_context(cert_file, key_file)
    context.set_alpn_protocols(["h2", "http/1.1"])
    return context


class H1ServerConnection(asyncio.Protocol):
    """One HTTP/1.1 connection: parse with h11, answer each request in turn, keep alive."""

    def __init__(self, handler: StatelessHandler, registry: set[H1ServerConnection]) -> None:
        self._handler = handler
        self._registry = registry
        self._transport: asyncio.Transport | None = None
        self._h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_LIST_SIZE)
        self._request: h11.Request | None = None
        self._body = bytearray()
        self._waiting: asyncio.TimerHandle | None = None
        self._count = 0
        self.closed = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._registry.add(self)
        self._handler.connection_made(self)

    def data_received(self, data: bytes) -> None:
        self._h11.receive_data(data)
        self._advance()

    def eof_received(self) -> bool | None:
        self._h11.receive_data(b"")
        self._advance()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._waiting is not None:
            self._waiting.cancel()
        self._registry.discard(self)
        self._handler.connection_lost(self)
        self.closed.set()

    def close(self) -> None:
        """Close the connection (a delayed answer still pending is dropped)."""
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()

    def _advance(self) -> None:
        """Process events until more data is needed or an answer is being held back."""
        while self._waiting is None and self._transport and not self._transport.is_closing():
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError:
                self._reject_garbage()
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                self._request, self._body = event, bytearray()
            elif isinstance(event, h11.Data):
                if len(self._body) <= MAX_BODY:
                    self._body += event.data
            elif isinstance(event, h11.EndOfMessage):
                self._dispatch()
            elif isinstance(event, h11.ConnectionClosed):
                self.close()

    def _dispatch(self) -> None:
        assert self._request is not None
        self._count += 1
        request = _to_request(self._request, bytes(self._body), self._count)
        try:
            response = self._handler.answer(request)
        except Exception:
            log.exception("request handler failed on an HTTP/1.1 request")
            response = Response(500)
        if response.delay > 0:
            loop = asyncio.get_running_loop()
            self._waiting = loop.call_later(response.delay, self._answer_later, response)
        else:
            self._answer(response)

    def _answer_later(self, response: Response) -> None:
        self._waiting = None
        self._answer(response)
        self._advance()

    def _answer(self, response: Response) -> None:
        assert self._transport is not None
        if self._transport.is_closing():
            return
        self._send(response)
        if self._h11.our_state is h11.MUST_CLOSE:
            self.close()
        else:
            self._h11.start_next_cycle()

    def _send(self, response: Response) -> None:
        assert self._transport is not None
        headers = [*response.headers, ("content-length", str(len(response.body)))]
        reason = http.HTTPStatus(response.status).phrase
        events: list[h11.Response | h11.Data | h11.EndOfMessage] = [
            h11.Response(status_code=response.status, headers=headers, reason=reason)
        ]
        if response.body:
            events.append(h11.Data(data=response.body))
        events.append(h11.EndOfMessage())
        for event in events:
            data = self._h11.send(event)
            if data:
                self._transport.write(data)

    def _reject_garbage(self) -> None:
        """Answer 400 to an unparsable request when the protocol state still allows it; close."""
        if self._h11.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            with contextlib.suppress(h11.LocalProtocolError):
                self._send(Response(400, (("connection", "close"),)))
        self.close()


def _to_request(event: h11.Request, body: bytes, number: int) -> Request:
    """The protocol-neutral request (``authority`` from the Host header)."""
    headers = tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in event.headers)
    host = next((v for k, v in headers if k == "host"), "")
    return Request(
        number,
        event.method.decode("ascii", "replace"),
        event.target.decode("latin-1"),
        host,
        headers,
        body,
    )


class _Negotiated(asyncio.Protocol):
    """Picks HTTP/2 or HTTP/1.1 once TLS is up (ALPN is known), then forwards everything."""

    def __init__(self, make: Callable[[str | None], asyncio.Protocol | None]) -> None:
        self._make = make
        self._inner: asyncio.Protocol | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        ssl_object = transport.get_extra_info("ssl_object")
        alpn = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
        self._inner = self._make(alpn)
        if self._inner is None:
            transport.abort()
            return
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._inner is not None:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._inner is not None:
            self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()


class DualListener:
    """One TCP port serving HTTP/2 and HTTP/1.1 over TLS with one stateless handler."""

    def __init__(
        self,
        handler: StatelessHandler,
        ssl_context: ssl.SSLContext,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._handler = handler
        self._ssl = ssl_context
        self._host = host
        self._port = port
        self._server: asyncio.Server | None = None
        self._h2: set[H2ServerConnection] = set()
        self._h1: set[H1ServerConnection] = set()

    @property
    def port(self) -> int:
        """The bound port (useful when 0 was asked for)."""
        if self._server is None:
            raise RuntimeError("the listener is not started")
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        """Bind and start accepting connections."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Negotiated(self._connection_for),
            self._host,
            self._port,
            ssl=self._ssl,
            ssl_handshake_timeout=10.0,
        )

    async def aclose(self, grace: float = 2.0) -> None:
        """Stop accepting; GOAWAY HTTP/2 connections, close HTTP/1.1 ones; drop what remains."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for h1 in list(self._h1):
            h1.close()
        for h2 in list(self._h2):
            h2.goaway()
        waits = [asyncio.create_task(c.closed.wait()) for c in [*self._h2, *self._h1]]
        if waits:
            _, pending = await asyncio.wait(waits, timeout=grace)
            for task in pending:
                task.cancel()
        for h2 in list(self._h2):
            h2.abort()
        await server.wait_closed()

    def _connection_for(self, alpn: str | None) -> asyncio.Protocol | None:
        """The protocol object for a new TLS connection; None once closing."""
        if self._server is None:
            return None
        if alpn == "h2":
            return H2ServerConnection(self._handler, self._h2)
        return H1ServerConnection(self._handler, self._h1)
