"""The dual HTTP/2 + HTTP/1.1 listener: ALPN choice, keep-alive, pipelining, garbage, shutdown."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

from sim_h2_client import H2TestClient, client_context

from pushgate.simulator import Simulator, SimulatorSettings


def _http1_context(sim: Simulator, alpn: list[str] | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=sim.ca_file)
    if alpn is not None:
        context.set_alpn_protocols(alpn)
    return context


async def _open(
    sim: Simulator, alpn: list[str] | None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", sim.fcm_port, ssl=_http1_context(sim, alpn)), 5
    )


async def test_h2_is_chosen_by_alpn(sim: Simulator) -> None:
    client = await H2TestClient.connect(sim.fcm_port, client_context(sim.ca_file))

    answer = await client.request("/token", [], b"grant_type=x&assertion=y")
    await client.close()

    assert answer.status == 400
    assert answer.json()["error"] == "unsupported_grant_type"


async def test_pipelined_requests_on_one_connection_without_alpn(sim: Simulator) -> None:
    reader, writer = await _open(sim, None)
    request = (
        b"POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 12\r\n\r\n"
        b"grant_type=x"
    )
    writer.write(request * 2 + b"GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")

    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()

    assert data.count(b"HTTP/1.1 400 Bad Request\r\n") == 2
    assert data.count(b"HTTP/1.1 404 Not Found\r\n") == 1
    assert data.count(b"unsupported_grant_type") == 2


async def test_garbage_gets_400_and_a_closed_connection(sim: Simulator) -> None:
    reader, writer = await _open(sim, ["http/1.1"])
    writer.write(b"\x00\x01 not http\r\n\r\n")

    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()

    assert data.startswith(b"HTTP/1.1 400 ")


async def test_shutdown_closes_idle_http1_connections(tmp_path: Path) -> None:
    sim = Simulator(SimulatorSettings(state_dir=tmp_path))
    await sim.start()
    reader, writer = await _open(sim, ["http/1.1"])
    writer.write(b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
    await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)

    await asyncio.wait_for(sim.aclose(), 5)

    remaining = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert b"HTTP/1.1" not in remaining
