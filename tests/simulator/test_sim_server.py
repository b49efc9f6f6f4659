"""The protocol-generic HTTP/2 server core: flow control both ways, handler errors, ALPN, exports."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sim_h2_client import H2TestClient, client_context

import pushgate.simulator
from pushgate.simulator import SimulatorCA
from pushgate.simulator.server import (
    H2Listener,
    H2ServerConnection,
    Request,
    Response,
    server_ssl_context,
)


class EchoHandler:
    """Answers with the request body repeated ``?times=N`` (a real handler, for the core's sake)."""

    def __init__(self) -> None:
        self.connections: list[H2ServerConnection] = []

    def connection_made(self, conn: H2ServerConnection) -> None:
        self.connections.append(conn)

    def connection_lost(self, conn: H2ServerConnection) -> None:
        self.connections.remove(conn)

    def handle(self, conn: H2ServerConnection, request: Request) -> Response:
        if request.path == "/boom":
            raise RuntimeError("handler bug")
        times = int(request.path.partition("times=")[2] or 1)
        return Response(200, (("x-received", str(len(request.body))),), request.body * times)


@pytest.fixture
async def echo(tmp_path: Path) -> AsyncIterator[tuple[H2Listener, str]]:
    ca = SimulatorCA.create()
    ca.save(tmp_path)
    context = server_ssl_context(str(tmp_path / "server.pem"), str(tmp_path / "server.key"))
    listener = H2Listener(EchoHandler(), context)
    await listener.start()
    yield listener, str(tmp_path / "ca.pem")
    await listener.aclose()


def _client(ca_file: str, http2: bool = True) -> httpx.AsyncClient:
    context = ssl.create_default_context(cafile=ca_file)
    return httpx.AsyncClient(http2=http2, http1=not http2, verify=context, timeout=10)


async def test_large_bodies_respect_flow_control_both_ways(
    echo: tuple[H2Listener, str],
) -> None:
    listener, ca_file = echo
    upload = bytes(range(256)) * 800  # 204,800 bytes: beyond the 65,535-byte initial windows

    async with _client(ca_file) as client:
        answer = await client.post(
            f"https://127.0.0.1:{listener.port}/echo?times=3", content=upload
        )

    assert answer.http_version == "HTTP/2"
    assert answer.headers["x-received"] == str(len(upload))
    assert answer.content == upload * 3


async def test_answers_wait_for_a_small_client_window(echo: tuple[H2Listener, str]) -> None:
    listener, ca_file = echo
    client = await H2TestClient.connect(listener.port, client_context(ca_file), window=1024)

    answer = await client.request("/echo?times=5000", [], b"0123456789abcdef")

    assert answer.status == 200
    assert answer.body == b"0123456789abcdef" * 5000  # 80 kB through a 1 kB stream window
    await client.close()


async def test_concurrent_requests_on_one_connection(echo: tuple[H2Listener, str]) -> None:
    listener, ca_file = echo
    url = f"https://127.0.0.1:{listener.port}/echo"

    async with _client(ca_file) as client:
        answers = await asyncio.gather(*(client.post(url, content=b"x" * n) for n in range(1, 21)))

    assert [len(a.content) for a in answers] == list(range(1, 21))
    assert len(listener.connections) == 1


async def test_ping_is_answered(echo: tuple[H2Listener, str]) -> None:
    listener, ca_file = echo
    client = await H2TestClient.connect(listener.port, client_context(ca_file))

    client.conn.ping(b"pushgate")
    client.flush()

    await client.wait_for(lambda: client.ping_acks == [b"pushgate"])
    await client.close()


async def test_a_failing_handler_answers_500(echo: tuple[H2Listener, str]) -> None:
    listener, ca_file = echo

    async with _client(ca_file) as client:
        answer = await client.post(f"https://127.0.0.1:{listener.port}/boom", content=b"x")
        after = await client.post(f"https://127.0.0.1:{listener.port}/echo", content=b"ok")

    assert answer.status_code == 500
    assert after.content == b"ok"


async def test_http1_clients_are_refused(echo: tuple[H2Listener, str]) -> None:
    listener, ca_file = echo

    async with _client(ca_file, http2=False) as client:
        with pytest.raises(httpx.TransportError):
            await client.get(f"https://127.0.0.1:{listener.port}/")


async def test_a_client_without_alpn_speaks_http2_with_prior_knowledge(
    echo: tuple[H2Listener, str],
) -> None:
    """APNs serves clients that offer no ALPN (aioapns offers none)."""
    listener, ca_file = echo
    context = ssl.create_default_context(cafile=ca_file)  # no set_alpn_protocols

    client = await H2TestClient.connect(listener.port, context)
    answer = await client.request("/", [], b"ping")
    await client.close()

    assert answer.status == 200


def test_public_names() -> None:
    public = {name for name in dir(pushgate.simulator) if not name.startswith("_")}
    modules = {
        "apns", "apns_auth", "apns_reasons", "apns_checks", "apns_state", "app", "certs", "control",
        "control_common", "control_services", "counters", "faults", "fcm", "fcm_auth", "fcm_checks",
        "fcm_errors", "fcm_state", "http1", "inbox", "server", "service_faults", "settings",
        "webpush", "webpush_auth", "webpush_crypto", "webpush_state",
    }  # fmt: skip

    assert set(pushgate.simulator.__all__) == public - modules
