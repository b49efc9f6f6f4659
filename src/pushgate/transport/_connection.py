"""Sans-I/O HTTP/2 client connection: bytes in, resolved request futures and bytes out.

No sockets and no event loop here: the asyncio shell (``_protocol.py``) feeds received bytes
to ``receive_data`` and writes whatever ``data_to_send`` returns. Each open stream is a
``_Stream`` record in ``streams`` (stream id -> record) whose ``waiter`` (a future or another
``ResponseHandler``) is given a Response or failed with a transport error.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Sequence

from pushgate.errors import TransportError

from . import _frames as f
from ._errors import ConnectionLost, GoAwayReceived, ProtocolError, RequestTimeout, StreamReset
from ._hpack import DECODE_ERRORS, RequestEncoder, ResponseDecoder
from ._models import Response, ResponseHandler

RECV_STREAM_WINDOW = 1 << 20
"""Receive window per stream, announced in our SETTINGS_INITIAL_WINDOW_SIZE."""
RECV_CONNECTION_WINDOW = 1 << 24
"""Receive window of the connection, opened by a WINDOW_UPDATE right after the preface."""
MAX_HEADER_LIST = 1 << 16
_MAX_HEADER_BLOCK = 1 << 18
_UNLIMITED = 2**32


class State(enum.Enum):
    """Connection lifecycle."""

    CONNECTING = "connecting"  # preface sent, the server's SETTINGS not yet received
    READY = "ready"  # new streams may be opened
    DRAINING = "draining"  # GOAWAY received or stream ids used up: open streams finish
    CLOSED = "closed"  # nothing more will be sent or received


_TRANSITIONS = {
    State.CONNECTING: {State.READY, State.DRAINING, State.CLOSED},
    State.READY: {State.DRAINING, State.CLOSED},
    State.DRAINING: {State.CLOSED},
    State.CLOSED: set(),
}


class _PeerError(Exception):
    """The server violated the protocol in a way that ends the connection."""

    def __init__(self, error_code: int, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message


class _Stream:
    """One request in flight."""

    __slots__ = (
        "chunks",
        "deadline",
        "headers",
        "pending",
        "sid",
        "status",
        "unacked",
        "waiter",
        "window",
    )

    def __init__(self, sid: int, waiter: ResponseHandler, deadline: float) -> None:
        self.sid = sid
        self.waiter = waiter
        self.deadline = deadline
        self.status = 0  # 0 until the final response HEADERS arrive
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] | None = None
        self.unacked = 0  # received DATA bytes not yet returned by a stream WINDOW_UPDATE
        self.pending: bytes | memoryview | None = None  # request body waiting for window
        self.window = 0  # send window, kept only while ``pending`` is set


class H2Connection:
    """The HTTP/2 state of one client connection (RFC 9113), without I/O."""

    def __init__(self, authority: bytes, *, max_inflight: int = 1000) -> None:
        self.state = State.CONNECTING
        self.streams: dict[int, _Stream] = {}
        self.limit = 0
        """How many streams may be open at once right now (0 unless READY)."""
        self.changed = False
        """Set when streams closed, the limit or the state changed; the owner clears it."""
        self.error: TransportError | None = None
        """The first error that closed the connection."""
        self.ping_outstanding: bytes | None = None
        self.goaway: tuple[int, int, str | None] | None = None
        self._out: list[bytes] = []
        self._inbuf = b""
        self._encoder = RequestEncoder(authority)
        self._decoder = ResponseDecoder(MAX_HEADER_LIST)
        self._max_inflight = max_inflight
        self._next_sid = 1
        self._flushed_sid = 0
        self._remote_max_streams = 1  # assume 1 until the server's SETTINGS say otherwise
        self._remote_window = f.DEFAULT_WINDOW  # initial send window of new streams
        self._send_window = f.DEFAULT_WINDOW  # connection send window
        self._max_frame = f.DEFAULT_MAX_FRAME
        self._parked: deque[_Stream] = deque()
        """Streams whose body waits for send credit, oldest first; a stream that is sent or
        gone meanwhile (``pending`` None) is dropped when reached."""
        self._recv_unacked = 0
        self._continuation: tuple[int, int, list[bytes]] | None = None
        self._handlers = {
            f.PRIORITY: self._on_priority,
            f.RST_STREAM: self._on_rst_stream,
            f.SETTINGS: self._on_settings,
            f.PUSH_PROMISE: self._on_push_promise,
            f.PING: self._on_ping,
            f.GOAWAY: self._on_goaway,
            f.WINDOW_UPDATE: self._on_window_update,
            f.CONTINUATION: self._on_continuation,
        }

    @property
    def next_stream_id(self) -> int:
        """The id the next request will get (grows with every request started)."""
        return self._next_sid

    # ------------------------------------------------------------------ outbound

    def initiate(self) -> None:
        """Queue the client preface, our SETTINGS and the connection window increase."""
        settings = {
            f.SETTINGS_ENABLE_PUSH: 0,
            f.SETTINGS_INITIAL_WINDOW_SIZE: RECV_STREAM_WINDOW,
            f.SETTINGS_MAX_HEADER_LIST_SIZE: MAX_HEADER_LIST,
        }
        increment = RECV_CONNECTION_WINDOW - f.DEFAULT_WINDOW
        self._out += (f.PREFACE, f.settings_frame(settings), f.window_update_frame(0, increment))

    def data_to_send(self) -> bytes:
        """Everything queued for the server since the last call (b"" if nothing)."""
        out = self._out
        if not out:
            return b""
        self._out = []
        self._flushed_sid = self._next_sid - 2
        return b"".join(out)

    def start_request(
        self,
        method: bytes,
        path: bytes,
        headers: tuple[tuple[bytes, bytes], ...],
        volatile: Sequence[tuple[bytes, bytes]],
        body: bytes,
        waiter: ResponseHandler,
        deadline: float,
    ) -> int:
        """Open a stream for a request and queue its frames; returns the stream id.

        Raises ConnectionLost(unprocessed=True) unless the connection is READY.
        """
        if self.state is not State.READY:
            raise self._unusable()
        sid = self._next_sid
        self._next_sid = sid + 2
        block = self._encoder.encode(method, path, headers, volatile)
        n = len(block)
        if n <= self._max_frame:
            flags = f.FLAG_END_HEADERS if body else f.FLAG_END_HEADERS | f.FLAG_END_STREAM
            self._out += ((n << 48 | 0x1 << 40 | flags << 32 | sid).to_bytes(9, "big"), block)
        else:
            self._out += f.headers_frames(sid, block, not body, self._max_frame)
        stream = _Stream(sid, waiter, deadline)
        self.streams[sid] = stream
        if body:
            n = len(body)
            if n <= self._send_window and n <= self._remote_window and n <= self._max_frame:
                self._send_window -= n
                self._out += ((n << 48 | f.FLAG_END_STREAM << 32 | sid).to_bytes(9, "big"), body)
            elif self._send_window <= 0:  # common under load: wait for the server's credit
                stream.pending = body
                stream.window = self._remote_window
                self._parked.append(stream)
            elif self._send_body(stream, body, self._remote_window):
                self._parked.append(stream)
        if self._next_sid > f.MAX_STREAM_ID:
            self._set_state(State.DRAINING)  # stream ids used up: retire the connection
        return sid

    def cancel_stream(self, sid: int) -> None:
        """Abandon a stream (its caller went away): RST_STREAM CANCEL, no result."""
        stream = self.streams.pop(sid, None)
        if stream is not None:
            self._forget(stream)
            self._out.append(f.rst_stream_frame(sid, f.CANCEL))

    def expire(self, now: float) -> float:
        """Fail streams whose deadline passed (RequestTimeout, RST_STREAM CANCEL).

        Returns the earliest deadline still pending (infinity if none).
        """
        earliest = float("inf")
        expired = []
        for stream in self.streams.values():
            deadline = stream.deadline
            if deadline <= now:
                expired.append(stream)
            elif deadline < earliest:
                earliest = deadline
        for stream in expired:
            error = RequestTimeout(f"no response on stream {stream.sid} before the deadline")
            self._reset(stream, f.CANCEL, error)
        return earliest

    def send_ping(self, opaque: bytes) -> None:
        """Queue a keep-alive PING; ``ping_outstanding`` clears when its ACK arrives."""
        self.ping_outstanding = opaque
        self._out.append(f.ping_frame(opaque))

    def shutdown(self, error_code: int = f.NO_ERROR) -> None:
        """Queue a GOAWAY and stop opening streams (open ones may still finish)."""
        if self.state is not State.CLOSED:
            self._out.append(f.goaway_frame(0, error_code))
            if self.state is not State.DRAINING:
                self._set_state(State.DRAINING)

    def close(self, message: str, cause: BaseException | None = None) -> None:
        """The connection is gone: fail every open stream with ConnectionLost."""
        if self.state is State.CLOSED:
            return
        if self.error is None:
            self.error = ConnectionLost(message)
            self.error.__cause__ = cause
        streams = list(self.streams.values())
        self._set_state(State.CLOSED)
        for stream in streams:
            error = self._lost_error(
                message, unprocessed=stream.sid > self._flushed_sid, sid=stream.sid
            )
            error.__cause__ = cause
            self._fail(stream, error)

    # ------------------------------------------------------------------ inbound

    def receive_data(self, data: bytes) -> None:
        """Process bytes from the server. A protocol violation closes the connection
        (GOAWAY queued, every stream failed with ProtocolError, ``error`` set)."""
        if self.state is State.CLOSED:
            return
        try:
            self._receive(self._inbuf + data if self._inbuf else data)
        except _PeerError as exc:
            self._abort(exc.error_code, exc.message)

    def _receive(self, data: bytes) -> None:
        """Parse and dispatch every complete frame in ``data``; keep the rest."""
        size = len(data)
        pos = 0
        unpack = f.FRAME_HEADER.unpack_from
        handlers = self._handlers
        while size - pos >= 9:
            high, low, ftype, flags, sid = unpack(data, pos)
            length = high << 16 | low
            if length > f.DEFAULT_MAX_FRAME:  # the limit our SETTINGS leave in place
                raise _PeerError(f.FRAME_SIZE_ERROR, "frame larger than SETTINGS_MAX_FRAME_SIZE")
            end = pos + 9 + length
            if end > size:
                break
            payload = data[pos + 9 : end]
            pos = end
            sid &= 0x7FFFFFFF
            if self._continuation is not None and ftype != f.CONTINUATION:
                raise _PeerError(f.PROTOCOL_ERROR, "header block interrupted")
            if ftype == f.DATA:
                self._on_data(sid, flags, payload)
            elif ftype == f.HEADERS:
                self._on_headers(sid, flags, payload)
            elif ftype in handlers:
                handlers[ftype](sid, flags, payload)
        self._inbuf = data[pos:] if pos < size else b""

    def _on_data(self, sid: int, flags: int, payload: bytes) -> None:
        """DATA: collect the body, return flow-control credit, finish on END_STREAM."""
        size = len(payload)
        if size:
            self._recv_unacked += size
            if self._recv_unacked >= RECV_CONNECTION_WINDOW // 2:
                self._out.append(f.window_update_frame(0, self._recv_unacked))
                self._recv_unacked = 0
        stream = self.streams.get(sid)
        if stream is None:
            self._check_closed_stream(sid)
            return
        if flags & f.FLAG_PADDED:
            payload = self._unpad(payload)
        if not stream.status:
            self._reset(stream, f.PROTOCOL_ERROR, ProtocolError("DATA before response HEADERS"))
            return
        if payload:
            if stream.chunks is None:
                stream.chunks = [payload]
            else:
                stream.chunks.append(payload)
        if flags & f.FLAG_END_STREAM:
            self._complete(stream)
        elif size:
            stream.unacked += size
            if stream.unacked >= RECV_STREAM_WINDOW // 2:
                self._out.append(f.window_update_frame(sid, stream.unacked))
                stream.unacked = 0

    def _on_headers(self, sid: int, flags: int, payload: bytes) -> None:
        """HEADERS: decode now, or start collecting CONTINUATION fragments."""
        if sid == 0:
            raise _PeerError(f.PROTOCOL_ERROR, "HEADERS on stream 0")
        if flags & f.FLAG_PADDED:
            payload = self._unpad(payload)
        if flags & f.FLAG_PRIORITY:
            payload = payload[5:]
        if flags & f.FLAG_END_HEADERS:
            self._header_block(sid, payload, flags & f.FLAG_END_STREAM)
        else:
            self._continuation = (sid, flags & f.FLAG_END_STREAM, [payload])

    def _on_continuation(self, sid: int, flags: int, payload: bytes) -> None:
        """CONTINUATION: append to the open header block; decode it at END_HEADERS."""
        pending = self._continuation
        if pending is None or pending[0] != sid:
            raise _PeerError(f.PROTOCOL_ERROR, "unexpected CONTINUATION frame")
        fragments = pending[2]
        fragments.append(payload)
        if flags & f.FLAG_END_HEADERS:
            self._continuation = None
            self._header_block(sid, b"".join(fragments), pending[1])
        elif sum(map(len, fragments)) > _MAX_HEADER_BLOCK:
            raise _PeerError(f.PROTOCOL_ERROR, "response header block too large")

    def _header_block(self, sid: int, block: bytes, end_stream: int) -> None:
        """A complete header block: response headers, 1xx (ignored) or trailers."""
        try:
            status, headers = self._decoder.decode(block)
        except DECODE_ERRORS as exc:
            raise _PeerError(f.COMPRESSION_ERROR, "undecodable header block") from exc
        stream = self.streams.get(sid)
        if stream is None:
            self._check_closed_stream(sid)  # decoded anyway: the HPACK state must advance
            return
        if not stream.status and 200 <= status <= 999:
            stream.status = status
            stream.headers = headers
        elif stream.status and end_stream:  # trailers
            stream.headers += headers
        elif not (100 <= status < 200 and not end_stream):
            self._reset(stream, f.PROTOCOL_ERROR, ProtocolError("malformed response headers"))
            return
        if end_stream:
            self._complete(stream)

    def _on_rst_stream(self, sid: int, flags: int, payload: bytes) -> None:
        """RST_STREAM: fail the stream with StreamReset (REFUSED_STREAM -> unprocessed)."""
        if sid == 0:
            raise _PeerError(f.PROTOCOL_ERROR, "RST_STREAM on stream 0")
        if len(payload) != 4:
            raise _PeerError(f.FRAME_SIZE_ERROR, "RST_STREAM payload is not 4 bytes")
        stream = self.streams.pop(sid, None)
        if stream is None:
            self._check_closed_stream(sid)
            return
        self._forget(stream)
        code = int.from_bytes(payload, "big")
        message = f"server reset stream {sid} with {f.error_name(code)}"
        self._fail(stream, StreamReset(message, error_code=code, unprocessed=code == 7))

    def _on_settings(self, sid: int, flags: int, payload: bytes) -> None:
        """SETTINGS: apply, acknowledge; the first one makes the connection READY."""
        if sid:
            raise _PeerError(f.PROTOCOL_ERROR, "SETTINGS on a stream")
        if flags & f.FLAG_ACK:
            if payload:
                raise _PeerError(f.FRAME_SIZE_ERROR, "SETTINGS ACK with a payload")
            return
        if len(payload) % 6:
            raise _PeerError(f.FRAME_SIZE_ERROR, "SETTINGS payload not a multiple of 6")
        settings = f.parse_settings(payload)
        if self.state is State.CONNECTING:
            self._remote_max_streams = _UNLIMITED  # RFC 9113 §6.5.2 default: no limit
        for key, value in settings:
            self._apply_setting(key, value)
        self._out.append(f.SETTINGS_ACK)
        if self.state is State.CONNECTING:
            self._set_state(State.READY)
        self._update_limit()
        if self._parked:
            self._resume_parked()

    def _apply_setting(self, key: int, value: int) -> None:
        """Apply one server setting (unknown identifiers are ignored)."""
        if key == f.SETTINGS_MAX_CONCURRENT_STREAMS:
            self._remote_max_streams = value
        elif key == f.SETTINGS_INITIAL_WINDOW_SIZE:
            if value > f.MAX_WINDOW:
                raise _PeerError(f.FLOW_CONTROL_ERROR, "SETTINGS_INITIAL_WINDOW_SIZE too large")
            delta = value - self._remote_window
            self._remote_window = value
            for stream in self._parked:  # RFC 9113 §6.9.2
                if stream.pending is None:
                    continue
                stream.window += delta
                if stream.window > f.MAX_WINDOW:
                    raise _PeerError(f.FLOW_CONTROL_ERROR, "stream window overflow")
        elif key == f.SETTINGS_MAX_FRAME_SIZE:
            if not f.DEFAULT_MAX_FRAME <= value <= f.MAX_FRAME_LIMIT:
                raise _PeerError(f.PROTOCOL_ERROR, "invalid SETTINGS_MAX_FRAME_SIZE")
            self._max_frame = value
        elif key == f.SETTINGS_HEADER_TABLE_SIZE:
            self._encoder.set_max_table_size(value)
        elif key == f.SETTINGS_ENABLE_PUSH and value > 1:
            raise _PeerError(f.PROTOCOL_ERROR, "invalid SETTINGS_ENABLE_PUSH")

    def _on_window_update(self, sid: int, flags: int, payload: bytes) -> None:
        """WINDOW_UPDATE: more send credit for the connection or one stream."""
        if len(payload) != 4:
            raise _PeerError(f.FRAME_SIZE_ERROR, "WINDOW_UPDATE payload is not 4 bytes")
        increment = int.from_bytes(payload, "big") & 0x7FFFFFFF
        if sid == 0:
            if increment == 0:
                raise _PeerError(f.PROTOCOL_ERROR, "connection WINDOW_UPDATE of 0")
            self._send_window += increment
            if self._send_window > f.MAX_WINDOW:
                raise _PeerError(f.FLOW_CONTROL_ERROR, "connection window overflow")
            if self._parked:
                self._resume_parked()
            return
        stream = self.streams.get(sid)
        if stream is None or stream.pending is None:
            return  # the body is sent (or the stream closed): credit is irrelevant
        stream.window += increment
        if increment == 0:
            self._reset(stream, f.PROTOCOL_ERROR, ProtocolError("stream WINDOW_UPDATE of 0"))
        elif stream.window > f.MAX_WINDOW:
            self._reset(stream, f.FLOW_CONTROL_ERROR, ProtocolError("stream window overflow"))
        elif stream.window > 0 and self._send_window > 0:
            self._send_body(stream, stream.pending, stream.window)  # stays in _parked if partial

    def _on_ping(self, sid: int, flags: int, payload: bytes) -> None:
        """PING: answer the server's, or note the ACK of ours."""
        if sid:
            raise _PeerError(f.PROTOCOL_ERROR, "PING on a stream")
        if len(payload) != 8:
            raise _PeerError(f.FRAME_SIZE_ERROR, "PING payload is not 8 bytes")
        if not flags & f.FLAG_ACK:
            self._out.append(f.ping_frame(payload, ack=True))
        elif payload == self.ping_outstanding:
            self.ping_outstanding = None

    def _on_goaway(self, sid: int, flags: int, payload: bytes) -> None:
        """GOAWAY: no new streams; streams above last_stream_id fail as unprocessed."""
        if sid:
            raise _PeerError(f.PROTOCOL_ERROR, "GOAWAY on a stream")
        if len(payload) < 8:
            raise _PeerError(f.FRAME_SIZE_ERROR, "GOAWAY payload shorter than 8 bytes")
        last_sid, code, debug = f.parse_goaway(payload)
        self.goaway = (last_sid, code, f.goaway_reason(debug))
        if self.state is not State.DRAINING:
            self._set_state(State.DRAINING)
        for stream in [s for s in self.streams.values() if s.sid > last_sid]:
            del self.streams[stream.sid]
            self._forget(stream)
            self._fail(stream, self._lost_error("server sent GOAWAY", unprocessed=True))

    def _on_priority(self, sid: int, flags: int, payload: bytes) -> None:
        """PRIORITY: ignored (RFC 9113 deprecates it), only its length is checked."""
        if len(payload) != 5:
            raise _PeerError(f.FRAME_SIZE_ERROR, "PRIORITY payload is not 5 bytes")

    def _on_push_promise(self, sid: int, flags: int, payload: bytes) -> None:
        """PUSH_PROMISE: forbidden, since our SETTINGS disable server push."""
        raise _PeerError(f.PROTOCOL_ERROR, "PUSH_PROMISE although push is disabled")

    # ------------------------------------------------------------------ helpers

    def _send_body(self, stream: _Stream, data: bytes | memoryview, window: int) -> bool:
        """Send as much of ``data`` as the windows allow in DATA frames.

        Returns True when part of it must wait for credit (kept in ``stream.pending``); the
        caller keeps the stream in ``_parked`` then.
        """
        total = len(data)
        allowed = min(total, self._send_window, window)
        sid = stream.sid
        if allowed == total and total <= self._max_frame:  # the usual case: one frame
            self._out += ((total << 48 | f.FLAG_END_STREAM << 32 | sid).to_bytes(9, "big"), data)
            self._send_window -= total
            stream.pending = None
            return False
        view = memoryview(data)
        sent = 0
        while sent < allowed:
            n = min(self._max_frame, allowed - sent)
            flags = f.FLAG_END_STREAM if sent + n == total else 0
            self._out += (f.frame_header(n, f.DATA, flags, sid), view[sent : sent + n])
            sent += n
        self._send_window -= sent
        if sent == total:
            stream.pending = None
            return False
        stream.pending = view[sent:]
        stream.window = window - sent
        return True

    def _resume_parked(self) -> None:
        """Send parked request bodies, oldest stream first, while credit lasts."""
        parked = self._parked
        waiting_for_stream_credit = []
        while parked and self._send_window > 0:
            stream = parked.popleft()
            pending = stream.pending
            if pending is None:
                continue  # sent by a stream WINDOW_UPDATE, or the stream is gone
            if stream.window <= 0:
                waiting_for_stream_credit.append(stream)
            elif self._send_body(stream, pending, stream.window):
                if stream.window > 0:  # the connection's credit ran out first
                    parked.appendleft(stream)
                    break
                waiting_for_stream_credit.append(stream)
        parked.extendleft(reversed(waiting_for_stream_credit))

    def _complete(self, stream: _Stream) -> None:
        """The response is complete: resolve the waiter, release the stream."""
        del self.streams[stream.sid]
        self.changed = True
        if stream.pending is not None:  # answered before the whole body went out
            self._forget(stream)
            self._out.append(f.rst_stream_frame(stream.sid, f.CANCEL))
        chunks = stream.chunks
        body = (chunks[0] if len(chunks) == 1 else b"".join(chunks)) if chunks else b""
        waiter = stream.waiter
        if not waiter.done():
            waiter.set_result(Response(stream.status, stream.headers, body))

    def _reset(self, stream: _Stream, error_code: int, error: TransportError) -> None:
        """Close one stream from our side (RST_STREAM) and fail its request."""
        self.streams.pop(stream.sid, None)
        self._forget(stream)
        self._out.append(f.rst_stream_frame(stream.sid, error_code))
        self._fail(stream, error)

    def _forget(self, stream: _Stream) -> None:
        """Drop a stream that is no longer in ``streams`` from the send queue."""
        self.changed = True
        stream.pending = None  # leaves ``_parked`` when the queue reaches it

    @staticmethod
    def _fail(stream: _Stream, error: TransportError) -> None:
        """Fail a stream's waiter unless its caller already gave up."""
        if not stream.waiter.done():
            stream.waiter.set_exception(error)

    def _abort(self, error_code: int, message: str) -> None:
        """A connection error: GOAWAY, then fail everything with ProtocolError."""
        self._out.append(f.goaway_frame(0, error_code))
        text = f"server violated HTTP/2 ({f.error_name(error_code)}): {message}"
        self.error = ProtocolError(text, retryable=True)
        streams = list(self.streams.values())
        self._set_state(State.CLOSED)
        for stream in streams:
            self._fail(stream, ProtocolError(text, retryable=True))

    def _check_closed_stream(self, sid: int) -> None:
        """A frame for a stream we do not track: fine if it was ours and is closed."""
        if sid == 0 or sid % 2 == 0 or sid >= self._next_sid:
            raise _PeerError(f.PROTOCOL_ERROR, f"frame on idle or invalid stream {sid}")

    def _unpad(self, payload: bytes) -> bytes:
        """Remove padding or fail the connection (RFC 9113 §6.1)."""
        data = f.strip_padding(payload)
        if data is None:
            raise _PeerError(f.PROTOCOL_ERROR, "invalid padding")
        return data

    def _lost_error(self, message: str, *, unprocessed: bool, sid: int = 0) -> ConnectionLost:
        """The error for stream ``sid`` lost with the connection (GOAWAY details if any)."""
        if self.goaway is None:
            return ConnectionLost(message, unprocessed=unprocessed)
        last_sid, code, reason = self.goaway
        text = f"{message} (GOAWAY {f.error_name(code)}, last stream {last_sid}"
        text += f", reason {reason!r})" if reason else ")"
        return GoAwayReceived(
            text,
            unprocessed=unprocessed,
            error_code=code,
            goaway_reason=reason,
            suspect=code != f.NO_ERROR and sid == last_sid,
        )

    def _unusable(self) -> ConnectionLost:
        """The error for a request offered to a connection that cannot take it."""
        error = self._lost_error(f"connection is {self.state.value}", unprocessed=True)
        error.__cause__ = self.error
        return error

    def _set_state(self, state: State) -> None:
        """Move to ``state`` along the lifecycle; an illegal move is a bug."""
        if state not in _TRANSITIONS[self.state]:
            raise RuntimeError(f"illegal connection transition {self.state.value} -> {state.value}")
        self.state = state
        self.changed = True
        self._update_limit()

    def _update_limit(self) -> None:
        """Recompute how many streams may be open at once."""
        ready = self.state is State.READY
        self.limit = min(self._remote_max_streams, self._max_inflight) if ready else 0
        self.changed = True
