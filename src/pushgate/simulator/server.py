"""Protocol-generic HTTP/2-over-TLS server (asyncio + the h2 library) that hands complete requests to a handler.

A :class:`H2Listener` owns one port and one :class:`Handler`; every accepted TLS connection that
negotiated ALPN ``h2`` becomes a :class:`H2ServerConnection`. The connection collects each request
(headers and body, with receive flow control acknowledged as data arrives), calls the handler
synchronously, and sends the :class:`Response`, optionally after ``Response.delay`` seconds, while
respecting the client's flow-control windows. The handler may change the connection's
MAX_CONCURRENT_STREAMS at any time and ask for a graceful GOAWAY. Platform rules (APNs today,
FCM / Web Push later) live in the handlers, never here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from dataclasses import dataclass, field
from typing import Protocol

import h2.config
import h2.connection
import h2.events
import h2.exceptions
from h2.errors import ErrorCodes
from h2.settings import SettingCodes, Settings
from h2.stream import StreamClosedBy
from hyperframe.frame import Frame, GoAwayFrame, HeadersFrame, RstStreamFrame, SettingsFrame

log = logging.getLogger(__name__)

MAX_BODY = 1 << 20
"""Bytes of a request body kept; the rest is acknowledged and dropped (handlers see len > limit)."""
DRAIN_TIMEOUT = 5.0
"""Seconds a connection may take to finish its streams after a GOAWAY was decided."""
MAX_HEADER_LIST_SIZE = 8000
_H2_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"  # TLS 1.2 suites HTTP/2 allows (RFC 9113 §9.2.2)


@dataclass(frozen=True, slots=True)
class Request:
    """A complete HTTP/2 request."""

    stream_id: int
    method: str
    path: str
    authority: str
    headers: tuple[tuple[str, str], ...]
    """Regular (non-pseudo) headers, lower-case names, in received order, repeats kept."""
    body: bytes


@dataclass(frozen=True, slots=True)
class Response:
    """What to answer on a stream; ``content-length`` is added for non-empty bodies."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    delay: float = 0.0


class Handler(Protocol):
    """Protocol behaviour plugged into a listener."""

    def connection_made(self, conn: H2ServerConnection) -> None:
        """Called once TLS and ALPN succeeded, before the server SETTINGS frame is sent."""

    def connection_lost(self, conn: H2ServerConnection) -> None:
        """Called when the connection is gone."""

    def handle(self, conn: H2ServerConnection, request: Request) -> Response:
        """Answer one request (synchronously, so per-connection decisions happen in stream order)."""


def server_ssl_context(
    cert_file: str, key_file: str, *, client_ca_pem: bytes | None = None
) -> ssl.SSLContext:
    """TLS 1.2+ server context offering only ALPN h2; with ``client_ca_pem``, client certs are optional."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(_H2_CIPHERS)
    context.load_cert_chain(cert_file, key_file)
    context.set_alpn_protocols(["h2"])
    if client_ca_pem is not None:
        context.verify_mode = ssl.CERT_OPTIONAL
        context.load_verify_locations(cadata=client_ca_pem.decode("ascii"))
    return context


class _RefusingH2Connection(h2.connection.H2Connection):
    """h2 connection that enforces MAX_CONCURRENT_STREAMS the way a server can.

    * A stream over the limit is refused with RST_STREAM(REFUSED_STREAM): stock h2 treats it as
      a connection error, while RFC 9113 §5.1.2 asks for a stream error, which lets the client
      retry the stream instead of losing every stream on the connection.
    * Only streams opened after the client acknowledged the server's first SETTINGS count
      against the limit: until then the client cannot know it (RFC 9113 §6.5.3), and the
      initial limit of a connection is unbounded (§5.1.2).
    """

    def __init__(self, config: h2.config.H2Configuration) -> None:
        super().__init__(config)
        self._counted_above: int | None = None
        """Streams with higher ids count against the limit; None until SETTINGS is acked."""

    @property
    def open_inbound_streams(self) -> int:
        """Open client streams that count against the limit (h2 checks this too)."""
        super().open_inbound_streams  # noqa: B018 -- h2's accessor also forgets closed streams
        if self._counted_above is None:
            return 0
        return sum(1 for sid in self.streams if sid % 2 == 1 and sid > self._counted_above)

    def _receive_settings_frame(
        self, frame: SettingsFrame
    ) -> tuple[list[Frame], list[h2.events.Event]]:
        if "ACK" in frame.flags and self._counted_above is None:
            self._counted_above = self.highest_inbound_stream_id
        return super()._receive_settings_frame(frame)

    def _receive_headers_frame(
        self, frame: HeadersFrame
    ) -> tuple[list[Frame], list[h2.events.Event]]:
        sid = frame.stream_id
        is_new = sid not in self.streams and sid > self.highest_inbound_stream_id and sid % 2 == 1
        if not is_new or self.open_inbound_streams < self.local_settings.max_concurrent_streams:
            return super()._receive_headers_frame(frame)
        events = self.state_machine.process_input(h2.connection.ConnectionInputs.RECV_HEADERS)
        self.decoder.decode(bytes(frame.data))  # keep the HPACK table in step with the client
        self.highest_inbound_stream_id = sid
        self._closed_streams[sid] = StreamClosedBy.SEND_RST_STREAM
        reset = RstStreamFrame(sid)
        reset.error_code = ErrorCodes.REFUSED_STREAM
        return [reset], events


@dataclass(slots=True)
class _Incoming:
    """A request whose body is still arriving."""

    headers: list[tuple[str, str]]
    body: bytearray = field(default_factory=bytearray)

    def to_request(self, stream_id: int) -> Request:
        pseudo = {k: v for k, v in self.headers if k.startswith(":")}
        regular = tuple((k, v) for k, v in self.headers if not k.startswith(":"))
        return Request(
            stream_id,
            pseudo.get(":method", ""),
            pseudo.get(":path", ""),
            pseudo.get(":authority", ""),
            regular,
            bytes(self.body),
        )


class H2ServerConnection(asyncio.Protocol):
    """One client connection: h2 state, request assembly, flow-controlled answers, graceful GOAWAY."""

    def __init__(self, handler: Handler, registry: set[H2ServerConnection]) -> None:
        self._handler = handler
        self._registry = registry
        self._transport: asyncio.Transport | None = None
        self._h2: _RefusingH2Connection | None = None
        self._max_streams = 100
        self._incoming: dict[int, _Incoming] = {}
        self._unanswered: set[int] = set()
        self._outbound: dict[int, bytes] = {}
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._drain_timer: asyncio.TimerHandle | None = None
        self._goaway: tuple[int, bytes] | None = None
        self._goaway_sent = False
        self._highest_dispatched = 0
        self._reading = False
        self.peer_certificate: bytes | None = None
        """DER of the verified client certificate, if the client sent one."""
        self.requests_received = 0
        self.closed = asyncio.Event()

    # asyncio.Protocol -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is None or ssl_object.selected_alpn_protocol() not in ("h2", None):
            transport.abort()
            return
        # No ALPN at all is HTTP/2 with prior knowledge: APNs serves clients that offer none
        # (aioapns among them); an HTTP/1.1 request then fails the connection preface.
        self.peer_certificate = ssl_object.getpeercert(binary_form=True)
        self._registry.add(self)
        self._handler.connection_made(self)
        config = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        self._h2 = _RefusingH2Connection(config)
        self._h2.local_settings = Settings(
            client=False,
            initial_values={
                SettingCodes.MAX_CONCURRENT_STREAMS: self._max_streams,
                SettingCodes.MAX_HEADER_LIST_SIZE: MAX_HEADER_LIST_SIZE,
            },
        )
        self._h2.initiate_connection()
        self._flush()

    def data_received(self, data: bytes) -> None:
        if self._h2 is None:
            return
        try:
            events = self._h2.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            # the class only: h2's messages may quote header values, and those can be secrets
            log.debug("HTTP/2 protocol error from client: %s", type(exc).__name__)
            self._flush()
            self._close_transport()
            return
        self._reading = True  # GOAWAY may name streams whose events are still in ``events``
        try:
            for event in events:
                self._on_event(event)
        finally:
            self._reading = False
        self._finish_drain()
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in [*self._timers.values(), self._drain_timer]:
            if timer is not None:
                timer.cancel()
        self._timers.clear()
        if self._h2 is not None:
            self._handler.connection_lost(self)
        self._registry.discard(self)
        self.closed.set()

    # controls for handlers and listeners ------------------------------------------------------

    @property
    def max_concurrent_streams(self) -> int:
        """The MAX_CONCURRENT_STREAMS value most recently advertised (or about to be)."""
        return self._max_streams

    def set_max_concurrent_streams(self, value: int) -> None:
        """Advertise a new MAX_CONCURRENT_STREAMS (a SETTINGS frame, unless unchanged)."""
        if value == self._max_streams:
            return
        self._max_streams = value
        if self._h2 is not None and self._goaway is None:
            self._h2.update_settings({SettingCodes.MAX_CONCURRENT_STREAMS: value})
            self._flush()

    def goaway(self, debug_data: bytes = b"", *, refuse_above: int | None = None) -> None:
        """Stop taking new streams, answer the ones received, then close.

        Graceful (the default), as RFC 9113 §6.8 describes it: GOAWAY (NO_ERROR, with
        ``debug_data``) goes out at once, naming the highest stream received as the last one
        processed; those streams are answered, later ones refused, and the connection closes
        once the last answer is sent. With ``refuse_above`` (the abrupt fault), the streams
        received above that id are reset with REFUSED_STREAM first and GOAWAY names it.
        """
        if self._h2 is None or self._goaway is not None:
            return
        if refuse_above is None:
            last = self._h2.highest_inbound_stream_id
        else:
            last = max(refuse_above, self._highest_dispatched)
            for sid in [s for s in self._incoming if s > last]:
                self._refuse(sid)
        self._goaway = (last, debug_data)
        self._flush()
        self._send_goaway_frame(last, debug_data)
        loop = asyncio.get_running_loop()
        self._drain_timer = loop.call_later(DRAIN_TIMEOUT, self._close_transport)
        self._finish_drain()

    def fail(self, error_code: int, *, last_stream_id: int) -> None:
        """End the connection as for a protocol violation: GOAWAY(``error_code``) naming
        ``last_stream_id``, then close, answering nothing more (h2 does the same when it
        finds a request that breaks HTTP/2)."""
        if self._h2 is None or self._goaway is not None:
            return
        self._goaway = (last_stream_id, b"")
        self._goaway_sent = True
        self._flush()
        self._send_goaway_frame(last_stream_id, b"", error_code)
        self._close_transport()

    def abort(self) -> None:
        """Drop the connection at once."""
        if self._transport is not None:
            self._transport.abort()

    # HTTP/2 events ----------------------------------------------------------------------------

    def _on_event(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.RequestReceived):
            self._on_request(event)
        elif isinstance(event, h2.events.DataReceived):
            self._on_data(event)
        elif isinstance(event, h2.events.StreamEnded):
            self._dispatch(event.stream_id)
        elif isinstance(event, h2.events.StreamReset):
            self._forget(event.stream_id)
        elif isinstance(event, h2.events.WindowUpdated):
            waiting = [s for s in self._outbound if event.stream_id in (0, s)]
            for sid in waiting:
                self._send_body(sid)
        elif isinstance(event, h2.events.ConnectionTerminated):
            self._close_transport()

    def _on_request(self, event: h2.events.RequestReceived) -> None:
        sid = event.stream_id
        if self._goaway is not None and sid > self._goaway[0]:
            self._refuse(sid)
            return
        headers = [(str(k), str(v)) for k, v in event.headers or ()]
        self._incoming[sid] = _Incoming(headers)
        self._unanswered.add(sid)

    def _on_data(self, event: h2.events.DataReceived) -> None:
        assert self._h2 is not None
        incoming = self._incoming.get(event.stream_id)
        if incoming is not None and len(incoming.body) <= MAX_BODY:
            incoming.body += event.data or b""
        self._h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)

    def _dispatch(self, sid: int) -> None:
        incoming = self._incoming.pop(sid, None)
        if incoming is None:
            return
        self.requests_received += 1
        self._highest_dispatched = max(self._highest_dispatched, sid)
        try:
            response = self._handler.handle(self, incoming.to_request(sid))
        except Exception:
            log.exception("request handler failed on stream %d", sid)
            response = Response(500)
        if response.delay > 0:
            loop = asyncio.get_running_loop()
            self._timers[sid] = loop.call_later(response.delay, self._answer_later, sid, response)
        else:
            self._answer(sid, response)

    # answering --------------------------------------------------------------------------------

    def _answer_later(self, sid: int, response: Response) -> None:
        self._timers.pop(sid, None)
        self._answer(sid, response)
        self._flush()

    def _answer(self, sid: int, response: Response) -> None:
        assert self._h2 is not None and self._transport is not None
        if sid not in self._unanswered or self._goaway_sent or self._transport.is_closing():
            return  # reset by the client meanwhile, or the connection is going away
        headers = [(":status", str(response.status)), *response.headers]
        if response.body:
            headers.append(("content-length", str(len(response.body))))
        self._h2.send_headers(sid, headers, end_stream=not response.body)
        if response.body:
            self._outbound[sid] = response.body
            self._send_body(sid)
        else:
            self._unanswered.discard(sid)
        self._finish_drain()

    def _send_body(self, sid: int) -> None:
        """Send as much of the pending body as the client's windows allow."""
        assert self._h2 is not None
        data = self._outbound.pop(sid, b"")
        while data:
            window = self._h2.local_flow_control_window(sid)
            size = min(window, self._h2.max_outbound_frame_size, len(data))
            if size <= 0:
                self._outbound[sid] = data
                return
            self._h2.send_data(sid, data[:size], end_stream=size == len(data))
            data = data[size:]
        self._unanswered.discard(sid)
        self._finish_drain()

    def _refuse(self, sid: int) -> None:
        assert self._h2 is not None
        self._forget(sid)
        with contextlib.suppress(h2.exceptions.StreamClosedError):
            self._h2.reset_stream(sid, ErrorCodes.REFUSED_STREAM)

    def _forget(self, sid: int) -> None:
        timer = self._timers.pop(sid, None)
        if timer is not None:
            timer.cancel()
        self._incoming.pop(sid, None)
        self._outbound.pop(sid, None)
        self._unanswered.discard(sid)
        self._finish_drain()

    def _send_goaway_frame(
        self, last_stream_id: int, debug_data: bytes, error_code: int = ErrorCodes.NO_ERROR
    ) -> None:
        """Write GOAWAY ourselves: h2's ``close_connection`` would also end its state machine,
        after which the streams kept by the GOAWAY could no longer be answered."""
        if self._transport is None or self._transport.is_closing():
            return
        frame = GoAwayFrame(0)
        frame.last_stream_id = last_stream_id
        frame.error_code = error_code
        frame.additional_data = debug_data
        self._transport.write(frame.serialize())

    def _finish_drain(self) -> None:
        """Close once every stream the GOAWAY kept has been answered.

        Not while a read's events are being handled: GOAWAY's last stream is the highest h2
        has read, and the requests of that same read are still to be taken in (closing then
        left them unanswered although GOAWAY promised them)."""
        if self._goaway is None or self._goaway_sent or self._h2 is None or self._reading:
            return
        last, _ = self._goaway
        if any(sid <= last for sid in self._unanswered):
            return
        self._goaway_sent = True
        self._flush()
        self._close_transport()

    def _flush(self) -> None:
        if self._h2 is None or self._transport is None or self._transport.is_closing():
            return
        data = self._h2.data_to_send()
        if data:
            self._transport.write(data)

    def _close_transport(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()


class H2Listener:
    """One TCP port serving HTTP/2 over TLS with one handler."""

    def __init__(
        self,
        handler: Handler,
        ssl_context: ssl.SSLContext,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        shutdown_debug: bytes = b"",
    ) -> None:
        self._handler = handler
        self._ssl = ssl_context
        self._host = host
        self._port = port
        self._shutdown_debug = shutdown_debug
        self._server: asyncio.Server | None = None
        self._connections: set[H2ServerConnection] = set()

    @property
    def port(self) -> int:
        """The bound port (useful when 0 was asked for)."""
        if self._server is None:
            raise RuntimeError("the listener is not started")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def connections(self) -> frozenset[H2ServerConnection]:
        """Connections currently open."""
        return frozenset(self._connections)

    async def start(self) -> None:
        """Bind and start accepting connections."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._new_connection,
            self._host,
            self._port,
            ssl=self._ssl,
            ssl_handshake_timeout=10.0,
        )

    async def aclose(self, grace: float = 2.0) -> None:
        """Stop accepting, GOAWAY every connection, wait up to ``grace`` s, then drop the rest."""
        if self._server is None:
            return
        self._server.close()
        for conn in list(self._connections):
            conn.goaway(self._shutdown_debug)
        waits = [asyncio.create_task(c.closed.wait()) for c in self._connections]
        if waits:
            _, pending = await asyncio.wait(waits, timeout=grace)
            for task in pending:
                task.cancel()
        for conn in list(self._connections):
            conn.abort()
        await self._server.wait_closed()
        self._server = None

    def _new_connection(self) -> H2ServerConnection:
        return H2ServerConnection(self._handler, self._connections)
