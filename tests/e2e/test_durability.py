"""Accepted work survives SIGKILL: a killed gateway delivers everything after a restart."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import tomli_w
from harness import ADMIN_KEY, new_signing_key, new_token

from backends import BACKENDS, store_settings
from pushgate.simulator import Simulator

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_config(
    path: Path, data_dir: Path, port: int, sim: Simulator, store: dict | None = None
) -> Path:
    """A gateway's TOML: the simulator, quick retries, and the given ``[store]`` section."""
    config = path / "pushgate.toml"
    config.write_text(
        f"""
data_dir = "{data_dir}"
admin_api_key = "{ADMIN_KEY}"
log_level = "warning"
[server]
port = {port}
[apns]
production_host = "127.0.0.1"
production_port = {sim.apns_production_port}
sandbox_host = "127.0.0.1"
sandbox_port = {sim.apns_sandbox_port}
ca_file = "{sim.ca_file}"
[dispatch]
backoff_initial = 0.05
backoff_max = 0.2
"""
        + tomli_w.dumps({"store": store or {}})
    )
    return config


@asynccontextmanager
async def gateway_process(
    config: Path, url: str, **options: Any
) -> AsyncIterator[asyncio.subprocess.Process]:
    """``python -m pushgate serve`` as a child process, ready to serve (``options`` go to
    ``create_subprocess_exec``); killed at the end if it still runs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUSHGATE_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pushgate", "serve", "--config", str(config), env=env, **options
    )
    try:
        async with httpx.AsyncClient(base_url=url) as client, asyncio.timeout(20):
            while True:
                try:
                    if (await client.get("/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_sigkill_and_restart_delivers_everything_accepted(
    tmp_path: Path, sim: Simulator, backend: str
) -> None:
    async with store_settings(backend, tmp_path) as store:
        await _sigkill_and_restart(tmp_path, sim, store)


async def _sigkill_and_restart(tmp_path: Path, sim: Simulator, store: dict) -> None:
    """Work in flight when the gateway is killed is sent by the restarted one (on
    PostgreSQL once the dead gateway's leases, 2 s here, run out)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    if store["backend"] == "postgresql":
        store = {**store, "lease_seconds": 2.0}
    config = write_config(tmp_path, tmp_path / "data", port, sim, store)
    tokens = [new_token() for _ in range(40)]
    sim.set_faults(response_delay=30.0)  # accepted, sent, never answered: in flight at the kill
    async with gateway_process(config, url) as first:
        async with httpx.AsyncClient(
            base_url=url, timeout=10, headers={"authorization": f"Bearer {ADMIN_KEY}"}
        ) as admin:
            app_key = (await admin.post("/v1/apps", json={"name": "durable"})).json()["api_key"]
        async with httpx.AsyncClient(
            base_url=url, timeout=10, headers={"authorization": f"Bearer {app_key}"}
        ) as api:
            body = {**new_signing_key(sim), "environment": "sandbox"}
            assert (await api.put("/v1/credentials/apns", json=body)).status_code == 201
            for i, token in enumerate(tokens):
                await api.post(
                    "/v1/devices",
                    json={
                        "user_id": f"u{i}",
                        "platform": "apns",
                        "token": token,
                        "environment": "sandbox",
                    },
                )
            accepted = []
            for chunk in range(4):
                answer = await api.post(
                    "/v1/notifications",
                    json={
                        "tokens": tokens[chunk * 10 : (chunk + 1) * 10],
                        "alert": {"body": str(chunk)},
                    },
                )
                assert answer.status_code == 202
                accepted.append(answer.json()["id"])
            for notification_id in accepted:
                report = (await api.get(f"/v1/notifications/{notification_id}")).json()
                assert report["counts"] == {"pending": 10}
        dispatchers = children_of(first.pid)
        assert dispatchers, "the gateway runs its dispatcher in a process of its own"
        first.send_signal(signal.SIGKILL)
        await first.wait()
        gone(dispatchers)  # two dispatchers over one outbox would send twice
    in_flight_copies = Counter(n.token for n in sim.inbox.query())
    sim.clear_faults()
    async with (
        gateway_process(config, url),
        httpx.AsyncClient(
            base_url=url, timeout=10, headers={"authorization": f"Bearer {app_key}"}
        ) as api,
    ):
        for notification_id in accepted:
            report = await wait_complete(api, notification_id)
            assert report["counts"] == {"delivered": 10}
    copies = Counter(n.token for n in sim.inbox.query())
    assert set(copies) == set(tokens)
    assert all(copies[t] == in_flight_copies[t] + 1 for t in tokens)


async def wait_complete(api: httpx.AsyncClient, notification_id: str) -> dict:
    """Poll a notification's report until every delivery is final (bounded)."""
    async with asyncio.timeout(30):
        while True:
            report = (await api.get(f"/v1/notifications/{notification_id}")).json()
            if report["complete"]:
                return report
            await asyncio.sleep(0.1)


def children_of(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if int(text[text.rindex(")") + 2 :].split()[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def gone(pids: list[int]) -> None:
    """Wait (at most 5 s) until none of these processes runs any more."""
    deadline = time.monotonic() + 5
    while any(running(pid) for pid in pids):
        assert time.monotonic() < deadline, f"still running: {pids}"
        time.sleep(0.05)


def running(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return text[text.rindex(")") + 2] != "Z"


async def test_sigterm_to_the_whole_group_stops_cleanly_and_sends_nothing_twice(
    tmp_path: Path, sim: Simulator
) -> None:
    """A service manager stops the gateway with SIGTERM to every process of it at once: the
    sends in flight finish and are recorded, no dispatcher restart is logged, and a restarted
    gateway sends nothing again."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = write_config(tmp_path, tmp_path / "data", port, sim)
    tokens = [new_token() for _ in range(10)]
    async with (
        gateway_process(
            config, url, stderr=asyncio.subprocess.PIPE, start_new_session=True
        ) as process,
        httpx.AsyncClient(base_url=url, timeout=10) as client,
    ):
        async with asyncio.timeout(20):
            admin = {"authorization": f"Bearer {ADMIN_KEY}"}
            created = await client.post("/v1/apps", json={"name": "stopped"}, headers=admin)
            client.headers["authorization"] = f"Bearer {created.json()['api_key']}"
            body = {**new_signing_key(sim), "environment": "sandbox"}
            assert (await client.put("/v1/credentials/apns", json=body)).status_code == 201
            for i, token in enumerate(tokens):
                device = {"user_id": f"u{i}", "platform": "apns", "token": token}
                registered = await client.post("/v1/devices", json=device)
                assert registered.status_code == 201, registered.text
            sim.set_faults(response_delay=1.0)  # the sends are in flight at the signal
            sent = await client.post(
                "/v1/notifications", json={"tokens": tokens, "alert": {"body": "stop"}}
            )
            assert sent.status_code == 202, sent.text
            notification_id = sent.json()["id"]
            while True:  # until the simulator has them all, unanswered
                if len(sim.inbox.query()) == len(tokens):
                    break
                await asyncio.sleep(0.02)
        os.killpg(process.pid, signal.SIGTERM)
        async with asyncio.timeout(20):
            _, stderr = await process.communicate()
    # uvicorn ends a graceful stop by raising the signal again, as a process killed by it
    assert process.returncode in (0, -signal.SIGTERM), stderr.decode()
    assert b"dispatcher process exited" not in stderr, stderr.decode()
    sim.clear_faults()
    async with (
        gateway_process(config, url),
        httpx.AsyncClient(base_url=url, timeout=10, headers=client.headers) as api,
    ):
        report = await wait_complete(api, notification_id)
        assert report["counts"] == {"delivered": 10}
    assert Counter(n.token for n in sim.inbox.query()) == Counter(tokens)  # each once
