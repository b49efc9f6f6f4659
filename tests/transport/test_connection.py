"""The sans-I/O connection core: server frames in (built with hyperframe), client frames out."""

from __future__ import annotations

import asyncio
import math

import hpack
import pytest
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)

from pushgate.transport import (
    ConnectionLost,
    GoAwayReceived,
    ProtocolError,
    RequestTimeout,
    Response,
    StreamReset,
)
from pushgate.transport._connection import (
    RECV_CONNECTION_WINDOW,
    RECV_STREAM_WINDOW,
    H2Connection,
    State,
)
from pushgate.transport._frames import PREFACE

MAX_CONCURRENT_STREAMS = 0x3
INITIAL_WINDOW_SIZE = 0x4
MAX_FRAME_SIZE = 0x5
HEADER_TABLE_SIZE = 0x1


def parse(data: bytes) -> list[Frame]:
    """Split client output into hyperframe frames (the preface is dropped)."""
    data = data.removeprefix(PREFACE)
    frames = []
    while data:
        frame, length = Frame.parse_frame_header(memoryview(data[:9]))
        frame.parse_body(memoryview(data[9 : 9 + length]))
        frames.append(frame)
        data = data[9 + length :]
    return frames


class Peer:
    """Plays the server side: owns the HPACK encoder/decoder for one connection."""

    def __init__(self) -> None:
        self.encoder = hpack.Encoder()
        self.decoder = hpack.Decoder()

    def headers(self, sid: int, fields: list[tuple[bytes, bytes]], *flags: str) -> bytes:
        return HeadersFrame(sid, self.encoder.encode(fields), flags=flags).serialize()

    def request_headers(self, frame: Frame) -> dict[bytes, bytes]:
        return dict(self.decoder.decode(frame.data, raw=True))


@pytest.fixture
def peer() -> Peer:
    return Peer()


@pytest.fixture
def core() -> H2Connection:
    """A connection that has received the server's SETTINGS (100 streams)."""
    conn = H2Connection(b"push.example", max_inflight=1000)
    conn.initiate()
    conn.data_to_send()
    conn.receive_data(SettingsFrame(0, settings={MAX_CONCURRENT_STREAMS: 100}).serialize())
    conn.data_to_send()
    return conn


def start(
    core: H2Connection, body: bytes = b"", *, deadline: float = math.inf, **kwargs: object
) -> tuple[int, asyncio.Future[Response]]:
    waiter: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
    headers = kwargs.get("headers", ((b"apns-topic", b"t"),))
    volatile = kwargs.get("volatile", ())
    sid = core.start_request(b"POST", b"/3/device/ab", headers, volatile, body, waiter, deadline)  # type: ignore[arg-type]
    return sid, waiter


def test_preface_settings_and_connection_window() -> None:
    conn = H2Connection(b"push.example")
    conn.initiate()
    data = conn.data_to_send()
    assert data.startswith(PREFACE)
    settings, update = parse(data)
    assert isinstance(settings, SettingsFrame)
    assert settings.settings[0x2] == 0  # no server push
    assert settings.settings[INITIAL_WINDOW_SIZE] == RECV_STREAM_WINDOW
    assert isinstance(update, WindowUpdateFrame) and update.stream_id == 0
    assert update.window_increment == RECV_CONNECTION_WINDOW - 65535


async def test_no_request_before_server_settings_then_ready() -> None:
    conn = H2Connection(b"push.example", max_inflight=700)
    conn.initiate()
    conn.data_to_send()
    assert conn.state is State.CONNECTING and conn.limit == 0
    with pytest.raises(ConnectionLost) as info:
        start(conn)
    assert info.value.unprocessed
    conn.receive_data(SettingsFrame(0, settings={}).serialize())
    assert conn.state is State.READY
    assert conn.limit == 700  # no MAX_CONCURRENT_STREAMS: unlimited, capped by max_inflight
    (ack,) = parse(conn.data_to_send())
    assert isinstance(ack, SettingsFrame) and ack.flags == {"ACK"}


def test_max_concurrent_streams_follows_settings(core: H2Connection) -> None:
    assert core.limit == 100
    for value, limit in ((1, 1), (500, 500), (5000, 1000), (0, 0), (10, 10)):
        core.receive_data(SettingsFrame(0, settings={MAX_CONCURRENT_STREAMS: value}).serialize())
        assert core.limit == limit


async def test_request_and_response(core: H2Connection, peer: Peer) -> None:
    sid, waiter = start(core, b'{"aps":{}}', volatile=[(b"apns-id", b"42")])
    headers, data = parse(core.data_to_send())
    assert isinstance(headers, HeadersFrame) and {"END_HEADERS"} == headers.flags
    fields = peer.request_headers(headers)
    assert fields[b":path"] == b"/3/device/ab" and fields[b":authority"] == b"push.example"
    assert fields[b":method"] == b"POST" and fields[b"apns-id"] == b"42"
    assert isinstance(data, DataFrame) and data.data == b'{"aps":{}}'
    assert "END_STREAM" in data.flags
    core.receive_data(
        peer.headers(sid, [(b":status", b"200"), (b"apns-id", b"42")], "END_HEADERS")
        + DataFrame(sid, b"ok", flags=["END_STREAM"]).serialize()
    )
    assert waiter.result() == Response(200, [(b"apns-id", b"42")], b"ok")
    assert not core.streams


async def test_empty_body_ends_stream_with_headers(core: H2Connection) -> None:
    start(core)
    (headers,) = parse(core.data_to_send())
    assert headers.flags == {"END_HEADERS", "END_STREAM"}


async def test_padded_and_priority_frames(core: H2Connection, peer: Peer) -> None:
    sid, waiter = start(core)
    block = peer.encoder.encode([(b":status", b"200")])
    headers = HeadersFrame(sid, block, flags=["END_HEADERS", "PADDED", "PRIORITY"])
    headers.pad_length = 7
    headers.depends_on, headers.stream_weight = 0, 16
    data = DataFrame(sid, b"padded body", flags=["END_STREAM", "PADDED"])
    data.pad_length = 20
    core.receive_data(headers.serialize() + data.serialize())
    assert waiter.result().body == b"padded body"


async def test_bad_padding_is_a_connection_error(core: H2Connection, peer: Peer) -> None:
    sid, waiter = start(core)
    core.receive_data(peer.headers(sid, [(b":status", b"200")], "END_HEADERS"))
    frame = bytes([0, 0, 2, 0, 0x8, 0, 0, 0, sid]) + b"\x05x"  # pad length 5 > payload
    core.receive_data(frame)
    error = waiter.exception()
    assert isinstance(error, ProtocolError)
    assert error.retryable  # the connection broke, not this request: it may go elsewhere
    assert core.state is State.CLOSED
    assert isinstance(parse(core.data_to_send())[-1], GoAwayFrame)


async def test_a_malformed_response_on_one_stream_is_not_retryable(
    core: H2Connection, peer: Peer
) -> None:
    sid, waiter = start(core)
    core.receive_data(DataFrame(sid, b"x", flags=["END_STREAM"]).serialize())  # no HEADERS
    error = waiter.exception()
    assert isinstance(error, ProtocolError) and not error.retryable
    assert core.state is State.READY


async def test_response_headers_in_continuation_frames(core: H2Connection, peer: Peer) -> None:
    sid, waiter = start(core)
    fields = [(b":status", b"200")] + [(f"x-h{i}".encode(), b"v" * 100) for i in range(60)]
    block = peer.encoder.encode(fields)
    parts = [block[:2000], block[2000:4000], block[4000:]]
    core.receive_data(
        HeadersFrame(sid, parts[0]).serialize()
        + ContinuationFrame(sid, parts[1]).serialize()
        + ContinuationFrame(sid, parts[2], flags=["END_HEADERS"]).serialize()
        + DataFrame(sid, b"", flags=["END_STREAM"]).serialize()
    )
    assert waiter.result().headers == fields[1:]


async def test_interrupted_header_block_is_a_connection_error(
    core: H2Connection, peer: Peer
) -> None:
    sid, waiter = start(core)
    block = peer.encoder.encode([(b":status", b"200")])
    core.receive_data(HeadersFrame(sid, block[:1]).serialize() + PingFrame(0).serialize())
    assert isinstance(waiter.exception(), ProtocolError)
    goaway = parse(core.data_to_send())[-1]
    assert isinstance(goaway, GoAwayFrame) and goaway.error_code == 0x1


async def test_large_request_headers_use_continuation(core: H2Connection, peer: Peer) -> None:
    start(core, volatile=[(b"x-big", b"b" * 40_000)])
    frames = parse(core.data_to_send())
    assert [type(f) for f in frames] == [HeadersFrame, ContinuationFrame, ContinuationFrame]
    assert all(len(f.data) <= 16384 for f in frames)
    assert "END_HEADERS" in frames[-1].flags and "END_STREAM" in frames[0].flags
    block = b"".join(f.data for f in frames)
    assert dict(peer.decoder.decode(block, raw=True))[b"x-big"] == b"b" * 40_000


async def test_send_flow_control_splits_and_parks_body(core: H2Connection) -> None:
    sid, _ = start(core, b"x" * 100_000)
    frames = parse(core.data_to_send())[1:]
    assert [len(f.data) for f in frames] == [16384, 16384, 16384, 16383]  # 65535 bytes
    assert not any("END_STREAM" in f.flags for f in frames)
    core.receive_data(WindowUpdateFrame(sid, window_increment=50_000).serialize())
    assert core.data_to_send() == b""  # the connection window is still empty
    core.receive_data(WindowUpdateFrame(0, window_increment=50_000).serialize())
    frames = parse(core.data_to_send())
    assert sum(len(f.data) for f in frames) == 100_000 - 65535
    assert "END_STREAM" in frames[-1].flags


async def test_parked_bodies_go_out_oldest_first_as_credit_arrives(core: H2Connection) -> None:
    start(core, b"a" * 65535)  # takes the whole connection window
    parked = [start(core, bytes([98 + n]) * 1000)[0] for n in range(3)]
    core.data_to_send()
    core.receive_data(WindowUpdateFrame(0, window_increment=1500).serialize())
    frames = parse(core.data_to_send())
    assert [(f.stream_id, len(f.data)) for f in frames] == [(parked[0], 1000), (parked[1], 500)]
    assert "END_STREAM" in frames[0].flags and "END_STREAM" not in frames[1].flags
    core.receive_data(WindowUpdateFrame(0, window_increment=10_000).serialize())
    frames = parse(core.data_to_send())
    assert [(f.stream_id, len(f.data)) for f in frames] == [(parked[1], 500), (parked[2], 1000)]
    assert all("END_STREAM" in f.flags for f in frames)


async def test_parked_body_of_a_reset_stream_is_dropped(core: H2Connection) -> None:
    start(core, b"a" * 65535)
    gone, waiter = start(core, b"g" * 100)
    kept, _ = start(core, b"k" * 100)
    core.data_to_send()
    core.receive_data(RstStreamFrame(gone, error_code=0x8).serialize())
    core.receive_data(WindowUpdateFrame(0, window_increment=1000).serialize())
    frames = parse(core.data_to_send())
    assert [(f.stream_id, f.data) for f in frames] == [(kept, b"k" * 100)]
    assert isinstance(waiter.exception(), StreamReset)


async def test_initial_window_size_change_adjusts_open_streams(core: H2Connection) -> None:
    core.receive_data(WindowUpdateFrame(0, window_increment=1_000_000).serialize())
    core.receive_data(SettingsFrame(0, settings={INITIAL_WINDOW_SIZE: 0}).serialize())
    core.data_to_send()
    sid, _ = start(core, b"y" * 3000)
    assert len(parse(core.data_to_send())) == 1  # HEADERS only: no stream window
    core.receive_data(SettingsFrame(0, settings={INITIAL_WINDOW_SIZE: 1000}).serialize())
    frames = parse(core.data_to_send())
    assert sum(len(f.data) for f in frames if isinstance(f, DataFrame)) == 1000
    core.receive_data(SettingsFrame(0, settings={INITIAL_WINDOW_SIZE: 500}).serialize())
    core.receive_data(WindowUpdateFrame(sid, window_increment=600).serialize())  # -500 + 600
    frames = parse(core.data_to_send())
    assert sum(len(f.data) for f in frames if isinstance(f, DataFrame)) == 100


async def test_max_frame_size_setting(core: H2Connection) -> None:
    settings = {MAX_FRAME_SIZE: 32768, INITIAL_WINDOW_SIZE: 1 << 20}
    core.receive_data(SettingsFrame(0, settings=settings).serialize())
    core.receive_data(WindowUpdateFrame(0, window_increment=1 << 20).serialize())
    core.data_to_send()
    start(core, b"z" * 70_000)
    frames = parse(core.data_to_send())[1:]
    assert [len(f.data) for f in frames] == [32768, 32768, 70_000 - 65536]


async def test_invalid_max_frame_size_is_a_protocol_error(core: H2Connection) -> None:
    core.receive_data(SettingsFrame(0, settings={MAX_FRAME_SIZE: 100}).serialize())
    assert core.state is State.CLOSED and isinstance(core.error, ProtocolError)


async def test_receive_side_window_updates(core: H2Connection, peer: Peer) -> None:
    chunk = b"d" * 16384
    streams = [start(core, method_body) for method_body in [b""] * 20]
    core.data_to_send()
    updates: list[WindowUpdateFrame] = []
    for sid, _ in streams:
        core.receive_data(peer.headers(sid, [(b":status", b"200")], "END_HEADERS"))
        core.receive_data(DataFrame(sid, chunk).serialize() * 40)  # 640 KiB per stream
        updates += [f for f in parse(core.data_to_send()) if isinstance(f, WindowUpdateFrame)]
    stream_updates = [u for u in updates if u.stream_id]
    assert {u.stream_id for u in stream_updates} == {sid for sid, _ in streams}
    connection_updates = [u.window_increment for u in updates if u.stream_id == 0]
    assert connection_updates and connection_updates[0] >= RECV_CONNECTION_WINDOW // 2
    sid, waiter = streams[0]
    core.receive_data(DataFrame(sid, b"", flags=["END_STREAM"]).serialize())
    assert len(waiter.result().body) == 40 * 16384


async def test_goaway_fails_newer_streams_as_unprocessed(core: H2Connection, peer: Peer) -> None:
    (sid1, w1), (_, w3), (_, w5) = start(core), start(core), start(core)
    core.data_to_send()
    goaway = GoAwayFrame(0, last_stream_id=sid1, additional_data=b'{"reason": "Shutdown"}')
    core.receive_data(goaway.serialize())
    assert core.state is State.DRAINING and core.limit == 0
    for waiter in (w3, w5):
        error = waiter.exception()
        assert isinstance(error, GoAwayReceived) and error.unprocessed and error.retryable
        assert error.goaway_reason == "Shutdown"
    with pytest.raises(ConnectionLost) as info:
        start(core)
    assert info.value.unprocessed
    core.receive_data(peer.headers(sid1, [(b":status", b"200")], "END_HEADERS", "END_STREAM"))
    assert w1.result().status == 200


async def test_close_after_goaway_reports_processed_streams(core: H2Connection) -> None:
    sid, waiter = start(core)
    core.data_to_send()
    core.receive_data(GoAwayFrame(0, last_stream_id=sid, error_code=0x2).serialize())
    core.close("connection closed by the server")
    error = waiter.exception()
    assert isinstance(error, GoAwayReceived) and not error.unprocessed
    assert error.error_code == 0x2 and error.goaway_reason is None


async def test_an_error_goaway_names_its_last_stream_the_suspect(core: H2Connection) -> None:
    """GOAWAY with an error code: the stream it names as the last taken is the likely cause
    (``suspect``), the earlier ones on the connection are not; NO_ERROR suspects nobody."""
    (_, w1), (sid3, w3) = start(core), start(core)
    core.data_to_send()
    core.receive_data(GoAwayFrame(0, last_stream_id=sid3, error_code=0x1).serialize())
    core.close("connection closed by the server")
    earlier, named = w1.exception(), w3.exception()
    assert isinstance(named, GoAwayReceived) and named.suspect and named.retryable
    assert isinstance(earlier, GoAwayReceived) and not earlier.suspect


async def test_a_graceful_goaway_suspects_no_stream(core: H2Connection) -> None:
    sid, waiter = start(core)
    core.data_to_send()
    core.receive_data(GoAwayFrame(0, last_stream_id=sid).serialize())
    core.close("connection closed by the server")
    error = waiter.exception()
    assert isinstance(error, GoAwayReceived) and not error.suspect


async def test_close_marks_unsent_requests_unprocessed(core: H2Connection) -> None:
    _, sent = start(core)
    core.data_to_send()
    _, unsent = start(core)
    core.close("connection lost: reset")
    assert not sent.exception().unprocessed  # type: ignore[union-attr]
    assert unsent.exception().unprocessed  # type: ignore[union-attr]
    assert core.state is State.CLOSED


@pytest.mark.parametrize(
    ("code", "unprocessed", "retryable"),
    [(0x7, True, True), (0x2, False, True), (0x8, False, True), (0x1, False, False)],
)
async def test_rst_stream(
    core: H2Connection, code: int, unprocessed: bool, retryable: bool
) -> None:
    sid, waiter = start(core)
    core.receive_data(RstStreamFrame(sid, error_code=code).serialize())
    error = waiter.exception()
    assert isinstance(error, StreamReset)
    assert error.error_code == code and error.unprocessed is unprocessed
    assert error.retryable is retryable
    assert not core.streams


def test_ping_is_acknowledged_and_ours_tracked(core: H2Connection) -> None:
    core.receive_data(PingFrame(0, opaque_data=b"12345678").serialize())
    (ack,) = parse(core.data_to_send())
    assert isinstance(ack, PingFrame) and "ACK" in ack.flags and ack.opaque_data == b"12345678"
    core.send_ping(b"keepaliv")
    assert parse(core.data_to_send())[0].opaque_data == b"keepaliv"
    core.receive_data(PingFrame(0, opaque_data=b"keepaliv", flags=["ACK"]).serialize())
    assert core.ping_outstanding is None


async def test_expire_times_out_and_resets(core: H2Connection) -> None:
    sid1, w1 = start(core, deadline=10.0)
    _, w2 = start(core, deadline=20.0)
    core.data_to_send()
    assert core.expire(15.0) == 20.0
    assert isinstance(w1.exception(), RequestTimeout) and not w2.done()
    (reset,) = parse(core.data_to_send())
    assert isinstance(reset, RstStreamFrame) and reset.stream_id == sid1
    assert reset.error_code == 0x8


async def test_late_response_after_timeout_keeps_hpack_in_sync(
    core: H2Connection, peer: Peer
) -> None:
    sid1, _ = start(core, deadline=1.0)
    sid3, w3 = start(core)
    core.expire(2.0)
    core.receive_data(peer.headers(sid1, [(b":status", b"200"), (b"x-n", b"1")], "END_HEADERS"))
    core.receive_data(DataFrame(sid1, b"late", flags=["END_STREAM"]).serialize())
    core.receive_data(
        peer.headers(sid3, [(b":status", b"200"), (b"x-n", b"1")], "END_HEADERS", "END_STREAM")
    )
    assert w3.result().headers == [(b"x-n", b"1")]
    assert core.state is State.READY


async def test_frames_for_idle_streams_are_protocol_errors(core: H2Connection) -> None:
    core.receive_data(DataFrame(99, b"x").serialize())
    assert isinstance(core.error, ProtocolError)


async def test_oversized_frame_is_a_frame_size_error(core: H2Connection) -> None:
    core.receive_data(DataFrame(1, b"x" * 20_000).serialize())
    goaway = parse(core.data_to_send())[-1]
    assert isinstance(goaway, GoAwayFrame) and goaway.error_code == 0x6


async def test_informational_response_and_trailers(core: H2Connection, peer: Peer) -> None:
    sid, waiter = start(core)
    core.receive_data(peer.headers(sid, [(b":status", b"100")], "END_HEADERS"))
    core.receive_data(peer.headers(sid, [(b":status", b"200"), (b"a", b"1")], "END_HEADERS"))
    core.receive_data(DataFrame(sid, b"body").serialize())
    core.receive_data(peer.headers(sid, [(b"trailer", b"t")], "END_HEADERS", "END_STREAM"))
    assert waiter.result() == Response(200, [(b"a", b"1"), (b"trailer", b"t")], b"body")


async def test_response_before_body_is_sent_cancels_the_upload(
    core: H2Connection, peer: Peer
) -> None:
    core.receive_data(SettingsFrame(0, settings={INITIAL_WINDOW_SIZE: 0}).serialize())
    sid, waiter = start(core, b"never sent")
    core.data_to_send()
    core.receive_data(peer.headers(sid, [(b":status", b"413")], "END_HEADERS", "END_STREAM"))
    assert waiter.result().status == 413
    reset = [f for f in parse(core.data_to_send()) if isinstance(f, RstStreamFrame)]
    assert reset and reset[0].error_code == 0x8


async def test_stream_ids_exhausted_retires_the_connection(core: H2Connection) -> None:
    core._next_sid = 2**31 - 3
    start(core)
    assert core.state is State.READY
    sid, _ = start(core)
    assert sid == 2**31 - 1
    assert core.state is State.DRAINING and core.limit == 0


async def test_header_table_size_setting_changes_the_encoder(
    core: H2Connection, peer: Peer
) -> None:
    start(core, headers=((b"authorization", b"bearer abc"),))
    peer.request_headers(parse(core.data_to_send())[0])
    core.receive_data(SettingsFrame(0, settings={HEADER_TABLE_SIZE: 0}).serialize())
    core.data_to_send()
    peer.decoder.max_allowed_table_size = 0
    start(core, headers=((b"authorization", b"bearer abc"),))
    block = parse(core.data_to_send())[0].data
    assert block[:1] == b"\x20"
    assert peer.request_headers(parse(HeadersFrame(1, block).serialize())[0])[b"authorization"] == (
        b"bearer abc"
    )


async def test_malformed_header_block_is_a_compression_error(core: H2Connection) -> None:
    sid, waiter = start(core)
    core.data_to_send()
    core.receive_data(HeadersFrame(sid, b"\xff\xff\xff\xff", flags=["END_HEADERS"]).serialize())
    assert isinstance(waiter.exception(), ProtocolError)
    goaway = parse(core.data_to_send())[-1]
    assert isinstance(goaway, GoAwayFrame) and goaway.error_code == 0x9
