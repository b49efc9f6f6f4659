"""Issue 14 item 7: key changes never break things silently. A second VAPID key needs
``--replace`` and says what happens to the subscriptions; apps can be deleted; app keys rotate
with an overlap; a lost admin key is replaced from the data dir."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from harness import ADMIN_KEY, RunningGateway, create_app, gateway_settings, running_gateway
from test_cli import cli

from pushgate.simulator import Simulator

SUBJECT = "mailto:ops@example.com"


async def test_a_second_vapid_key_needs_replace_and_says_what_breaks(
    gw: RunningGateway, app_key: str, sim: Simulator
) -> None:
    code, out = await cli(
        "push",
        "webpush",
        "--generate",
        "--subject",
        SUBJECT,
        "--key-only",
        url=gw.url,
        api_key=app_key,
    )
    assert code == 0, out
    first = out.strip()
    async with gw.client(app_key) as api:
        subscription = sim.create_webpush_subscription(first)
        device = {"user_id": "u", "platform": "webpush", "subscription": subscription}
        assert (await api.post("/v1/devices", json=device)).status_code == 201
    code, out = await cli(
        "push", "webpush", "--generate", "--subject", SUBJECT, url=gw.url, api_key=app_key
    )
    assert code == 1 and "vapid_key_exists" in out and "HTTP 409" in out, out
    assert "1 active Web Push subscription(s)" in out and "--replace" in out, out
    async with gw.client(app_key) as api:
        (stored,) = [
            c for c in (await api.get("/v1/credentials")).json() if c["platform"] == "webpush"
        ]
    assert stored["public_key"] == first  # the refused call changed nothing
    code, out = await cli(
        "push", "webpush", "--generate", "--replace", "--subject", SUBJECT, "--key-only",
        url=gw.url, api_key=app_key,
    )  # fmt: skip
    assert code == 0 and out.strip() != first, out


async def test_apps_delete_takes_the_key_and_data_with_it(gw: RunningGateway) -> None:
    key = await create_app(gw, "doomed")
    async with gw.client(ADMIN_KEY) as admin:
        (app,) = [a for a in (await admin.get("/v1/apps")).json() if a["name"] == "doomed"]
    code, out = await cli("apps", "delete", app["id"], "--yes", api_key=ADMIN_KEY, url=gw.url)
    assert code == 0, out
    async with gw.client(key) as api:
        assert (await api.get("/v1/devices")).status_code == 401
    code, out = await cli("apps", "delete", app["id"], "--yes", api_key=ADMIN_KEY, url=gw.url)
    assert code == 1 and "not_found" in out, out


async def test_key_rotation_keeps_the_old_key_for_the_overlap(gw: RunningGateway) -> None:
    old = await create_app(gw, "rotating")
    async with gw.client(ADMIN_KEY) as admin:
        (app,) = [a for a in (await admin.get("/v1/apps")).json() if a["name"] == "rotating"]
        rotated = (
            await admin.post(f"/v1/apps/{app['id']}/rotate-key", json={"overlap_seconds": 1.5})
        ).json()
    new = rotated["api_key"]
    for key in (old, new):
        async with gw.client(key) as api:
            assert (await api.get("/v1/devices")).status_code == 200
    await asyncio.sleep(1.6)
    async with gw.client(old) as api:
        assert (await api.get("/v1/devices")).status_code == 401
    code, out = await cli(
        "apps", "rotate-key", app["id"], "--overlap", "0", api_key=ADMIN_KEY, url=gw.url
    )
    assert code == 0 and "pgapp_" in out, out
    async with gw.client(new) as api:
        assert (await api.get("/v1/devices")).status_code == 401


@pytest.fixture
async def generated_admin_gw(tmp_path: Path, sim: Simulator) -> AsyncIterator[RunningGateway]:
    settings = gateway_settings(tmp_path, sim).model_copy(update={"admin_api_key": None})
    async with running_gateway(settings) as running:
        yield running


async def test_a_lost_admin_key_is_reset_from_the_data_dir(
    generated_admin_gw: RunningGateway, tmp_path: Path
) -> None:
    lost = generated_admin_gw.gateway.generated_admin_key
    assert lost is not None
    code, out = await cli("admin", "reset-key", "--data-dir", str(tmp_path))
    assert code == 0, out
    new = out.strip()
    assert new.startswith("pgadm_") and new != lost
    async with httpx.AsyncClient(base_url=generated_admin_gw.url) as http:
        bearer = {"authorization": f"Bearer {new}"}
        assert (await http.get("/v1/apps", headers=bearer)).status_code == 200
        (entry, *_) = (await http.get("/v1/audit", headers=bearer)).json()["entries"]
        assert (entry["actor"], entry["action"], entry["target"]) == (
            "cli",
            "key.reset_admin",
            "admin",
        )
        bearer = {"authorization": f"Bearer {lost}"}
        assert (await http.get("/v1/apps", headers=bearer)).status_code == 401


async def test_reset_key_refuses_when_the_key_is_configured(tmp_path: Path) -> None:
    env = {"PUSHGATE_ADMIN_API_KEY": ADMIN_KEY}
    code, out = await cli("admin", "reset-key", "--data-dir", str(tmp_path), env=env)
    assert code == 2 and "change it there" in out and len(out.strip().splitlines()) == 1, out
