"""A fault-injecting HTTP/2 TLS test server built on the ``h2`` library (test helper only).

A handler coroutine gets each complete request and the server connection, and decides what
to do: answer, delay, reset, send GOAWAY or new SETTINGS, or never answer. The server
records what it saw (requests, header block sizes, pings, resets) for assertions.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
from hyperframe.frame import GoAwayFrame

Handler = Callable[["Request", "ServerConnection"], Awaitable[None]]


async def until(predicate: Callable[[], object], limit: float = 5.0) -> None:
    """Wait until ``predicate()`` is true (polling), or fail after ``limit`` seconds."""
    async with asyncio.timeout(limit):
        while not predicate():  # noqa: ASYNC110 - state lives in plain attributes; polling is simplest
            await asyncio.sleep(0.005)


@dataclass
class Request:
    """One request as the server received it."""

    stream_id: int
    headers: list[tuple[bytes, bytes]]
    body: bytes = b""
    open_streams: int = 0
    """Streams open on the connection when this request's HEADERS arrived (itself included)."""
    settings_acked: int = 0
    """How many of the server's SETTINGS frames the client had acknowledged by then."""

    def header(self, name: bytes) -> bytes | None:
        return next((value for key, value in self.headers if key == name), None)


async def echo_handler(request: Request, conn: ServerConnection) -> None:
    """200 with the request's apns-id echoed and its body as the response body."""
    apns_id = request.header(b"apns-id") or b"none"
    conn.respond(request.stream_id, 200, [(b"apns-id", apns_id)], request.body)


@dataclass(eq=False)
class ServerConnection(asyncio.Protocol):
    """One accepted client connection."""

    server: FaultServer
    settings: dict[int, int]
    h2: h2.connection.H2Connection = field(init=False)
    transport: asyncio.Transport | None = None
    header_block_sizes: list[int] = field(default_factory=list)
    pings_received: int = 0
    ping_acks: int = 0
    resets: list[tuple[int, int]] = field(default_factory=list)
    settings_acked: int = 0
    data_bytes: int = 0
    peer_subject: object = None
    auto_window_update: bool = True
    _bodies: dict[int, bytearray] = field(default_factory=dict)
    _requests: dict[int, Request] = field(default_factory=dict)
    _inbuf: bytes = b""
    _preface_left: int = 24

    def __post_init__(self) -> None:
        config = h2.config.H2Configuration(client_side=False, header_encoding=None)
        self.h2 = h2.connection.H2Connection(config)
        self.h2.local_settings = h2.settings.Settings(client=False, initial_values=self.settings)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.peer_subject = transport.get_extra_info("peercert")
        self.server.connections.append(self)
        self.h2.initiate_connection()
        self.flush()

    def data_received(self, data: bytes) -> None:
        self._record_frames(data)
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            self.server.errors.append(exc)
            self.flush()
            self.close()
            return
        for event in events:
            self._on_event(event)
        self.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    # -- actions for handlers ------------------------------------------------

    def respond(
        self,
        stream_id: int,
        status: int,
        headers: list[tuple[bytes, bytes]] | None = None,
        body: bytes = b"",
    ) -> None:
        """Send a complete response (flow control permitting: bodies here are small)."""
        if self.transport is None:
            return
        fields = [(b":status", str(status).encode()), *(headers or [])]
        self.h2.send_headers(stream_id, fields, end_stream=not body)
        step = self.h2.max_outbound_frame_size
        for start in range(0, len(body), step):
            chunk = body[start : start + step]
            self.h2.send_data(stream_id, chunk, end_stream=start + step >= len(body))
        self.flush()

    def reset(self, stream_id: int, error_code: int) -> None:
        self.h2.reset_stream(stream_id, error_code)
        self.flush()

    def update_settings(self, settings: dict[int, int]) -> None:
        self.h2.update_settings(settings)
        self.flush()

    def ping(self, opaque: bytes = b"srvping!") -> None:
        self.h2.ping(opaque)
        self.flush()

    def goaway(self, last_stream_id: int, error_code: int = 0, debug: bytes = b"") -> None:
        """Send GOAWAY as raw bytes, so h2 still lets us answer streams below last_stream_id."""
        self.flush()
        frame = GoAwayFrame(0, last_stream_id=last_stream_id, error_code=error_code)
        frame.additional_data = debug
        if self.transport is not None:
            self.transport.write(frame.serialize())

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def flush(self) -> None:
        data = self.h2.data_to_send()
        if data and self.transport is not None:
            self.transport.write(data)

    # -- internals -------------------------------------------------------------

    def _on_event(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.RequestReceived):
            request = Request(event.stream_id, list(event.headers))  # type: ignore[arg-type]
            request.open_streams = self.h2.open_inbound_streams
            request.settings_acked = self.settings_acked
            self._requests[event.stream_id] = request  # type: ignore[index]
            self._bodies[event.stream_id] = bytearray()  # type: ignore[index]
        elif isinstance(event, h2.events.DataReceived):
            self._bodies[event.stream_id] += event.data  # type: ignore[index,operator]
            self.data_bytes += len(event.data)  # type: ignore[arg-type]
            if self.auto_window_update:
                self.h2.acknowledge_received_data(
                    event.flow_controlled_length,  # type: ignore[arg-type]
                    event.stream_id,  # type: ignore[arg-type]
                )
        elif isinstance(event, h2.events.StreamEnded):
            self._dispatch(event.stream_id)  # type: ignore[arg-type]
        elif isinstance(event, h2.events.StreamReset):
            self.resets.append((event.stream_id, event.error_code))  # type: ignore[arg-type]
        else:
            self._on_connection_event(event)

    def _on_connection_event(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.PingReceived):
            self.pings_received += 1
        elif isinstance(event, h2.events.PingAckReceived):
            self.ping_acks += 1
        elif isinstance(event, h2.events.SettingsAcknowledged):
            self.settings_acked += 1

    def _dispatch(self, stream_id: int) -> None:
        request = self._requests.pop(stream_id)
        request.body = bytes(self._bodies.pop(stream_id))
        self.server.requests.append(request)
        task = asyncio.get_running_loop().create_task(self.server.handler(request, self))
        self.server.tasks.add(task)
        task.add_done_callback(self.server.tasks.discard)

    def _record_frames(self, data: bytes) -> None:
        """Note the size of every HEADERS/CONTINUATION payload the client sends."""
        if self._preface_left:
            skip = min(self._preface_left, len(data))
            self._preface_left -= skip
            data = data[skip:]
        buf = self._inbuf + data
        pos = 0
        while len(buf) - pos >= 9:
            length = int.from_bytes(buf[pos : pos + 3], "big")
            if len(buf) - pos < 9 + length:
                break
            frame_type = buf[pos + 3]
            if frame_type == 0x1:
                self.header_block_sizes.append(length)
            elif frame_type == 0x9:
                self.header_block_sizes[-1] += length
            pos += 9 + length
        self._inbuf = buf[pos:]


@dataclass
class FaultServer:
    """An HTTP/2 TLS server on 127.0.0.1 with a pluggable request handler."""

    cert_file: str
    key_file: str
    handler: Handler = echo_handler
    settings: dict[int, int] = field(default_factory=lambda: {0x3: 100})
    alpn: tuple[str, ...] = ("h2",)
    client_ca_file: str | None = None
    """If set, the server requires a client certificate issued by this CA."""
    connections: list[ServerConnection] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    errors: list[Exception] = field(default_factory=list)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    port: int = 0
    _server: asyncio.Server | None = None

    async def __aenter__(self) -> FaultServer:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        context.set_alpn_protocols(list(self.alpn))
        if self.client_ca_file is not None:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(cafile=self.client_ca_file)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: ServerConnection(self, dict(self.settings)), "127.0.0.1", 0, ssl=context
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for task in list(self.tasks):
            task.cancel()
        for conn in self.connections:
            if conn.transport is not None:
                conn.transport.abort()
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
