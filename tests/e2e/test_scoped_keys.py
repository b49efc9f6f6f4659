"""Issue 12 item 11: scoped keys. Admin keys; per app manage keys (everything of the app) and
send keys (sends only); several keys per app, rotation with an overlap, revocation, last use;
rate limits per key and per app with 429, Retry-After and X-RateLimit-*, shared by gateways
through Redis."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from harness import ADMIN_KEY, RunningGateway, create_app, gateway_settings, running_gateway
from test_cli import cli

from backends import REDIS_URL, require_redis, store_settings
from pushgate.simulator import Simulator

SEND = {"tokens": ["00" * 32], "alert": {"body": "hi"}}


async def _app(gw: RunningGateway, name: str) -> tuple[str, str]:
    """A new app: (its id, its default manage key)."""
    key = await create_app(gw, name)
    async with gw.client(key) as api:
        (listed,) = (await api.get("/v1/keys")).json()
    return listed["app_id"], key


async def _new_key(gw: RunningGateway, by: str, **body: Any) -> dict[str, Any]:
    async with gw.client(by) as api:
        response = await api.post("/v1/keys", json={"name": "k", **body})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_a_send_key_only_sends_and_a_manage_key_reaches_only_its_app(
    gw: RunningGateway,
) -> None:
    app_id, manage = await _app(gw, "scoped")
    other_id, other_manage = await _app(gw, "other")
    sender = await _new_key(gw, manage, scope="send", name="ci")
    assert sender["app_id"] == app_id and sender["api_key"].startswith("pgapp_")
    async with gw.client(sender["api_key"]) as api:
        sent = await api.post("/v1/notifications", json=SEND)
        assert sent.status_code == 202, sent.text
        assert (await api.get(f"/v1/notifications/{sent.json()['id']}")).status_code == 200
        for method, path in (
            ("GET", "/v1/credentials"), ("GET", "/v1/devices"), ("GET", "/v1/keys"),
            ("GET", "/v1/audit"), ("PUT", "/v1/chat/settings"), ("GET", "/v1/apps"),
        ):  # fmt: skip
            refused = await api.request(method, path, json={} if method == "PUT" else None)
            assert refused.status_code == 403, (path, refused.text)
            assert refused.json()["error"]["code"] == "forbidden"
    async with gw.client(manage) as api:
        assert (await api.get("/v1/devices")).status_code == 200
        assert (await api.post("/v1/notifications", json=SEND)).status_code == 202
        assert (await api.post("/v1/keys", json={"name": "x", "scope": "admin"})).status_code == 403
        body = {"name": "x", "scope": "send", "app_id": other_id}
        assert (await api.post("/v1/keys", json=body)).status_code == 403
        assert (await api.get("/v1/keys", params={"app_id": other_id})).status_code == 403
        async with gw.client(other_manage) as other:
            (other_key,) = (await other.get("/v1/keys")).json()
        assert (await api.delete(f"/v1/keys/{other_key['id']}")).status_code == 404
    admin_key = await _new_key(gw, ADMIN_KEY, scope="admin", name="ops")
    async with gw.client(admin_key["api_key"]) as ops:  # a second admin key does admin work
        names = sorted(a["name"] for a in (await ops.get("/v1/apps")).json())
        assert names == ["other", "scoped"]
        every = (await ops.get("/v1/keys")).json()
    assert {k["scope"] for k in every} == {"admin", "manage", "send"}
    assert all("api_key" not in k and "key_hash" not in k for k in every)


async def test_several_keys_rotate_with_an_overlap_revoke_at_once_and_show_last_use(
    gw: RunningGateway,
) -> None:
    app_id, manage = await _app(gw, "lifecycle")
    first = await _new_key(gw, ADMIN_KEY, scope="send", app_id=app_id, name="a")
    second = await _new_key(gw, manage, scope="send", name="b")
    async with gw.client(manage) as api:
        rotated = await api.post(f"/v1/keys/{first['id']}/rotate", json={"overlap_seconds": 1.5})
        assert rotated.status_code == 200, rotated.text
        again = await api.post(f"/v1/keys/{first['id']}/rotate", json={"overlap_seconds": 0})
        assert again.status_code == 409
    successor = rotated.json()
    assert successor["name"] == "a" and successor["scope"] == "send"
    for key in (first["api_key"], successor["api_key"], second["api_key"]):
        async with gw.client(key) as api:
            assert (await api.post("/v1/notifications", json=SEND)).status_code == 202
    await asyncio.sleep(1.6)
    async with gw.client(first["api_key"]) as api:
        assert (await api.post("/v1/notifications", json=SEND)).status_code == 401
    async with gw.client(manage) as api:
        assert (await api.delete(f"/v1/keys/{second['id']}")).status_code == 204
        assert (await api.delete(f"/v1/keys/{second['id']}")).status_code == 404
    async with gw.client(second["api_key"]) as api:
        assert (await api.post("/v1/notifications", json=SEND)).status_code == 401
    async with gw.client(manage) as api:
        listed = {k["id"]: k for k in (await api.get("/v1/keys")).json()}
    assert listed[second["id"]]["revoked_at"] is not None
    assert listed[first["id"]]["expires_at"] == pytest.approx(successor["previous_key_valid_until"])
    used = listed[successor["id"]]["last_used_at"]
    assert used is not None and used <= time.time()
    async with gw.client(successor["api_key"]) as api:  # within a minute: not written again
        assert (await api.post("/v1/notifications", json=SEND)).status_code == 202
    async with gw.client(manage) as api:
        relisted = {k["id"]: k for k in (await api.get("/v1/keys")).json()}
    assert relisted[successor["id"]]["last_used_at"] == used
    async with gw.client(ADMIN_KEY) as admin:
        entries = (await admin.get("/v1/audit", params={"app_id": app_id})).json()["entries"]
    assert [e["action"] for e in entries][:4] == [
        "key.revoke",
        "key.rotate",
        "key.create",
        "key.create",
    ]


async def _wait_for_a_fresh_minute() -> None:
    """Rate windows are whole minutes: start a counting test well inside one."""
    if time.time() % 60 > 50:
        await asyncio.sleep(60.5 - time.time() % 60)


def _limits(response: httpx.Response) -> tuple[str | None, str | None]:
    return response.headers.get("x-ratelimit-limit"), response.headers.get("x-ratelimit-remaining")


@pytest.fixture
async def limited_gw(tmp_path: Path, sim: Simulator) -> AsyncIterator[RunningGateway]:
    settings = gateway_settings(tmp_path, sim, rate_limits={"per_app": 7})
    async with running_gateway(settings) as running:
        yield running


async def test_rate_limits_per_key_and_per_app_answer_429_with_headers(
    limited_gw: RunningGateway,
) -> None:
    gw = limited_gw
    await _wait_for_a_fresh_minute()
    _, manage = await _app(gw, "limited")
    tight = await _new_key(gw, manage, scope="send", rate_limit=3)
    other = await _new_key(gw, manage, scope="send")
    async with gw.client(tight["api_key"]) as api:
        answers = [await api.post("/v1/notifications", json=SEND) for _ in range(4)]
    assert [a.status_code for a in answers] == [202, 202, 202, 429]
    assert [_limits(a) for a in answers] == [("3", "2"), ("3", "1"), ("3", "0"), ("3", "0")]
    refused = answers[-1]
    assert refused.json()["error"]["code"] == "rate_limited"
    reset = int(refused.headers["x-ratelimit-reset"])
    assert 1 <= int(refused.headers["retry-after"]) <= 60 and 1 <= reset <= 60
    async with gw.client(other["api_key"]) as api:  # the app's 8th: 3 of the manage key + 4
        first = await api.get("/v1/notifications")
        assert first.status_code == 429 and _limits(first) == ("7", "0")
    async with gw.client(ADMIN_KEY) as admin:  # the admin key is never limited
        assert all([(await admin.get("/v1/apps")).status_code == 200 for _ in range(8)])
        assert "x-ratelimit-limit" not in (await admin.get("/v1/apps")).headers


async def test_redis_shares_the_counts_of_two_gateways(tmp_path: Path, sim: Simulator) -> None:
    await require_redis()
    async with store_settings("postgresql", tmp_path) as store, AsyncExitStack() as stack:
        sections = {"store": store, "rate_limits": {"redis_url": REDIS_URL}}
        gateways = [
            await stack.enter_async_context(
                running_gateway(gateway_settings(tmp_path / f"gw{n}", sim, **sections))
            )
            for n in range(2)
        ]
        await _wait_for_a_fresh_minute()
        _, manage = await _app(gateways[0], "shared")
        key = (await _new_key(gateways[0], manage, scope="send", rate_limit=4))["api_key"]
        codes = []
        for n in range(5):
            async with gateways[n % 2].client(key) as api:
                codes.append((await api.post("/v1/notifications", json=SEND)).status_code)
    assert codes == [202, 202, 202, 202, 429]


async def test_the_cli_creates_lists_rotates_and_revokes_keys(gw: RunningGateway) -> None:
    app_id, manage = await _app(gw, "cli-keys")
    code, out = await cli(
        "apps", "keys", "create", app_id, "--name", "ci", "--scope", "send", "--rate-limit", "9",
        "--key-only", api_key=ADMIN_KEY, url=gw.url,
    )  # fmt: skip
    assert code == 0 and out.strip().startswith("pgapp_"), out
    code, out = await cli("apps", "keys", "list", "--json", api_key=manage, url=gw.url)
    assert code == 0, out
    ci = next(k for k in json.loads(out) if k["name"] == "ci")
    assert ci["scope"] == "send" and ci["rate_limit"] == 9
    code, out = await cli(
        "apps", "keys", "rotate", ci["id"], "--overlap", "0", api_key=manage, url=gw.url
    )
    assert code == 0 and "pgapp_" in out, out
    code, out = await cli("apps", "keys", "list", api_key=ADMIN_KEY, url=gw.url)
    assert code == 0 and "ci" in out and "send" in out, out
    code, out = await cli("apps", "keys", "revoke", ci["id"], api_key=manage, url=gw.url)
    assert code == 0 and f"Revoked {ci['id']}" in out, out
    code, out = await cli("apps", "keys", "revoke", ci["id"], api_key=manage, url=gw.url)
    assert code == 1 and "already revoked" in out, out
