"""Connection limits and slow-client time-outs of the gateway's HTTP listeners.

uvicorn (with httptools) closes idle keep-alive connections, but it gives a client unlimited
time to send its request head, and its ``limit_concurrency`` answers 503 only once a request
has arrived: a connection that sends nothing keeps its descriptor forever. Under a
1,024-descriptor limit, 1,100 such connections made ``/health`` and sends fail. So, per
listener:

- at most ``max_connections`` connections are open. A new one over the cap closes the
  connection that has waited longest for a request head (an idle keep-alive or a slow one), or
  is closed itself when every open one is busy with a request. Descriptors stay free for the
  store, the push services' connections and the logs, and a new client gets in while idle
  connections hold the cap;
- a connection that has not sent a complete request head within ``header_timeout`` of opening
  (or of the first byte of its next request) is closed. The TLS handshake counts as part of the
  head: TLS is layered here on the accepted socket instead of by the server, because the
  server's handshake time-out is a fixed 60 s and its handshaking connections are invisible to
  the protocol, so they could be neither counted nor closed;
- a request body that stalls (no byte for ``body_timeout``) is answered 408 ``body_timeout``
  through the request's own ASGI ``send`` and the connection closed;
- the resource errors (the cap reached, descriptors exhausted at accept) are logged at most once
  per interval, with how many went unlogged, never once per connection.

The deadlines are checked by one sweep per listener a few times per time-out (at most every
second) instead of a timer per request: a uvloop timer costs several microseconds to arm and
cancel, paid by every request, where a sweep costs nothing while connections behave.
"""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import errno
import resource
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from pushgate.api.errors import error_response
from pushgate.logs import get_logger

events = get_logger("pushgate.connections")

LOG_INTERVAL = 10.0
"""Seconds between two log lines about the same resource error."""

RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
"""Accept failures that mean the process or the system is out of descriptors or memory."""


def default_max_connections(listeners: int) -> int:
    """Each listener's share of the descriptor limit, less a quarter (at least 64) kept for
    the store, the push services' connections and the logs."""
    limit, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if limit == resource.RLIM_INFINITY:
        limit = 1 << 20
    spare = max(64, limit // 4)
    return max(8, (limit - spare) // max(1, listeners))


class EveryInterval:
    """Log one event at most once per interval: the first at once, later ones with the count
    of those left unlogged since."""

    def __init__(
        self,
        event: str,
        interval: float = LOG_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.event = event
        self.interval = interval
        self.clock = clock
        self.quiet_until = -float("inf")
        self.unlogged = 0

    def note(self, **fields: Any) -> None:
        now = self.clock()
        if now < self.quiet_until:
            self.unlogged += 1
            return
        events.warning(self.event, unlogged=self.unlogged, **fields)
        self.unlogged = 0
        self.quiet_until = now + self.interval


class ServerTls:
    """A listener's certificate and key files and the live context loaded from them."""

    def __init__(self, cert_file: Path, key_file: Path) -> None:
        self.cert_file = str(cert_file)
        self.key_file = str(key_file)
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(self.cert_file, self.key_file)


class ConnectionGuard:
    """One listener's open connections, and those among them waiting for a request head
    (oldest first): the ones to close when a new connection comes over the cap."""

    def __init__(
        self,
        listener: str,
        *,
        max_connections: int,
        header_timeout: float,
        body_timeout: float,
        tls: ServerTls | None = None,
    ) -> None:
        self.listener = listener
        self.max_connections = max_connections
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self.tls = tls
        self.open: set[GuardedHttpProtocol] = set()
        self.waiting: dict[GuardedHttpProtocol, None] = {}
        self.full = EveryInterval("connection_limit_reached")
        self.sweep_every = min(1.0, max(0.05, min(header_timeout, body_timeout) / 5))
        self.sweeping: asyncio.TimerHandle | None = None

    def admit(self, connection: GuardedHttpProtocol) -> bool:
        """Count a new connection in, making room if the cap is reached; False: no room."""
        if len(self.open) >= self.max_connections:
            victim = next(iter(self.waiting), None)
            self.full.note(
                listener=self.listener,
                max_connections=self.max_connections,
                closed="the longest waiting for a request head" if victim else "the new one",
            )
            if victim is None:
                return False
            self.release(victim)
            victim.drop()
        self.open.add(connection)
        self.waiting[connection] = None
        if self.sweeping is None:
            self._sweep_later(connection.loop)
        return True

    def _sweep_later(self, loop: asyncio.AbstractEventLoop) -> None:
        self.sweeping = loop.call_later(self.sweep_every, self._sweep, loop)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        """Hold every open connection to its deadlines; again later while any is open."""
        self.sweeping = None
        now = loop.time()
        for connection in list(self.open):
            connection.hold_to_deadlines(now)
        if self.open:
            self._sweep_later(loop)

    def busy(self, connection: GuardedHttpProtocol) -> None:
        """``connection`` has sent a request head: not to be closed for room."""
        self.waiting.pop(connection, None)

    def idle(self, connection: GuardedHttpProtocol) -> None:
        """``connection`` waits for its next request: the newest of the waiting."""
        if connection in self.open:
            self.waiting.pop(connection, None)
            self.waiting[connection] = None

    def release(self, connection: GuardedHttpProtocol) -> None:
        self.open.discard(connection)
        self.waiting.pop(connection, None)

    def close_all(self) -> None:
        """Close what is left open (at shutdown: handshakes the server does not know of)."""
        if self.sweeping is not None:
            self.sweeping.cancel()
            self.sweeping = None
        for connection in list(self.open):
            self.release(connection)
            connection.drop()


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol under a :class:`ConnectionGuard` (see :func:`guarded`)."""

    guard: ClassVar[ConnectionGuard]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.socket_transport: asyncio.Transport | None = None
        self.head_since: float | None = None
        """When the request head now awaited began (connecting, or its first byte)."""
        self.body_since: float | None = None
        """When the body being read last made progress (its head, or a chunk)."""
        self.answering: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:
        if self.socket_transport is not None:  # the TLS layer's transport, after the handshake
            super().connection_made(transport)
            return
        if not self.guard.admit(self):
            transport.abort()
            return
        self.socket_transport = transport
        self._await_head()
        if self.guard.tls is None:
            super().connection_made(transport)
        else:
            self._start_tls(transport, self.guard.tls.context)

    def _start_tls(self, transport: asyncio.Transport, context: ssl.SSLContext) -> None:
        """Put the loop's own TLS layer between the socket and this protocol, as
        ``loop.start_tls`` does, but at once: ``start_tls`` is a coroutine, and the client's
        first bytes may be read before a task could run it."""
        handshake = self.loop.create_future()
        layer = _tls_protocol_class(self.loop)(
            self.loop, self, context, handshake, server_side=True, call_connection_made=True
        )
        transport.set_protocol(layer)
        layer.connection_made(transport)
        handshake.add_done_callback(self._handshake_done)

    def _handshake_done(self, handshake: asyncio.Future[None]) -> None:
        if handshake.cancelled() or handshake.exception() is not None:  # never told: forget it
            self.guard.release(self)
            self._head_arrived()

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.release(self)
        self._head_arrived()
        if self.transport is not None:  # the server was told of this connection
            super().connection_lost(exc)

    def drop(self) -> None:
        """Close at once, without a goodbye (no TLS close_notify to wait for)."""
        if self.socket_transport is not None:
            self.socket_transport.abort()

    def hold_to_deadlines(self, now: float) -> None:
        """Close a connection whose head is overdue; answer a body that stalled."""
        if self.head_since is not None and now - self.head_since >= self.guard.header_timeout:
            self.guard.release(self)
            self.drop()
        elif self.body_since is not None and now - self.body_since >= self.guard.body_timeout:
            self.body_since = None
            if self.pipeline or self.cycle is None or self.cycle.response_started:  # no room
                self.drop()
            else:
                self.answering = self.loop.create_task(self._answer_stalled(self.cycle))

    async def _answer_stalled(self, cycle: RequestResponseCycle) -> None:
        """408 with ``connection: close``: uvicorn closes the connection, and the application
        still waiting for the body is told the client is gone."""
        response = error_response(
            408,
            "body_timeout",
            f"No byte of the request body arrived for {self.guard.body_timeout:g} seconds; "
            "send the whole body without pausing.",
        )
        response.headers["connection"] = "close"
        await response(cycle.scope, cycle.receive, cycle.send)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.head_since is None:
            self._await_head()

    def on_headers_complete(self) -> None:
        self._head_arrived()
        self.guard.busy(self)
        super().on_headers_complete()
        self.body_since = self.loop.time()

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        self.body_since = self.loop.time()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self.body_since = None

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.timeout_keep_alive_task is not None:  # kept alive, nothing pipelined
            self.guard.idle(self)

    def _await_head(self) -> None:
        self.head_since = self.loop.time()

    def _head_arrived(self) -> None:
        self.head_since = None


def _tls_protocol_class(loop: asyncio.AbstractEventLoop) -> Any:
    """The TLS protocol ``loop.start_tls`` would use: uvloop's own, or the stock loop's."""
    if type(loop).__module__.startswith("uvloop"):
        import uvloop.loop

        return uvloop.loop.SSLProtocol
    return asyncio.sslproto.SSLProtocol


def guarded(guard: ConnectionGuard) -> type[GuardedHttpProtocol]:
    """The protocol class of one listener (uvicorn's ``http`` setting), bound to ``guard``."""
    return type("GuardedHttpProtocol", (GuardedHttpProtocol,), {"guard": guard})


def accept_errors_logged_per_interval(loop: asyncio.AbstractEventLoop) -> None:
    """Log running out of descriptors at accept once per interval instead of on every try.

    The stock event loop reports each such failure (with a traceback) to the loop's exception
    handler; uvloop closes the surplus connections itself and reports nothing."""
    previous = loop.get_exception_handler()
    out_of_resources = EveryInterval("accept_out_of_resources")

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, OSError) and exc.errno in RESOURCE_ERRNOS:
            out_of_resources.note(error=errno.errorcode.get(exc.errno or 0, str(exc.errno)))
        elif previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handle)
