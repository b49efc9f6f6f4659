"""A small HTTP/2 test client (asyncio + h2) that exposes what the simulator tests look at:
server SETTINGS, GOAWAY, stream resets, and concurrent requests on one connection."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from dataclasses import dataclass, field
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.settings


@dataclass
class Answer:
    """A response, or how the stream ended without one."""

    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    reset_code: int | None = None

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def reason(self) -> str | None:
        return self.json().get("reason") if self.body else None


def client_context(ca_file: str, cert: tuple[str, str] | None = None) -> ssl.SSLContext:
    """Verification on, trusting exactly the simulator CA, ALPN h2."""
    context = ssl.create_default_context(cafile=ca_file)
    context.set_alpn_protocols(["h2"])
    if cert is not None:
        context.load_cert_chain(*cert)
    return context


class _GoawayTolerantConnection(h2.connection.H2Connection):
    """h2 closes its state machine on receiving GOAWAY, so the answers a graceful GOAWAY still
    promises (streams up to its last-stream-id, RFC 9113 §6.8) would be protocol errors: this
    client reports the GOAWAY and keeps reading."""

    def _receive_goaway_frame(self, frame: Any) -> tuple[list[Any], list[h2.events.Event]]:
        event = h2.events.ConnectionTerminated()
        event.error_code = frame.error_code
        event.last_stream_id = frame.last_stream_id
        event.additional_data = frame.additional_data or None
        return [], [event]


class H2TestClient:
    """One HTTP/2 connection; requests may overlap."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, window: int | None
    ) -> None:
        self.reader, self.writer = reader, writer
        self.conn = _GoawayTolerantConnection(h2.config.H2Configuration(header_encoding="utf-8"))
        if window is not None:
            self.conn.local_settings = h2.settings.Settings(
                client=True, initial_values={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window}
            )
        self.conn.initiate_connection()
        self.answers: dict[int, Answer] = {}
        self.done: dict[int, asyncio.Future[Answer]] = {}
        self.goaway: h2.events.ConnectionTerminated | None = None
        self.settings_frames = 0
        self.ping_acks: list[bytes] = []
        self.error: BaseException | None = None
        self.settings_seen = asyncio.Condition()
        self.closed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def connect(
        cls, port: int, context: ssl.SSLContext, *, read: bool = True, window: int | None = None
    ) -> H2TestClient:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=context), 5
        )
        client = cls(reader, writer, window)
        client.flush()
        if read:
            client.start_reading()
            await client.wait_for(lambda: client.settings_frames > 0 or client.closed.is_set())
            if not client.settings_frames:
                raise ConnectionError(f"closed before HTTP/2 SETTINGS: {client.error!r}")
        return client

    @property
    def max_streams(self) -> int:
        return self.conn.remote_settings.max_concurrent_streams

    def start_reading(self) -> None:
        self._task = asyncio.create_task(self._read_loop())

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.writer.write(data)

    def start_request(
        self, path: str, headers: list[tuple[str, str]], body: bytes = b"", method: str = "POST"
    ) -> asyncio.Future[Answer]:
        (future,) = self.start_requests([(path, headers, body)], method)
        return future

    def start_requests(
        self, requests: list[tuple[str, list[tuple[str, str]], bytes]], method: str = "POST"
    ) -> list[asyncio.Future[Answer]]:
        """Open a stream per (path, headers, body) and send them all in one write."""
        futures = [self._open(path, headers, body, method) for path, headers, body in requests]
        self.flush()
        return futures

    def _open(
        self, path: str, headers: list[tuple[str, str]], body: bytes, method: str
    ) -> asyncio.Future[Answer]:
        sid = self.conn.get_next_available_stream_id()
        pseudo = [(":method", method), (":scheme", "https"), (":authority", "127.0.0.1"),
                  (":path", path)]  # fmt: skip
        self.conn.send_headers(sid, pseudo + headers, end_stream=not body)
        if body:
            self._send_body(sid, body)
        self.answers[sid] = Answer()
        self.done[sid] = asyncio.get_running_loop().create_future()
        return self.done[sid]

    async def request(
        self, path: str, headers: list[tuple[str, str]], body: bytes = b"", method: str = "POST"
    ) -> Answer:
        return await asyncio.wait_for(self.start_request(path, headers, body, method), 5)

    async def wait_for(self, predicate: Any) -> None:
        """Wait (at most 5 s) until ``predicate()`` holds after some frames arrived."""

        async def waiter() -> None:
            async with self.settings_seen:
                await self.settings_seen.wait_for(predicate)

        await asyncio.wait_for(waiter(), 5)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self.writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await self.writer.wait_closed()

    def _send_body(self, sid: int, body: bytes) -> None:
        """Send the body in frames the server's windows allow (tests keep bodies within them)."""
        while body:
            size = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
            assert size > 0, "test body larger than the server's initial window"
            chunk, body = body[:size], body[size:]
            self.conn.send_data(sid, chunk, end_stream=not body)

    async def _read_loop(self) -> None:
        try:
            while data := await self.reader.read(65536):
                events = self.conn.receive_data(data)
                for event in events:
                    self._on_event(event)
                self.flush()
                async with self.settings_seen:
                    self.settings_seen.notify_all()
        except (ConnectionError, ssl.SSLError) as exc:
            self.error = exc
        finally:
            self.closed.set()
            for future in self.done.values():
                if not future.done():
                    future.set_exception(ConnectionError("connection closed"))
            async with self.settings_seen:
                self.settings_seen.notify_all()

    def _on_event(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.ResponseReceived):
            answer = self.answers[event.stream_id]
            for name, value in event.headers:
                if name == ":status":
                    answer.status = int(value)
                else:
                    answer.headers[str(name)] = str(value)
        elif isinstance(event, h2.events.DataReceived):
            self.answers[event.stream_id].body += event.data
            self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.StreamEnded):
            self._finish(event.stream_id)
        elif isinstance(event, h2.events.StreamReset):
            self.answers[event.stream_id].reset_code = event.error_code
            self._finish(event.stream_id)
        elif isinstance(event, h2.events.PingAckReceived):
            self.ping_acks.append(event.ping_data or b"")
        elif isinstance(event, h2.events.RemoteSettingsChanged):
            self.settings_frames += 1
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.goaway = event

    def _finish(self, sid: int) -> None:
        future = self.done.get(sid)
        if future is not None and not future.done():
            future.set_result(self.answers[sid])
