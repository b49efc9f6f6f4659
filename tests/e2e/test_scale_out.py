"""Three gateways on one PostgreSQL outbox, one killed half-way: nothing lost, few duplicates.

Each gateway is a real ``pushgate serve`` process (with its dispatcher process) on a shared
schema; sends go through all three APIs to the simulator over TLS + HTTP/2. The test counts
what the simulator received per notification and prints the figures.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from pathlib import Path

import asyncpg
import httpx
import pytest
from harness import ADMIN_KEY, new_signing_key, new_token
from test_durability import children_of, free_port, gateway_process, gone, write_config

from backends import store_settings
from pushgate.simulator import Simulator

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

GATEWAYS = 3
NOTIFICATIONS = 30_000
BATCH = 1_000
DEVICES = 300
WINDOW = 2_000
LEASE = 3.0


def shared_config(tmp_path: Path, index: int, sim: Simulator, store: dict) -> tuple[Path, str]:
    """Gateway ``index``'s config: its own port and data dir, the shared store and secret."""
    port = free_port()
    folder = tmp_path / f"gw{index}"
    folder.mkdir()
    config = write_config(folder, folder / "data", port, sim, {**store, "lease_seconds": LEASE})
    config.write_text(
        config.read_text().replace("[dispatch]\n", f"[dispatch]\nwindow = {WINDOW}\n")
    )
    config.write_text(
        config.read_text().replace(
            'log_level = "warning"',
            'log_level = "warning"\nsecret_key = "shared-secret-of-all-gateways"',
        )
    )
    return config, f"http://127.0.0.1:{port}"


async def test_three_gateways_share_one_outbox_and_survive_a_sigkill(
    tmp_path: Path, sim: Simulator
) -> None:
    async with store_settings("postgresql", tmp_path) as store:
        configs = [shared_config(tmp_path, i, sim, store) for i in range(GATEWAYS)]
        tokens = [new_token() for _ in range(DEVICES)]
        async with (
            gateway_process(*configs[0]),
            gateway_process(*configs[1]) as victim,
            gateway_process(*configs[2]),
        ):
            urls = [url for _, url in configs]
            app_key = await _set_up_app(urls, sim, tokens)
            clients = [
                httpx.AsyncClient(
                    base_url=url,
                    timeout=30,
                    headers={"authorization": f"Bearer {app_key}"},
                    # below the server's 5-s keep-alive: never reuse a connection it may close
                    limits=httpx.Limits(keepalive_expiry=2),
                )
                for url in urls
            ]
            try:
                ids, held_at_kill = await _send_all(clients, tokens, victim, sim, store)
                started = time.monotonic()
                states = await _wait_all_final(store, sim)
                drained_in = time.monotonic() - started
                for notification_id in ids[:: len(ids) // 20]:  # the API agrees, sampled
                    report = (await clients[2].get(f"/v1/notifications/{notification_id}")).json()
                    assert report["counts"] == {"delivered": 1}, report
            finally:
                for client in clients:
                    await client.aclose()
        copies = Counter(n.payload["n"] for n in sim.inbox.query())
        lost = [i for i in range(NOTIFICATIONS) if copies[i] == 0]
        duplicated = sum(count - 1 for count in copies.values() if count > 1)
        print(
            f"\n{NOTIFICATIONS} accepted through {GATEWAYS} gateways, one SIGKILLed half-way "
            f"holding {held_at_kill} claimed deliveries: {len(lost)} lost, {duplicated} "
            f"duplicates (bound: the killed gateway's window of {WINDOW}); drained "
            f"{drained_in:.1f} s after the last accept"
        )
        assert len(ids) == NOTIFICATIONS and states == {"delivered": NOTIFICATIONS}
        assert lost == []
        assert held_at_kill > 0  # the takeover was exercised
        assert duplicated <= min(held_at_kill, WINDOW)


async def _set_up_app(urls: list[str], sim: Simulator, tokens: list[str]) -> str:
    """An app, its credential and its devices, each created through a different gateway."""
    async with httpx.AsyncClient(
        base_url=urls[0], timeout=10, headers={"authorization": f"Bearer {ADMIN_KEY}"}
    ) as admin:
        app_key = (await admin.post("/v1/apps", json={"name": "shared"})).json()["api_key"]
    async with httpx.AsyncClient(
        base_url=urls[1], timeout=10, headers={"authorization": f"Bearer {app_key}"}
    ) as api:
        body = {**new_signing_key(sim), "environment": "sandbox"}
        assert (await api.put("/v1/credentials/apns", json=body)).status_code == 201
    async with httpx.AsyncClient(
        base_url=urls[2], timeout=10, headers={"authorization": f"Bearer {app_key}"}
    ) as api:
        for i, token in enumerate(tokens):
            device = {
                "user_id": f"u{i}",
                "platform": "apns",
                "token": token,
                "environment": "sandbox",
            }
            assert (await api.post("/v1/devices", json=device)).status_code == 201
    return app_key


async def _send_all(
    clients: list[httpx.AsyncClient],
    tokens: list[str],
    victim: asyncio.subprocess.Process,
    sim: Simulator,
    store: dict,
) -> tuple[list[str], int]:
    """Send the notifications in batches round-robin over the gateways. Half-way, with the
    simulator holding its answers back, the second gateway accepts a batch, claims part of
    it, and is SIGKILLed with those sends in flight (its dispatcher dies with it); the rest
    goes through the other two. Returns the ids and how many rows the victim held."""
    ids: list[str] = []
    alive = list(range(len(clients)))
    held_at_kill = 0
    for batch_number, first in enumerate(range(0, NOTIFICATIONS, BATCH)):
        kill_now = first == NOTIFICATIONS // 2
        client = clients[1] if kill_now else clients[alive[batch_number % len(alive)]]
        if kill_now:
            sim.set_faults(response_delay=5.0)  # accepted, sent, not yet answered
        batch = [
            {"tokens": [tokens[n % len(tokens)]], "alert": {"body": "hi"}, "data": {"n": n}}
            for n in range(first, first + BATCH)
        ]
        answer = await client.post("/v1/notifications/batch", json={"notifications": batch})
        assert answer.status_code == 202, answer.text
        ids.extend(answer.json()["ids"])
        if kill_now:
            dispatchers = children_of(victim.pid)
            held_at_kill = await _held_by(store, dispatchers)
            victim.send_signal(signal.SIGKILL)
            await victim.wait()
            gone(dispatchers)
            sim.clear_faults()
            alive.remove(1)
    return ids, held_at_kill


async def _held_by(store: dict, pids: list[int]) -> int:
    """Pending rows leased to these dispatcher processes, once they hold some (at most 10 s)."""
    conn = await asyncpg.connect(
        store["url"], server_settings={"search_path": store["schema_name"]}
    )
    try:
        async with asyncio.timeout(10):
            while True:
                held = await conn.fetchval(
                    "SELECT count(*) FROM outbox WHERE "
                    "split_part(lease_owner, ':', 2) = ANY($1::text[])",
                    [str(pid) for pid in pids],
                )
                if held:
                    return int(held)
                await asyncio.sleep(0.05)
    finally:
        await conn.close()


async def _wait_all_final(store: dict, sim: Simulator) -> dict[str, int]:
    """Until the simulator holds every notification and the outbox has nothing pending
    (bounded in time); returns the deliveries' states as the database has them."""
    conn = await asyncpg.connect(
        store["url"], server_settings={"search_path": store["schema_name"]}
    )
    try:
        async with asyncio.timeout(300):
            while True:
                states = dict(
                    await conn.fetch("SELECT state, count(*) FROM deliveries GROUP BY state")
                )
                received = {n.payload["n"] for n in sim.inbox.query()}
                if "pending" not in states and len(received) >= NOTIFICATIONS:
                    return states
                await asyncio.sleep(0.5)
    finally:
        await conn.close()
