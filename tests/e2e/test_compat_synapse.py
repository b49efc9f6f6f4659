"""A real Synapse homeserver pushes through the Matrix front door to the simulator.

Two users share a room; the recipient has two HTTP pushers pointing at pushgate, one with a
live APNs token and one with a token the simulator calls dead. A message must reach the
simulator for the live one, and Synapse must delete the dead pusher after pushgate rejects
its pushkey. Synapse blocks pushes to loopback addresses unless ``ip_range_whitelist`` allows
them, which its configuration here does for 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from compat_harness import gateway_with_doors
from harness import RunningGateway, new_token

from pushgate.simulator import Simulator

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

IOS = "com.example.chat.ios"
MATRIX = {
    "wait_timeout": 10.0,
    "app_ids": {IOS: {"app": "chat", "platform": "apns", "credential": "sandbox"}},
}
STARTUP_LIMIT = 120.0
PUSH_LIMIT = 30.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # type: ignore[no-any-return]


def _homeserver_config(directory: Path, port: int) -> Path:
    config = {
        "server_name": "localhost",
        "pid_file": str(directory / "homeserver.pid"),
        "listeners": [
            {
                "port": port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "tls": False,
                "resources": [{"names": ["client"], "compress": False}],
            }
        ],
        "database": {"name": "sqlite3", "args": {"database": str(directory / "homeserver.db")}},
        "media_store_path": str(directory / "media"),
        "signing_key_path": str(directory / "localhost.signing.key"),
        "report_stats": False,
        "enable_registration": True,
        "enable_registration_without_verification": True,
        "macaroon_secret_key": secrets.token_hex(16),
        "form_secret": secrets.token_hex(16),
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        "ip_range_whitelist": ["127.0.0.1/32"],
        "push": {"include_content": True},
        "rc_message": {"per_second": 1000, "burst_count": 1000},
        "rc_registration": {"per_second": 1000, "burst_count": 1000},
        "rc_joins": {"local": {"per_second": 1000, "burst_count": 1000}},
    }
    path = directory / "homeserver.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


async def _run(*args: str, log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "synapse.app.homeserver", *args, stdout=out, stderr=out
        )


@pytest.fixture
async def homeserver(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A Synapse on 127.0.0.1, stopped at the end."""
    directory = tmp_path / "synapse"
    directory.mkdir()
    port = _free_port()
    config = _homeserver_config(directory, port)
    log = directory / "synapse.log"
    keys = await _run("-c", str(config), "--generate-keys", log=log)
    async with asyncio.timeout(STARTUP_LIMIT):
        assert await keys.wait() == 0, log.read_text()[-3000:]
    server = await _run("-c", str(config), log=log)
    client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30)
    try:
        async with asyncio.timeout(STARTUP_LIMIT):
            while True:
                assert server.returncode is None, log.read_text()[-3000:]
                try:
                    if (await client.get("/_matrix/client/versions")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.5)
        yield client
    finally:
        await client.aclose()
        server.terminate()
        async with asyncio.timeout(30):
            await server.wait()


@pytest.fixture
async def gw(tmp_path: Path, sim: Simulator) -> AsyncIterator[RunningGateway]:
    async with gateway_with_doors(tmp_path, sim, matrix=MATRIX) as running:
        yield running


async def _register(hs: httpx.AsyncClient, user: str) -> dict[str, str]:
    body = {"username": user, "password": secrets.token_hex(12), "auth": {"type": "m.login.dummy"}}
    response = await hs.post("/_matrix/client/v3/register", json=body)
    assert response.status_code == 200, response.text
    return {"authorization": f"Bearer {response.json()['access_token']}"}


async def _call(hs: httpx.AsyncClient, method: str, path: str, auth: dict, **kw: Any) -> Any:
    response = await hs.request(method, "/_matrix/client/v3" + path, headers=auth, **kw)
    assert response.status_code == 200, response.text
    return response.json()


async def test_synapse_pushes_a_message_and_drops_a_dead_pusher(
    homeserver: httpx.AsyncClient, gw: RunningGateway, sim: Simulator
):
    alice, bob = await _register(homeserver, "alice"), await _register(homeserver, "bob")
    live, dead = new_token(), new_token()
    sim.mark_dead(dead)
    pushkeys = {token: base64.b64encode(bytes.fromhex(token)).decode() for token in (live, dead)}
    for token, pushkey in pushkeys.items():
        pusher = {
            "kind": "http",
            "app_id": IOS,
            "pushkey": pushkey,
            "app_display_name": "Chat",
            "device_display_name": f"phone {token[:4]}",
            "lang": "en",
            "append": True,
            "data": {"url": f"{gw.url}/_matrix/push/v1/notify"},
        }
        await _call(homeserver, "POST", "/pushers/set", bob, json=pusher)
    room = await _call(
        homeserver,
        "POST",
        "/createRoom",
        alice,
        json={"invite": ["@bob:localhost"], "is_direct": True, "preset": "trusted_private_chat"},
    )
    room_id = room["room_id"]
    await _call(homeserver, "POST", f"/join/{room_id}", bob, json={})
    message = {"msgtype": "m.text", "body": "lunch at noon?"}
    sent = await _call(
        homeserver, "PUT", f"/rooms/{room_id}/send/m.room.message/t1", alice, json=message
    )
    async with asyncio.timeout(PUSH_LIMIT):
        while not (pushed := _pushed(sim, live, sent["event_id"])):  # noqa: ASYNC110
            await asyncio.sleep(0.2)  # the simulator's inbox has nothing to wait on
    assert pushed.payload["aps"]["alert"]["body"] == "lunch at noon?"
    assert pushed.payload["room_id"] == room_id and pushed.priority == 10
    async with asyncio.timeout(PUSH_LIMIT):
        while True:
            left = (await _call(homeserver, "GET", "/pushers", bob))["pushers"]
            if [p["pushkey"] for p in left] == [pushkeys[live]]:
                break
            await asyncio.sleep(0.2)
    assert all(n.payload.get("event_id") != sent["event_id"] for n in sim.inbox.query(token=dead))


def _pushed(sim: Simulator, token: str, event_id: str) -> Any:
    found = [n for n in sim.inbox.query(token=token) if n.payload.get("event_id") == event_id]
    return found[0] if found else None
