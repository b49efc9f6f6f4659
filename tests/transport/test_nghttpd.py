"""Against nghttpd, nghttp2's C server: concurrency, flow control with tiny windows, padding."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from pushgate.transport import HTTP2Pool, Origin

pytestmark = pytest.mark.timeout(60)

StartServer = Callable[..., tuple[int, Path]]
MakeOrigin = Callable[..., Origin]
HEADERS = ((b"apns-topic", b"com.example.app"), (b"authorization", b"bearer " + b"k" * 200))


async def test_two_thousand_requests_over_one_connection(
    nghttpd: StartServer, make_origin: MakeOrigin
) -> None:
    port, htdocs = nghttpd("-m", "1000")
    (htdocs / "device").write_bytes(b"")
    origin = make_origin(port)
    async with HTTP2Pool(connections_per_origin=1) as pool:
        calls = [
            pool.request(
                origin,
                b"/device",
                headers=HEADERS,
                volatile_headers=[(b"apns-id", b"%d" % i)],
                body=b"p" * 250,
            )
            for i in range(2000)
        ]
        responses = await asyncio.gather(*calls)
        stats = pool.stats()[origin]
    assert {r.status for r in responses} == {200}
    assert stats["connections"] == 1 and stats["max_streams"] == 1000


async def test_tiny_windows_with_large_bodies_both_ways(
    nghttpd: StartServer, make_origin: MakeOrigin
) -> None:
    port, _ = nghttpd("-w", "10", "-W", "10", "--echo-upload")  # 1023-byte windows
    bodies = [bytes([i]) * 65536 for i in range(8)]
    async with HTTP2Pool() as pool:
        origin = make_origin(port)
        responses = await asyncio.gather(
            *(pool.request(origin, b"/echo", body=body) for body in bodies)
        )
    assert [r.body for r in responses] == bodies


async def test_one_stream_at_a_time(nghttpd: StartServer, make_origin: MakeOrigin) -> None:
    port, _ = nghttpd("-m", "1", "--echo-upload")
    async with HTTP2Pool(connections_per_origin=1) as pool:
        origin = make_origin(port)
        calls = [pool.request(origin, b"/e", body=b"%d" % i) for i in range(50)]
        responses = await asyncio.gather(*calls)
        assert pool.stats()[origin]["max_streams"] == 1
    assert [r.body for r in responses] == [b"%d" % i for i in range(50)]


async def test_padded_frames_and_trailers(nghttpd: StartServer, make_origin: MakeOrigin) -> None:
    port, htdocs = nghttpd("-b", "200", "--trailer", "x-trailer: done")
    (htdocs / "file").write_bytes(b"content " * 100)
    async with HTTP2Pool() as pool:
        origin = make_origin(port)
        responses = await asyncio.gather(
            *(pool.request(origin, b"/file", method=b"GET") for _ in range(20))
        )
    for response in responses:
        assert response.status == 200 and response.body == b"content " * 100
        assert response.header(b"x-trailer") == b"done"


async def test_large_downloads_return_receive_window(
    nghttpd: StartServer, make_origin: MakeOrigin
) -> None:
    port, htdocs = nghttpd()
    data = bytes(range(256)) * (3 * 4096)  # 3 MiB: beyond one stream window (1 MiB)
    (htdocs / "big").write_bytes(data)
    async with HTTP2Pool() as pool:
        origin = make_origin(port)
        calls = [pool.request(origin, b"/big", method=b"GET") for _ in range(8)]
        responses = await asyncio.gather(*calls)  # 24 MiB: beyond the connection window
    assert all(r.body == data for r in responses)


async def test_missing_file_is_a_response_not_an_error(
    nghttpd: StartServer, make_origin: MakeOrigin
) -> None:
    port, _ = nghttpd()
    async with HTTP2Pool() as pool:
        response = await pool.request(make_origin(port), b"/3/device/nothing", body=b"{}")
    assert response.status == 404 and response.body
    assert response.header(b"server") is not None


def test_runs_on_uvloop(nghttpd: StartServer, make_origin: MakeOrigin) -> None:
    uvloop = pytest.importorskip("uvloop")
    port, htdocs = nghttpd("-m", "100")
    (htdocs / "x").write_bytes(b"")

    async def main() -> set[int]:
        async with HTTP2Pool() as pool:
            origin = make_origin(port)
            calls = [pool.request(origin, b"/x", headers=HEADERS, body=b"u") for _ in range(300)]
            return {r.status for r in await asyncio.gather(*calls)}

    assert uvloop.run(main()) == {200}
