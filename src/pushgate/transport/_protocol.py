"""The asyncio shell around one HTTP/2 connection: socket I/O, write coalescing, timers.

Bytes from the socket go to the sans-I/O core (``_connection.H2Connection``); the core's
output is written once per event-loop iteration. One timer per connection handles request
deadlines, keep-alive PINGs and the idle timeout, so requests never arm timers of their own.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

from ._connection import H2Connection, State
from ._errors import ConnectError
from ._models import Origin, Response, ResponseHandler

_INF = float("inf")


@dataclass(frozen=True, slots=True)
class ConnectionConfig:
    """Per-connection settings shared by every connection of a pool."""

    connect_timeout: float = 10.0
    ping_interval: float = 60.0
    ping_timeout: float = 10.0
    idle_timeout: float | None = None
    max_inflight: int = 1000


class HTTP2Connection(asyncio.Protocol):
    """One TLS connection speaking HTTP/2 to an origin."""

    def __init__(
        self,
        origin: Origin,
        config: ConnectionConfig,
        on_change: Callable[[HTTP2Connection], None],
    ) -> None:
        self.origin = origin
        self.reserved = 0
        """Streams promised to requests that are about to start (set by the pool)."""
        self._config = config
        self._on_change = on_change
        self._core = H2Connection(origin.authority_bytes, max_inflight=config.max_inflight)
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._flush_pending = False
        self._ready: asyncio.Future[ConnectError | None] = self._loop.create_future()
        self._closed: asyncio.Future[None] = self._loop.create_future()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = _INF
        self._last_recv = self._loop.time()
        self._ping_sent = 0.0
        self._pings = 0
        self._idle_marker = -1
        self._idle_since = 0.0
        self._close_reason: str | None = None

    @property
    def free(self) -> int:
        """How many more streams this connection can take now."""
        core = self._core
        return core.limit - len(core.streams) - self.reserved

    @property
    def in_flight(self) -> int:
        """Requests currently open on this connection."""
        return len(self._core.streams)

    @property
    def max_streams(self) -> int:
        """The current stream limit (server SETTINGS capped by max_inflight)."""
        return self._core.limit

    @property
    def usable(self) -> bool:
        """True while new requests may be started here."""
        return self._core.state is State.READY

    @property
    def state(self) -> State:
        """The connection's lifecycle state."""
        return self._core.state

    async def request(
        self,
        method: bytes,
        path: bytes,
        headers: tuple[tuple[bytes, bytes], ...],
        volatile: Sequence[tuple[bytes, bytes]],
        body: bytes,
        deadline: float,
    ) -> Response:
        """Send one request and wait for its response (or a transport error)."""
        waiter: asyncio.Future[Response] = self._loop.create_future()
        sid = self.start(method, path, headers, volatile, body, deadline, waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            self._core.cancel_stream(sid)
            self._schedule_flush()
            self._after_change()
            raise

    def start(
        self,
        method: bytes,
        path: bytes,
        headers: tuple[tuple[bytes, bytes], ...],
        volatile: Sequence[tuple[bytes, bytes]],
        body: bytes,
        deadline: float,
        handler: ResponseHandler,
    ) -> int:
        """Send one request whose end goes to ``handler``; returns the stream id.

        Raises ConnectionLost(unprocessed=True) unless the connection is usable.
        """
        core = self._core
        sid = core.start_request(method, path, headers, volatile, body, handler, deadline)
        if not self._flush_pending:  # _schedule_flush(), inlined on the hot path
            self._flush_pending = True
            self._loop.call_soon(self._flush)
        if deadline < self._timer_at:
            self._arm(deadline)
        if core.changed:
            self._after_change()
        return sid

    async def wait_ready(self) -> None:
        """Wait for the server's SETTINGS; raise ConnectError if the connection failed."""
        error = await self._ready
        if error is not None:
            raise error

    async def wait_closed(self) -> None:
        """Wait until the transport has closed."""
        await asyncio.shield(self._closed)

    def close(self, reason: str = "connection closed by the client") -> None:
        """Close gracefully: GOAWAY, flush, TLS close; open streams fail ConnectionLost."""
        self._close_reason = reason
        self._core.shutdown()
        self._close_transport()
        self._after_change()

    def abort(self, message: str = "connection aborted") -> None:
        """Drop the connection at once, failing open streams with ConnectionLost."""
        self._core.close(message)
        if self._transport is not None:
            self._transport.abort()
            self._transport = None
        self._after_change()

    # ------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """TLS is up: check ALPN and the TLS version, then send the preface."""
        self._transport = cast(asyncio.Transport, transport)
        problem = _tls_problem(transport)
        if problem is not None:
            self._ready.set_result(ConnectError(problem))
            self.abort(problem)
            return
        self._core.initiate()
        self._transport.write(self._core.data_to_send())
        idle = self._config.idle_timeout
        self._arm(self._loop.time() + min(self._config.ping_interval, idle or _INF))

    def data_received(self, data: bytes) -> None:
        """Feed the core; write its answers in this loop iteration."""
        self._last_recv = self._loop.time()
        core = self._core
        core.receive_data(data)
        self._schedule_flush()
        if core.changed:
            self._after_change()

    def connection_lost(self, exc: Exception | None) -> None:
        """The transport closed: fail whatever is still open."""
        self._transport = None
        if exc is None:
            self._core.close(self._close_reason or "connection closed by the server")
        else:
            self._core.close(f"connection lost: {describe_error(exc)}", exc)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._ready.done():
            error = ConnectError(f"connection to {_where(self.origin)} closed during setup")
            error.__cause__ = exc
            self._ready.set_result(error)
        if not self._closed.done():
            self._closed.set_result(None)
        self._after_change()

    # ------------------------------------------------------------ internals

    def _flush(self) -> None:
        """Write everything the core queued, as one TLS write."""
        self._flush_pending = False
        data = self._core.data_to_send()
        if data and self._transport is not None:
            self._transport.write(data)

    def _schedule_flush(self) -> None:
        """Make sure queued frames are written in this loop iteration."""
        if not self._flush_pending:
            self._flush_pending = True
            self._loop.call_soon(self._flush)

    def _after_change(self) -> None:
        """React to core changes: readiness, closing when drained, telling the pool."""
        core = self._core
        core.changed = False
        state = core.state
        if not self._ready.done():
            if state is State.READY:
                self._ready.set_result(None)
            elif state is not State.CONNECTING:
                message = f"connection to {_where(self.origin)} failed during setup"
                self._ready.set_result(ConnectError(message))
        if state is State.CLOSED or (state is State.DRAINING and not core.streams):
            self._close_transport()
        self._on_change(self)

    def _close_transport(self) -> None:
        """Flush what is queued (e.g. GOAWAY) and start a graceful TLS close."""
        transport = self._transport
        if transport is not None and not transport.is_closing():
            self._flush()
            transport.close()

    def _arm(self, when: float) -> None:
        """(Re)schedule the connection timer at loop time ``when``."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = when
        self._timer = self._loop.call_at(when, self._on_timer) if when < _INF else None

    def _on_timer(self) -> None:
        """Expire overdue requests, keep the connection alive, close it when idle."""
        self._timer = None
        self._timer_at = _INF
        core = self._core
        if core.state is State.CLOSED or self._transport is None:
            return
        now = self._loop.time()
        next_at = core.expire(now) if core.streams else _INF
        next_at = min(next_at, self._keepalive(now), self._idle_check(now))
        self._schedule_flush()
        if core.changed:
            self._after_change()
        if core.state is not State.CLOSED and self._transport is not None:
            self._arm(next_at)

    def _keepalive(self, now: float) -> float:
        """Send a PING after ``ping_interval`` of silence; abort if unanswered in time."""
        config = self._config
        if self._core.ping_outstanding is not None:
            if now - self._ping_sent >= config.ping_timeout:
                self.abort(f"no PING acknowledgement within {config.ping_timeout:g}s")
                return _INF
            return self._ping_sent + config.ping_timeout
        if now - self._last_recv >= config.ping_interval:
            self._pings += 1
            self._core.send_ping(self._pings.to_bytes(8, "big"))
            self._ping_sent = now
            return now + config.ping_timeout
        return self._last_recv + config.ping_interval

    def _idle_check(self, now: float) -> float:
        """Close the connection once no request ran on it for ``idle_timeout``."""
        timeout = self._config.idle_timeout
        if timeout is None:
            return _INF
        marker = self._core.next_stream_id
        if self._core.streams or marker != self._idle_marker:
            self._idle_marker = marker
            self._idle_since = now
            return now + timeout
        if now - self._idle_since >= timeout:
            self.close("connection closed after being idle")
            return _INF
        return self._idle_since + timeout


async def open_connection(
    origin: Origin, config: ConnectionConfig, on_change: Callable[[HTTP2Connection], None]
) -> HTTP2Connection:
    """Connect, complete TLS + ALPN and wait for the server's SETTINGS.

    Raises ConnectError for every failure (timeouts, refused, TLS, ALPN, early close).
    """
    loop = asyncio.get_running_loop()
    conn = HTTP2Connection(origin, config, on_change)
    where = _where(origin)
    try:
        async with asyncio.timeout(config.connect_timeout):
            await loop.create_connection(
                lambda: conn,
                origin.host,
                origin.port,
                ssl=origin.ssl_context,
                server_hostname=origin.sni,
            )
            await conn.wait_ready()
    except ConnectError:
        conn.abort()
        raise
    except TimeoutError as exc:
        conn.abort()
        raise ConnectError(f"connecting to {where} timed out") from exc
    except OSError as exc:  # includes ssl.SSLError
        conn.abort()
        raise ConnectError(f"cannot connect to {where}: {describe_error(exc)}") from exc
    except BaseException:
        conn.abort()
        raise
    return conn


def describe_error(exc: BaseException) -> str:
    """A one-line description of an I/O or TLS error (no data, no secrets)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate verification failed: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc.reason or exc.strerror or type(exc).__name__}"
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    return type(exc).__name__


def _tls_problem(transport: asyncio.BaseTransport) -> str | None:
    """Why this transport is unfit for HTTP/2 push (no TLS, old TLS, no h2), or None."""
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return "connection is not TLS"
    if ssl_object.version() not in ("TLSv1.2", "TLSv1.3"):
        return f"server negotiated {ssl_object.version()}; TLS 1.2 or later is required"
    protocol = ssl_object.selected_alpn_protocol()
    if protocol != "h2":
        return f"server did not select HTTP/2 in ALPN (selected {protocol!r})"
    return None


def _where(origin: Origin) -> str:
    """host:port for messages."""
    return f"{origin.host}:{origin.port}"
