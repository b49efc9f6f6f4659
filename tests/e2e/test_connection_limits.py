"""Issue 12 item 7: connection limits and slow-client time-outs on every listener.

Each test runs ``pushgate serve`` as a child process with a 256-descriptor limit and opens more
connections than that which send nothing, or a request head that never ends: ``/healthz`` and
sends keep working, the slow connections are closed after ``limits.header_timeout``, and the
log says so a bounded number of times, not once per connection.
"""

from __future__ import annotations

import asyncio
import os
import resource
import ssl
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import tomli_w
from harness import ADMIN_KEY, new_signing_key, new_token
from test_readme import free_port

from pushgate.simulator import Simulator
from pushgate.simulator.certs import SimulatorCA

DESCRIPTORS = 256
"""The gateway's RLIMIT_NOFILE: its default cap is then (256 - 64) / listeners."""
FLOOD = 400
"""Connections that send nothing: more than the gateway has descriptors."""
HEADER_TIMEOUT = 1.5
LIMIT_EVENT = b"connection_limit_reached"

pytestmark = pytest.mark.timeout(90)


def _low_descriptor_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (DESCRIPTORS, DESCRIPTORS))


def _settings(tmp_path: Path, sim: Simulator, port: int, **sections: Any) -> dict[str, Any]:
    return {
        "data_dir": str(tmp_path / "data"),
        "admin_api_key": ADMIN_KEY,
        "log_format": "json",
        "server": {"port": port},
        "apns": {
            "production_host": "127.0.0.1",
            "production_port": sim.apns_production_port,
            "sandbox_host": "127.0.0.1",
            "sandbox_port": sim.apns_sandbox_port,
            "ca_file": str(sim.ca_file),
        },
        "limits": {"header_timeout": HEADER_TIMEOUT, "body_timeout": 1.0, "idle_timeout": 1},
        **sections,
    }


@asynccontextmanager
async def gateway_process(
    tmp_path: Path, settings: dict[str, Any], health_url: str, verify: ssl.SSLContext | bool = True
) -> AsyncIterator[Path]:
    """``pushgate serve`` under the low descriptor limit, ready; yields its log file."""
    config = tmp_path / "pushgate.toml"
    config.write_text(tomli_w.dumps(settings))
    log = tmp_path / "gateway.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUSHGATE_")}
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "pushgate", "serve", "--config", str(config)),
            env=env,
            stdout=output,
            stderr=output,
            preexec_fn=_low_descriptor_limit,
        )
    try:
        async with httpx.AsyncClient(verify=verify) as client, asyncio.timeout(30):
            while True:
                try:
                    if (await client.get(health_url)).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
        yield log
    finally:
        process.terminate()
        await process.wait()


Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def _flood(port: int, count: int) -> list[Connection]:
    """``count`` connections that send nothing."""
    return [await asyncio.open_connection("127.0.0.1", port) for _ in range(count)]


async def _slow_heads(port: int, count: int) -> list[Connection]:
    """``count`` connections that start a request head and never finish it."""
    slow = await _flood(port, count)
    for _, writer in slow:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: pushgate\r\n")
    return slow


async def _closed_by_server(reader: asyncio.StreamReader) -> bool:
    try:
        return await reader.read(1024) == b""
    except ConnectionError:
        return True


def _close(connections: list[Connection]) -> None:
    for _, writer in connections:
        writer.close()


async def _timed_health(url: str, verify: ssl.SSLContext | bool = True) -> float:
    """Seconds a new client takes to get a 200 from ``url``."""
    started = time.monotonic()
    async with httpx.AsyncClient(verify=verify, timeout=5) as client:
        response = await client.get(url)
    assert response.status_code == 200, response.text
    return time.monotonic() - started


async def test_a_flood_of_idle_and_slow_connections_leaves_room_for_health_and_sends(
    tmp_path: Path, sim: Simulator
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    async with gateway_process(tmp_path, _settings(tmp_path, sim, port), f"{url}/healthz") as log:
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            admin = {"authorization": f"Bearer {ADMIN_KEY}"}
            created = await http.post("/v1/apps", json={"name": "flood"}, headers=admin)
            app = {"authorization": f"Bearer {created.json()['api_key']}"}
            credential = {**new_signing_key(sim), "environment": "sandbox"}
            assert (await http.put("/v1/credentials/apns", json=credential, headers=app)).is_success
            token = new_token()
            device = {"user_id": "u", "platform": "apns", "token": token, "environment": "sandbox"}
            assert (await http.post("/v1/devices", json=device, headers=app)).is_success

        idle = await _flood(port, FLOOD)
        slow = await _slow_heads(port, 20)
        try:
            assert await _timed_health(f"{url}/healthz") < 2.0
            async with httpx.AsyncClient(base_url=url, timeout=5, headers=app) as api:
                sent = await api.post(
                    "/v1/notifications?wait=true", json={"user_ids": ["u"], "alert": {"body": "x"}}
                )
            assert sent.status_code in (200, 202), sent.text
            async with asyncio.timeout(10):
                while not sim.inbox.query(token=token):  # noqa: ASYNC110 - the inbox has no event
                    await asyncio.sleep(0.05)
            async with asyncio.timeout(HEADER_TIMEOUT + 3):  # closed for room or for time
                closed = await asyncio.gather(*(_closed_by_server(r) for r, _ in slow))
            assert all(closed)
            more_idle = await _flood(port, FLOOD)  # the cap again, and again room for a client
            assert await _timed_health(f"{url}/healthz") < 2.0
            _close(more_idle)
        finally:
            _close(idle + slow)
    text = log.read_bytes()
    assert b"Too many open files" not in text and b"accept_out_of_resources" not in text
    events = [orjson.loads(line) for line in text.splitlines() if LIMIT_EVENT in line]
    assert 1 <= len(events) <= 3, events  # once per 10 s, not once per connection (800 over it)
    assert events[0]["max_connections"] == DESCRIPTORS - 64
    assert len(text) < 20_000


async def test_slow_heads_stalled_bodies_and_idle_keep_alives_are_closed(
    tmp_path: Path, sim: Simulator
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    async with gateway_process(tmp_path, _settings(tmp_path, sim, port), f"{url}/healthz"):
        started = time.monotonic()
        silent = await _flood(port, 3)
        (slow_reader, slow_writer), *_ = await _slow_heads(port, 1)
        for _ in range(3):  # a byte now and then does not reset the deadline
            await asyncio.sleep(0.3)
            slow_writer.write(b"X-Slow: 1\r\n")
        async with asyncio.timeout(HEADER_TIMEOUT + 2):
            assert await _closed_by_server(slow_reader)
        assert time.monotonic() - started >= HEADER_TIMEOUT - 0.2

        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /v1/notifications HTTP/1.1\r\nHost: pushgate\r\n"
            b"Authorization: Bearer nobody\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n" + b'{"tokens": ['
        )
        async with asyncio.timeout(5):
            answer = await reader.read()  # the answer, then the connection closes
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408 "), answer
        assert b"connection: close" in head.lower()
        assert orjson.loads(body)["error"]["code"] == "body_timeout"

        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: pushgate\r\n\r\n")
        async with asyncio.timeout(5):
            assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200 ")
            kept_since = time.monotonic()
            await reader.read()  # the body, then the end: limits.idle_timeout = 1 s later
        assert time.monotonic() - kept_since >= 0.8

        async with asyncio.timeout(2):  # the silent ones went at their deadline too
            for reader, _ in silent:
                assert await _closed_by_server(reader)


async def test_tls_listeners_count_and_time_out_handshakes_too(
    tmp_path: Path, sim: Simulator
) -> None:
    """The API and a Mattermost door's own listener over TLS: connections that never start
    the handshake hold neither listener."""
    certs = tmp_path / "certs"
    SimulatorCA.load_or_create(certs)
    tls = {"tls_cert_file": str(certs / "server.pem"), "tls_key_file": str(certs / "server.key")}
    port, door_port = free_port(), free_port()
    door = {
        "app": "chat",
        "listener": {"host": "127.0.0.1", "port": door_port, **tls},
        "platforms": {"apple_rn": {"platform": "apns"}},
    }
    settings = _settings(tmp_path, sim, port, mattermost=[door])
    settings["server"] = {"port": port, **tls}
    trust = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    health = f"https://127.0.0.1:{port}/healthz"
    door_root = f"https://127.0.0.1:{door_port}/"
    async with gateway_process(tmp_path, settings, health, verify=trust) as log:
        await _timed_health(door_root, trust)  # the door's listener is up too
        idle = await _flood(port, FLOOD // 2) + await _flood(door_port, FLOOD // 2)
        try:
            assert await _timed_health(health, trust) < 2.0
            assert await _timed_health(door_root, trust) < 2.0
            (reader, _), *_ = late = await _flood(door_port, 1)
            async with asyncio.timeout(HEADER_TIMEOUT + 2):  # no handshake: closed in time
                assert await _closed_by_server(reader)
        finally:
            _close(idle + late)
    events = [orjson.loads(line) for line in log.read_bytes().splitlines() if LIMIT_EVENT in line]
    assert {event["listener"] for event in events} == {"api", "mattermost:chat"}
    assert len(events) <= 4, events
    assert {event["max_connections"] for event in events} == {(DESCRIPTORS - 64) // 2}
