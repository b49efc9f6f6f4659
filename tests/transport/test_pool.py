"""HTTP2Pool scheduling, connection errors and lifecycle, against the h2 test server."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable

import pytest
from h2_fault_server import FaultServer, Request, ServerConnection, until
from transport_testkit import PKI

from pushgate.transport import (
    ConnectError,
    ConnectionLost,
    HTTP2Pool,
    Origin,
    RequestTimeout,
    client_context,
)

pytestmark = pytest.mark.timeout(30)

MakeOrigin = Callable[..., Origin]


def server(pki: PKI, handler: object = None, **kwargs: object) -> FaultServer:
    if handler is not None:
        kwargs["handler"] = handler
    return FaultServer(pki.server_cert, pki.server_key, **kwargs)  # type: ignore[arg-type]


async def slow(request: Request, conn: ServerConnection) -> None:
    await asyncio.sleep(0.1)
    conn.respond(request.stream_id, 200, [(b"x-conn", str(id(conn)).encode())])


async def test_opens_another_connection_only_when_all_are_full(
    pki: PKI, make_origin: MakeOrigin
) -> None:
    async with server(pki, slow, settings={0x3: 2}) as srv, HTTP2Pool() as pool:
        origin = make_origin(srv.port)
        await pool.request(origin, b"/warm")
        assert len(srv.connections) == 1
        responses = await asyncio.gather(*(pool.request(origin, b"/x") for _ in range(7)))
        stats = pool.stats()[origin]
    assert len(srv.connections) == 2  # the limit: the rest waited for free streams
    assert len({r.header(b"x-conn") for r in responses}) == 2
    assert max(r.open_streams for r in srv.requests) == 2
    assert stats == {
        "connections": 2,
        "opening": 0,
        "draining": 0,
        "in_flight": 0,
        "max_streams": 4,
        "waiting": 0,
    }


@pytest.mark.parametrize("limit", [1, 3])
async def test_an_origin_sets_its_own_connection_limit(
    pki: PKI, make_origin: MakeOrigin, limit: int
) -> None:
    """Each platform sizes its partitions (Origin.connections) whatever the pool's default."""
    async with server(pki, slow, settings={0x3: 1}) as srv, HTTP2Pool() as pool:
        origin = make_origin(srv.port, connections=limit)
        await asyncio.gather(*(pool.request(origin, b"/x") for _ in range(6)))
    assert len(srv.connections) == limit


def test_an_origin_needs_a_connection() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Origin("127.0.0.1", 443, ssl.create_default_context(), connections=0)


async def test_a_refused_request_is_resent_on_another_connection(
    pki: PKI, make_origin: MakeOrigin
) -> None:
    """A connection that refuses at once (a server draining before its GOAWAY) looks the least
    busy; the resend goes to another connection instead of spending every try on it."""
    refusing: list[ServerConnection] = []

    async def handler(request: Request, conn: ServerConnection) -> None:
        if request.header(b":path") == b"/warm":
            await asyncio.sleep(0.1)  # keeps both streams busy: two connections open
            conn.respond(request.stream_id, 200)
        elif not refusing or conn is refusing[0]:
            refusing[:1] = [conn]
            conn.reset(request.stream_id, 0x7)  # REFUSED_STREAM
        else:
            conn.respond(request.stream_id, 200)

    async with server(pki, handler, settings={0x3: 1}) as srv, HTTP2Pool() as pool:
        origin = make_origin(srv.port, connections=2)
        await asyncio.gather(pool.request(origin, b"/warm"), pool.request(origin, b"/warm"))
        assert len(srv.connections) == 2
        for _ in range(5):
            assert (await pool.request(origin, b"/x")).status == 200
    sent = [r for r in srv.requests if r.header(b":path") == b"/x"]
    assert len(sent) <= 10  # each request refused at most once, then answered elsewhere


async def test_a_draining_connection_takes_no_new_request(
    pki: PKI, make_origin: MakeOrigin
) -> None:
    """After a graceful GOAWAY the connection finishes what it has and gets nothing new, even
    while it has free streams and is the partition's only connection."""

    async def handler(request: Request, conn: ServerConnection) -> None:
        if srv.connections.index(conn) == 0:
            conn.goaway(2**31 - 1)  # graceful: everything sent so far will be answered
            await asyncio.sleep(0.3)
        conn.respond(
            request.stream_id, 200, [(b"x-conn", str(srv.connections.index(conn)).encode())]
        )

    async with server(pki, handler) as srv, HTTP2Pool(connections_per_origin=1) as pool:
        origin = make_origin(srv.port)
        slow = asyncio.ensure_future(pool.request(origin, b"/slow"))
        await until(lambda: pool.stats().get(origin, {}).get("draining") == 1)
        fresh = await pool.request(origin, b"/x")
        assert fresh.header(b"x-conn") == b"1"
        assert (await slow).header(b"x-conn") == b"0"
    assert [
        len([r for r in srv.requests if r.header(b":path") == p]) for p in (b"/slow", b"/x")
    ] == [1, 1]


async def test_waiting_requests_are_served_in_fifo_order(pki: PKI, make_origin: MakeOrigin) -> None:
    one_connection = HTTP2Pool(connections_per_origin=1)
    async with server(pki, slow, settings={0x3: 1}) as srv, one_connection as pool:
        origin = make_origin(srv.port)
        await pool.request(origin, b"/warm")
        tasks = []
        for i in range(6):
            tasks.append(asyncio.create_task(pool.request(origin, b"/%d" % i)))
            await asyncio.sleep(0)
        await asyncio.gather(*tasks)
    assert [r.header(b":path") for r in srv.requests[1:]] == [b"/%d" % i for i in range(6)]


async def test_waiting_for_a_stream_times_out_as_unprocessed(
    pki: PKI, make_origin: MakeOrigin
) -> None:
    async def hang(request: Request, conn: ServerConnection) -> None:
        await asyncio.sleep(5)

    one_connection = HTTP2Pool(connections_per_origin=1)
    async with server(pki, hang, settings={0x3: 1}) as srv, one_connection as pool:
        origin = make_origin(srv.port)
        first = asyncio.create_task(pool.request(origin, b"/hang"))
        await until(lambda: srv.requests)
        with pytest.raises(RequestTimeout) as info:
            await pool.request(origin, b"/queued", timeout=0.2)
        assert info.value.unprocessed and info.value.retryable
        first.cancel()
    assert len(srv.requests) == 1


async def test_partitions_never_share_connections(pki: PKI, make_origin: MakeOrigin) -> None:
    context = client_context(ca_file=pki.ca_file)
    async with server(pki) as srv, HTTP2Pool() as pool:
        team_a = Origin("127.0.0.1", srv.port, context, partition="apns:a")
        team_b = Origin("127.0.0.1", srv.port, context, partition="apns:b")
        assert team_a != team_b and team_a == Origin(
            "127.0.0.1", srv.port, context, partition="apns:a"
        )
        for origin in (team_a, team_b, team_a):
            await pool.request(origin, b"/x")
    assert len(srv.connections) == 2


async def test_closed_connection_is_replaced(pki: PKI, make_origin: MakeOrigin) -> None:
    async def answer_then_close(request: Request, conn: ServerConnection) -> None:
        conn.respond(request.stream_id, 200)
        await asyncio.sleep(0.01)
        conn.close()

    async with server(pki, answer_then_close) as srv, HTTP2Pool() as pool:
        origin = make_origin(srv.port)
        for _ in range(3):
            assert (await pool.request(origin, b"/x")).status == 200
            await until(lambda: pool.stats()[origin]["connections"] == 0)
    assert len(srv.connections) == 3


async def test_idle_connection_is_closed(pki: PKI, make_origin: MakeOrigin) -> None:
    async with server(pki) as srv, HTTP2Pool(idle_timeout=0.2) as pool:
        origin = make_origin(srv.port)
        await pool.request(origin, b"/x")
        await until(lambda: srv.connections[0].transport is None)
        await pool.request(origin, b"/x")
    assert len(srv.connections) == 2


async def test_aclose_fails_open_requests_and_refuses_new_ones(
    pki: PKI, make_origin: MakeOrigin
) -> None:
    async def hang(request: Request, conn: ServerConnection) -> None:
        await asyncio.sleep(5)

    async with server(pki, hang) as srv:
        pool = HTTP2Pool()
        origin = make_origin(srv.port)
        task = asyncio.create_task(pool.request(origin, b"/hang"))
        await until(lambda: srv.requests)
        await pool.aclose()
        with pytest.raises(ConnectionLost, match="pool was closed") as info:
            await task
        assert not info.value.unprocessed
        with pytest.raises(RuntimeError):
            await pool.request(origin, b"/x")


async def test_alpn_without_h2_is_a_connect_error(pki: PKI, make_origin: MakeOrigin) -> None:
    async with server(pki, alpn=("http/1.1",)) as srv, HTTP2Pool() as pool:
        with pytest.raises(ConnectError, match="ALPN") as info:
            await pool.request(make_origin(srv.port), b"/x")
    assert info.value.retryable


async def test_untrusted_certificate_is_a_connect_error(
    pki: PKI, make_origin: MakeOrigin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", pki.ca_file)  # must not add trust
    context = client_context(ca_file=pki.other_ca_file)
    async with server(pki) as srv, HTTP2Pool() as pool:
        with pytest.raises(ConnectError, match="certificate verification failed") as info:
            await pool.request(make_origin(srv.port, context=context), b"/x")
    assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)
    assert not srv.requests


async def test_certificate_name_mismatch_is_a_connect_error(
    pki: PKI, make_origin: MakeOrigin
) -> None:
    async with server(pki) as srv, HTTP2Pool() as pool:
        with pytest.raises(ConnectError):
            await pool.request(make_origin(srv.port, server_hostname="push.invalid"), b"/x")


async def test_server_name_and_authority_are_used(pki: PKI, make_origin: MakeOrigin) -> None:
    async with server(pki) as srv, HTTP2Pool() as pool:
        origin = make_origin(srv.port, server_hostname="localhost", authority="api.example")
        await pool.request(origin, b"/x")
        await pool.request(make_origin(srv.port), b"/y")
    assert srv.requests[0].header(b":authority") == b"api.example"
    assert srv.requests[1].header(b":authority") == b"127.0.0.1:%d" % srv.port


async def test_client_certificate_is_presented(pki: PKI, make_origin: MakeOrigin) -> None:
    with_cert = client_context(
        ca_file=pki.ca_file, cert_pem=pki.client_cert_pem, key_pem=pki.client_key_pem
    )
    async with server(pki, client_ca_file=pki.ca_file) as srv, HTTP2Pool() as pool:
        assert (await pool.request(make_origin(srv.port, context=with_cert), b"/x")).status == 200
        with pytest.raises(ConnectError):
            await pool.request(make_origin(srv.port), b"/x")
    subject = srv.connections[0].peer_subject
    assert (("commonName", "pushgate test client"),) in subject["subject"]  # type: ignore[index]


async def test_refused_connection_is_a_connect_error(make_origin: MakeOrigin) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        async with HTTP2Pool() as pool:
            with pytest.raises(ConnectError, match="cannot connect"):
                await pool.request(make_origin(port), b"/x")


async def test_silent_server_is_a_connect_timeout(make_origin: MakeOrigin) -> None:
    writers: list[asyncio.StreamWriter] = []
    server = await asyncio.start_server(lambda r, w: writers.append(w), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, HTTP2Pool(connect_timeout=0.3) as pool:
        with pytest.raises(ConnectError, match="timed out"):
            await pool.request(make_origin(port), b"/x")
        for writer in writers:
            writer.close()


def test_invalid_configuration_is_rejected() -> None:
    with pytest.raises(ValueError):
        HTTP2Pool(connections_per_origin=0)
    with pytest.raises(ValueError):
        HTTP2Pool(request_timeout=0)
