"""Issue 12 item 14: who changed apps, keys and credentials is recorded (key id, time, action,
target, never a secret) and read through GET /v1/audit and `pushgate audit list`."""

from __future__ import annotations

import json

from harness import ADMIN_KEY, RunningGateway, create_app, new_signing_key
from test_cli import cli

from pushgate.simulator import Simulator


async def _app_id(gw: RunningGateway, name: str) -> str:
    async with gw.client(ADMIN_KEY) as admin:
        (app,) = [a for a in (await admin.get("/v1/apps")).json() if a["name"] == name]
    return str(app["id"])


async def test_changes_are_recorded_without_secrets_and_scoped_per_app(
    gw: RunningGateway, sim: Simulator
) -> None:
    key = await create_app(gw, "audited")
    other_key = await create_app(gw, "bystander")
    app_id = await _app_id(gw, "audited")
    upload = {**new_signing_key(sim), "environment": "sandbox"}
    async with gw.client(key) as api:
        assert (await api.put("/v1/credentials/apns", json=upload)).status_code == 201
        assert (await api.delete("/v1/credentials/apns/sandbox")).status_code == 204
    async with gw.client(ADMIN_KEY) as admin:
        rotated = await admin.post(f"/v1/apps/{app_id}/rotate-key", json={"overlap_seconds": 60})
        assert rotated.status_code == 200
        answer = await admin.get("/v1/audit", params={"app_id": app_id})
        keys = (await admin.get("/v1/keys", params={"app_id": app_id})).json()
    assert answer.status_code == 200, answer.text
    entries = answer.json()["entries"]
    assert [(e["action"], e["target"]) for e in entries] == [
        ("key.rotate", keys[0]["id"]),
        ("credential.delete", "apns/sandbox"),
        ("credential.put", "apns/sandbox"),
        ("app.create", app_id),
    ]
    assert entries[0]["actor"] == entries[-1]["actor"] == "admin"
    assert entries[1]["actor"] == entries[2]["actor"] == keys[0]["id"]  # the app's default key
    assert entries[0]["at"] >= entries[-1]["at"] > 0
    assert upload["key_p8"].splitlines()[1] not in answer.text
    assert key not in answer.text and rotated.json()["api_key"] not in answer.text

    async with gw.client(rotated.json()["api_key"]) as api:  # an app key: its own app only
        own = (await api.get("/v1/audit")).json()["entries"]
        assert {e["app_id"] for e in own} == {app_id} and len(own) == 4
        refused = await api.get("/v1/audit", params={"app_id": "app_other"})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    async with gw.client(other_key) as api:
        assert [e["action"] for e in (await api.get("/v1/audit")).json()["entries"]] == [
            "app.create"
        ]


async def test_the_cli_lists_the_audit_log_with_paging(gw: RunningGateway) -> None:
    for n in range(3):
        await create_app(gw, f"paged-{n}")
    code, out = await cli("audit", "list", "--limit", "2", "--json", api_key=ADMIN_KEY, url=gw.url)
    assert code == 0, out
    page = json.loads(out)
    assert [e["action"] for e in page["entries"]] == ["app.create", "app.create"]
    async with gw.client(ADMIN_KEY) as admin:
        older = await admin.get("/v1/audit", params={"before": page["next_before"]})
    assert [e["target"] for e in older.json()["entries"]] == [await _app_id(gw, "paged-0")]
    code, out = await cli("audit", "list", api_key=ADMIN_KEY, url=gw.url)
    assert code == 0 and "app.create" in out and "admin" in out, out
