"""The listeners' connection limits in pieces: the derived cap, the once-per-interval logs,
and TLS on the stock event loop (tests/e2e/test_connection_limits.py runs ``pushgate serve``)."""

from __future__ import annotations

import asyncio
import errno
import resource
import ssl
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from structlog.testing import capture_logs

from pushgate.api.connections import (
    ConnectionGuard,
    EveryInterval,
    ServerTls,
    accept_errors_logged_per_interval,
    default_max_connections,
    guarded,
)
from pushgate.simulator.certs import SimulatorCA


def test_the_default_cap_leaves_a_quarter_of_the_descriptors_and_shares_the_rest() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
        assert default_max_connections(1) == 768
        assert default_max_connections(2) == 384
        resource.setrlimit(resource.RLIMIT_NOFILE, (200, hard))
        assert default_max_connections(1) == 136  # at least 64 spare
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_an_event_is_logged_once_per_interval_with_the_count_left_unlogged() -> None:
    now = [0.0]
    limit = EveryInterval("connection_limit_reached", interval=10.0, clock=lambda: now[0])
    with capture_logs() as logged:
        for second in range(25):
            now[0] = float(second)
            for _ in range(100):
                limit.note(listener="api")
    assert [entry["unlogged"] for entry in logged] == [0, 999, 999]
    assert all(entry["event"] == "connection_limit_reached" for entry in logged)


async def test_the_stock_loop_logs_descriptors_running_out_at_accept_once() -> None:
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    accept_errors_logged_per_interval(loop)
    try:
        with capture_logs() as logged:
            for _ in range(500):  # what asyncio reports on each retry of a failing accept
                loop.call_exception_handler(
                    {
                        "message": "socket.accept() out of system resource",
                        "exception": OSError(errno.EMFILE, "Too many open files"),
                    }
                )
    finally:
        loop.set_exception_handler(previous)
    assert [(entry["event"], entry["error"]) for entry in logged] == [
        ("accept_out_of_resources", "EMFILE")
    ]


async def test_tls_on_the_stock_loop_serves_times_out_handshakes_and_makes_room(
    tmp_path: Path,
) -> None:
    """``pushgate serve`` runs on uvloop (tests/e2e/test_connection_limits.py); ``--simulator``
    and ``--demo`` on the stock loop, whose TLS layer the guard uses then."""
    assert type(asyncio.get_running_loop()).__module__.startswith("asyncio")
    SimulatorCA.load_or_create(tmp_path)
    tls = ServerTls(tmp_path / "server.pem", tmp_path / "server.key")
    guard = ConnectionGuard("test", max_connections=4, header_timeout=0.5, body_timeout=5, tls=tls)

    async def hello(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"hello"})

    config = uvicorn.Config(
        hello, http=guarded(guard), port=0, lifespan="off", log_level="warning", ws="none"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(5):
            while not server.started:  # noqa: ASYNC110 - uvicorn has no started event
                await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        trust = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
        silent = [await asyncio.open_connection("127.0.0.1", port) for _ in range(6)]
        async with httpx.AsyncClient(verify=trust) as client:  # over the cap: room is made
            assert (await client.get(f"https://127.0.0.1:{port}/")).text == "hello"
        started = time.monotonic()
        async with asyncio.timeout(3):
            for reader, _ in silent:  # made room for others, or never began the handshake
                assert await reader.read() == b""
        assert time.monotonic() - started < 2
        assert len(guard.open) == 0
    finally:
        server.should_exit = True
        await task
