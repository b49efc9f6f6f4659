"""Connection behaviour against a fault-injecting h2 server: SETTINGS, flow control,
GOAWAY, RST_STREAM, PING, timeouts, HPACK reuse and CONTINUATION."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from h2_fault_server import FaultServer, Request, ServerConnection, until
from transport_testkit import PKI

from pushgate.transport import (
    ConnectionLost,
    GoAwayReceived,
    HTTP2Pool,
    Origin,
    RequestTimeout,
    Response,
    StreamReset,
)

pytestmark = pytest.mark.timeout(30)

MakeOrigin = Callable[..., Origin]


def server(pki: PKI, handler: object = None, **kwargs: object) -> FaultServer:
    if handler is not None:
        kwargs["handler"] = handler
    return FaultServer(pki.server_cert, pki.server_key, **kwargs)  # type: ignore[arg-type]


async def test_max_concurrent_streams_goes_down_to_one_and_back_up(
    pki: PKI, make_origin: MakeOrigin
) -> None:
    handled = 0

    async def handler(request: Request, conn: ServerConnection) -> None:
        nonlocal handled
        await asyncio.sleep(0.02)
        conn.respond(request.stream_id, 200)
        handled += 1
        if handled in (1, 25):
            conn.update_settings({0x3: 10})
        elif handled == 12:
            conn.update_settings({0x3: 1})

    one_connection = HTTP2Pool(connections_per_origin=1)
    async with server(pki, handler, settings={0x3: 1}) as srv, one_connection as pool:
        origin = make_origin(srv.port)
        calls = [pool.request(origin, b"/x", body=b"b") for _ in range(45)]
        responses = await asyncio.gather(*calls)
    assert {r.status for r in responses} == {200}
    assert len(srv.connections) == 1 and not srv.errors
    by_phase: dict[int, list[int]] = {}
    for request in srv.requests:  # settings_acked: 1 initial, 2 -> 10, 3 -> 1, 4 -> 10
        by_phase.setdefault(request.settings_acked, []).append(request.open_streams)
    assert max(by_phase[1]) == 1
    assert 1 < max(by_phase[2]) <= 10
    assert by_phase[3] and max(by_phase[3]) == 1
    assert 1 < max(by_phase[4]) <= 10


async def test_initial_window_size_change_releases_parked_body(
    pki: PKI, make_origin: MakeOrigin
) -> None:
    body = bytes(range(256)) * 120  # 30 KiB
    async with server(pki, settings={0x3: 10, 0x4: 0}) as srv, HTTP2Pool() as pool:
        task = asyncio.create_task(pool.request(make_origin(srv.port), b"/upload", body=body))
        await until(lambda: srv.connections and srv.connections[0].h2.open_inbound_streams)
        conn = srv.connections[0]
        conn.auto_window_update = False  # credit may only come from SETTINGS now
        conn.update_settings({0x4: 10_000})
        await until(lambda: conn.data_bytes == 10_000)
        conn.update_settings({0x4: 30_720})  # +20720 for the open stream (RFC 9113 §6.9.2)
        response = await task
    assert response.body == body
    assert not srv.errors


async def test_goaway_retries_unprocessed_streams_on_a_new_connection(
    pki: PKI, make_origin: MakeOrigin
) -> None:
    first: list[Request] = []

    async def handler(request: Request, conn: ServerConnection) -> None:
        index = srv.connections.index(conn)
        if index > 0:
            conn.respond(request.stream_id, 200, [(b"x-conn", str(index).encode())])
            return
        first.append(request)
        if len(first) == 5:
            conn.goaway(last_stream_id=3)
            for early in first[:2]:
                conn.respond(early.stream_id, 200, [(b"x-conn", b"0")])
            await asyncio.sleep(0.05)
            conn.close()

    async with server(pki, handler) as srv, HTTP2Pool(connections_per_origin=1) as pool:
        origin = make_origin(srv.port)
        responses = await asyncio.gather(*(pool.request(origin, b"/x") for _ in range(5)))
    assert sorted(r.header(b"x-conn") for r in responses) == [b"0", b"0", b"1", b"1", b"1"]
    assert sorted(r.stream_id for r in first) == [1, 3, 5, 7, 9]
    assert len(srv.requests) == 8  # 5 on the first connection, 3 retried


async def test_goaway_after_processing_is_reported_with_reason(
    pki: PKI, make_origin: MakeOrigin
) -> None:
    async def handler(request: Request, conn: ServerConnection) -> None:
        conn.goaway(request.stream_id, 0, b'{"reason": "Shutdown"}')
        await asyncio.sleep(0.05)
        conn.close()

    async with server(pki, handler) as srv, HTTP2Pool() as pool:
        with pytest.raises(GoAwayReceived) as info:
            await pool.request(make_origin(srv.port), b"/x")
    assert not info.value.unprocessed and info.value.goaway_reason == "Shutdown"
    assert "Shutdown" in str(info.value)
    assert len(srv.requests) == 1  # possibly processed: never resent


async def test_goaway_before_processing_retries_then_surfaces(
    pki: PKI, make_origin: MakeOrigin
) -> None:
    async def handler(request: Request, conn: ServerConnection) -> None:
        conn.goaway(0, 0, b'{"reason": "TooManyProviderTokenUpdates"}')

    async with server(pki, handler) as srv, HTTP2Pool() as pool:
        with pytest.raises(GoAwayReceived) as info:
            await pool.request(make_origin(srv.port), b"/x")
    assert info.value.unprocessed and info.value.retryable
    assert info.value.goaway_reason == "TooManyProviderTokenUpdates"
    assert len(srv.requests) == 3 and len(srv.connections) == 3


async def test_refused_stream_is_retried_transparently(pki: PKI, make_origin: MakeOrigin) -> None:
    async def handler(request: Request, conn: ServerConnection) -> None:
        if len(srv.requests) == 1:
            conn.reset(request.stream_id, 0x7)
        else:
            conn.respond(request.stream_id, 200)

    async with server(pki, handler) as srv, HTTP2Pool() as pool:
        response = await pool.request(make_origin(srv.port), b"/x", body=b"once")
    assert response.status == 200
    assert [r.body for r in srv.requests] == [b"once", b"once"]


async def test_refused_stream_surfaces_as_unprocessed_after_retries(
    pki: PKI, make_origin: MakeOrigin
) -> None:
    async def handler(request: Request, conn: ServerConnection) -> None:
        conn.reset(request.stream_id, 0x7)

    async with server(pki, handler) as srv, HTTP2Pool() as pool:
        with pytest.raises(StreamReset) as info:
            await pool.request(make_origin(srv.port), b"/x")
    assert info.value.error_code == 0x7 and info.value.unprocessed and info.value.retryable
    assert len(srv.requests) == 3


async def test_other_resets_are_not_resent(pki: PKI, make_origin: MakeOrigin) -> None:
    async def handler(request: Request, conn: ServerConnection) -> None:
        conn.reset(request.stream_id, 0x2)

    async with server(pki, handler) as srv, HTTP2Pool() as pool:
        with pytest.raises(StreamReset) as info:
            await pool.request(make_origin(srv.port), b"/x")
    assert info.value.error_code == 0x2 and not info.value.unprocessed
    assert info.value.retryable and "INTERNAL_ERROR" in str(info.value)  # later, maybe twice
    assert len(srv.requests) == 1


async def test_a_protocol_error_reset_is_not_retryable(pki: PKI, make_origin: MakeOrigin) -> None:
    async def handler(request: Request, conn: ServerConnection) -> None:
        conn.reset(request.stream_id, 0x1)  # what a server answers to an illegal header field

    async with server(pki, handler) as srv, HTTP2Pool() as pool:
        with pytest.raises(StreamReset) as info:
            await pool.request(make_origin(srv.port), b"/x")
    assert info.value.error_code == 0x1 and not info.value.unprocessed
    assert not info.value.retryable
    assert len(srv.requests) == 1


async def test_server_ping_is_answered(pki: PKI, make_origin: MakeOrigin) -> None:
    async def handler(request: Request, conn: ServerConnection) -> None:
        conn.ping()
        await until(lambda: conn.ping_acks == 1)
        conn.respond(request.stream_id, 204)

    async with server(pki, handler) as srv, HTTP2Pool() as pool:
        assert (await pool.request(make_origin(srv.port), b"/x")).status == 204


async def test_keepalive_ping_when_idle(pki: PKI, make_origin: MakeOrigin) -> None:
    async with server(pki) as srv, HTTP2Pool(ping_interval=0.2, ping_timeout=2) as pool:
        origin = make_origin(srv.port)
        await pool.request(origin, b"/x")
        await until(lambda: srv.connections[0].pings_received >= 2)
        await pool.request(origin, b"/x")
    assert len(srv.connections) == 1


async def test_unanswered_keepalive_ping_closes_the_connection(
    pki: PKI, make_origin: MakeOrigin
) -> None:
    async def handler(request: Request, conn: ServerConnection) -> None:
        assert conn.transport is not None
        conn.transport.pause_reading()  # a dead peer: no answer, no PING ACK

    pool = HTTP2Pool(ping_interval=0.2, ping_timeout=0.3, request_timeout=20)
    async with server(pki, handler) as srv, pool:
        started = time.monotonic()
        with pytest.raises(ConnectionLost) as info:
            await pool.request(make_origin(srv.port), b"/x")
    assert not info.value.unprocessed and "PING" in str(info.value)
    assert time.monotonic() - started < 3


async def test_request_timeout_cancels_the_stream(pki: PKI, make_origin: MakeOrigin) -> None:
    async def handler(request: Request, conn: ServerConnection) -> None:
        if request.header(b":path") != b"/slow":
            conn.respond(request.stream_id, 200)

    async with server(pki, handler) as srv, HTTP2Pool() as pool:
        origin = make_origin(srv.port)
        started = time.monotonic()
        with pytest.raises(RequestTimeout) as info:
            await pool.request(origin, b"/slow", timeout=0.3)
        elapsed = time.monotonic() - started
        await until(lambda: srv.connections[0].resets)
        assert (await pool.request(origin, b"/fast")).status == 200
    assert 0.25 <= elapsed < 2 and not info.value.unprocessed and info.value.retryable
    assert srv.connections[0].resets == [(1, 0x8)]
    assert len(srv.connections) == 1


async def test_cancelled_request_resets_its_stream(pki: PKI, make_origin: MakeOrigin) -> None:
    async def handler(request: Request, conn: ServerConnection) -> None:
        if request.header(b":path") != b"/slow":
            conn.respond(request.stream_id, 200)

    async with server(pki, handler) as srv, HTTP2Pool(connections_per_origin=1) as pool:
        origin = make_origin(srv.port)
        task = asyncio.create_task(pool.request(origin, b"/slow"))
        await until(lambda: srv.requests)
        task.cancel()
        await until(lambda: srv.connections[0].resets)
        assert (await pool.request(origin, b"/fast")).status == 200
        assert pool.stats()[origin]["in_flight"] == 0
    assert srv.connections[0].resets == [(1, 0x8)]


async def test_hpack_dynamic_table_is_reused(pki: PKI, make_origin: MakeOrigin) -> None:
    stable = ((b"apns-topic", b"com.example.app"), (b"authorization", b"bearer " + b"t" * 200))
    async with server(pki) as srv, HTTP2Pool() as pool:
        origin = make_origin(srv.port)
        for i in range(3):
            volatile = [(b"apns-id", f"id-{i}".encode())]
            path = b"/3/device/" + b"%064x" % i
            response = await pool.request(origin, path, headers=stable, volatile_headers=volatile)
            assert response.header(b"apns-id") == f"id-{i}".encode()
    first, second, third = srv.connections[0].header_block_sizes
    assert first > 250 and second < 100 and third == second
    table = srv.connections[0].h2.decoder.header_table.dynamic_entries
    names = {name for name, _ in table}
    assert b"authorization" in names
    assert not names & {b":path", b"apns-id"}
    assert [r.header(b"authorization") for r in srv.requests] == [stable[1][1]] * 3


async def test_continuation_frames_both_ways(pki: PKI, make_origin: MakeOrigin) -> None:
    big = [(f"x-big-{i}".encode(), bytes([97 + i % 26]) * 1000) for i in range(40)]

    async def handler(request: Request, conn: ServerConnection) -> None:
        conn.respond(request.stream_id, 200, big, b"body")

    async with server(pki, handler) as srv, HTTP2Pool() as pool:
        volatile = [(b"x-large-request", b"r" * 30_000)]
        response = await pool.request(make_origin(srv.port), b"/x", volatile_headers=volatile)
    assert response.headers == big and response.body == b"body"
    assert srv.requests[0].header(b"x-large-request") == b"r" * 30_000
    assert srv.connections[0].header_block_sizes[0] > 30_000  # HEADERS + CONTINUATION


async def test_start_sends_at_once_and_hands_the_end_to_the_handler(
    pki: PKI, make_origin: MakeOrigin
) -> None:
    async def handler(request: Request, conn: ServerConnection) -> None:
        if request.body == b"refuse":
            conn.reset(request.stream_id, 0x7)
        else:
            conn.respond(request.stream_id, 200)

    async with server(pki, handler) as srv, HTTP2Pool() as pool:
        origin = make_origin(srv.port)
        loop = asyncio.get_running_loop()
        early: asyncio.Future[Response] = loop.create_future()
        assert not pool.start(origin, b"/x", early, body=b"no connection yet")
        await pool.request(origin, b"/x", body=b"connect")
        answered: asyncio.Future[Response] = loop.create_future()
        assert pool.start(origin, b"/x", answered, body=b"at once")
        assert (await answered).status == 200
        refused: asyncio.Future[Response] = loop.create_future()
        assert pool.start(origin, b"/x", refused, body=b"refuse")
        with pytest.raises(StreamReset) as info:
            await refused
    assert info.value.unprocessed  # the handler decides about resending, not the pool
    assert [r.body for r in srv.requests] == [b"connect", b"at once", b"refuse"]
    assert not early.done()


async def test_start_declines_when_no_stream_is_free(pki: PKI, make_origin: MakeOrigin) -> None:
    release = asyncio.Event()

    async def handler(request: Request, conn: ServerConnection) -> None:
        await release.wait()
        conn.respond(request.stream_id, 200)

    one = HTTP2Pool(connections_per_origin=1)
    async with server(pki, handler, settings={0x3: 1}) as srv, one as pool:
        origin = make_origin(srv.port)
        first = asyncio.ensure_future(pool.request(origin, b"/x", body=b"1"))
        await until(lambda: srv.requests)
        waiter: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        assert not pool.start(origin, b"/x", waiter, body=b"2")
        release.set()
        assert (await first).status == 200
    assert [r.body for r in srv.requests] == [b"1"]
