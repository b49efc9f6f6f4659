"""Issue 12 item 13: data at rest. Data files 0600 in a 0700 directory, the master key
outside the data dir, retention of what was sent, and master-key rotation (credentials still
usable afterwards, the old key no longer needed)."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path
from typing import Any

import httpx
from harness import (
    ADMIN_KEY,
    RunningGateway,
    create_app,
    gateway_settings,
    new_signing_key,
    running_gateway,
)
from test_apns_delivery import register, send_and_wait
from test_cli import cli

from pushgate.config import Settings
from pushgate.security import SecretBox
from pushgate.simulator import Simulator
from pushgate.store.backends import backend_for


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def _sandbox_app(gw: RunningGateway, sim: Simulator) -> str:
    """A new app with a sandbox token credential and one registered device; its key."""
    key = await create_app(gw)
    async with gw.client(key) as api:
        body = {**new_signing_key(sim), "environment": "sandbox"}
        assert (await api.put("/v1/credentials/apns", json=body)).status_code == 201
        await register(api, "alice")
    return key


async def _delivers(gw: RunningGateway, key: str) -> None:
    async with gw.client(key) as api:
        report = await send_and_wait(api, user_ids=["alice"], alert={"body": "hi"})
    assert [r["status"] for r in report["results"]] == ["delivered"], report


async def test_data_files_are_0600_in_a_0700_dir_even_if_made_0644_before(
    tmp_path: Path, sim: Simulator
) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    (data / "pushgate.db").touch(mode=0o644)
    (data / "pushgate.db").chmod(0o644)
    async with running_gateway(gateway_settings(data, sim)) as gw:
        await _delivers(gw, await _sandbox_app(gw, sim))
        assert _mode(data) == 0o700
        for name in ("pushgate.db", "pushgate.db-wal", "pushgate.db-shm", "secret.key"):
            assert _mode(data / name) == 0o600, name


async def test_a_fresh_data_dir_and_a_key_file_outside_it_are_private(
    tmp_path: Path, sim: Simulator
) -> None:
    data, key_file = tmp_path / "fresh" / "data", tmp_path / "keys" / "master.key"
    settings = gateway_settings(data, sim, secret_key_file=key_file)
    async with running_gateway(settings) as gw:
        await create_app(gw)
    assert _mode(data) == 0o700 and _mode(data / "pushgate.db") == 0o600
    assert _mode(key_file) == 0o600 and _mode(key_file.parent) == 0o700
    assert not (data / "secret.key").exists()


async def test_rotating_the_key_file_keeps_credentials_usable_without_the_old_key(
    tmp_path: Path, sim: Simulator
) -> None:
    data, key_file = tmp_path / "data", tmp_path / "keys" / "master.key"
    settings = gateway_settings(data, sim, secret_key_file=key_file)
    async with running_gateway(settings) as gw:
        key = await _sandbox_app(gw, sim)
        await _delivers(gw, key)
        old_key = key_file.read_bytes()
        code, out = await cli(
            "admin", "rotate-master-key", "--data-dir", str(data),
            env={"PUSHGATE_SECRET_KEY_FILE": str(key_file)},
        )  # fmt: skip
        assert code == 0 and "Re-encrypted 1 credential(s)" in out, out
        assert key_file.read_bytes() != old_key and _mode(key_file) == 0o600
        assert sorted(p.name for p in key_file.parent.iterdir()) == ["master.key"]
        async with gw.client(key) as api:  # the running gateway reads the new key by itself
            assert (await api.delete("/v1/credentials/apns/sandbox")).status_code == 204
            body = {**new_signing_key(sim), "environment": "sandbox"}
            assert (await api.put("/v1/credentials/apns", json=body)).status_code == 201
        await _delivers(gw, key)
    async with running_gateway(settings) as gw:  # a restart: only the new key exists
        await _delivers(gw, key)
        async with gw.client(ADMIN_KEY) as admin:
            (entry, *_) = (await admin.get("/v1/audit")).json()["entries"]
    assert entry["action"] == "credential.put"
    assert await _sealed_with(settings, key_file.read_bytes()) == 1


async def test_a_passphrase_key_rotates_into_a_new_key_file(tmp_path: Path, sim: Simulator) -> None:
    data, new_file = tmp_path / "data", tmp_path / "keys" / "next.key"
    env = {"PUSHGATE_SECRET_KEY": "an old passphrase from the environment"}
    old = gateway_settings(data, sim, secret_key=env["PUSHGATE_SECRET_KEY"])
    async with running_gateway(old) as gw:
        key = await _sandbox_app(gw, sim)
    code, out = await cli("admin", "rotate-master-key", "--data-dir", str(data), env=env)
    assert code == 2 and "--new-key-file" in out, out
    code, out = await cli(
        "admin", "rotate-master-key", "--data-dir", str(data), "--new-key-file", str(new_file),
        env=env,
    )  # fmt: skip
    assert code == 0 and "secret_key_file" in out and _mode(new_file) == 0o600, out
    rotated = gateway_settings(data, sim, secret_key_file=new_file)
    async with running_gateway(rotated) as gw:
        await _delivers(gw, key)
        async with gw.client(ADMIN_KEY) as admin:
            actions = [e["action"] for e in (await admin.get("/v1/audit")).json()["entries"]]
    assert actions[0] == "master_key.rotate"


async def _sealed_with(settings: Settings, key: bytes) -> int:
    """How many stored credentials open with ``key`` alone."""
    backend = backend_for(settings)
    await backend.open()
    try:
        rows = [row for app in await backend.store.list_apps()
                for row in await backend.store.list_credentials(app.id)]  # fmt: skip
    finally:
        await backend.close()
    box = SecretBox([key.strip()])
    return sum(1 for row in rows if box.open(row.secret))


async def test_retention_erases_sent_notifications_and_keeps_devices(
    tmp_path: Path, sim: Simulator
) -> None:
    retention: dict[str, Any] = {"days": 1 / 86_400, "interval_seconds": 0.2}
    async with running_gateway(gateway_settings(tmp_path, sim, retention=retention)) as gw:
        key = await _sandbox_app(gw, sim)
        async with gw.client(key) as api:
            report = await send_and_wait(api, user_ids=["alice"], alert={"body": "secret text"})
            await _gone(api, f"/v1/notifications/{report['id']}")
            devices = (await api.get("/v1/devices")).json()
            credentials = (await api.get("/v1/credentials")).json()
    assert [d["user_id"] for d in devices] == ["alice"] and len(credentials) == 1


async def _gone(api: httpx.AsyncClient, path: str) -> None:
    async with asyncio.timeout(20):
        while (await api.get(path)).status_code != 404:  # noqa: ASYNC110 - polls the API
            await asyncio.sleep(0.1)
