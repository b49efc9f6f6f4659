"""The control API's FCM and Web Push endpoints, and the new listeners in settings and describe()."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sim_services import PROJECT, TOKEN, access_token, push, send, to_token
from sim_support import FakeClock

from pushgate.providers.webpush_vapid import VapidKey
from pushgate.simulator import CLI_PORTS, Simulator, SimulatorSettings


@pytest.fixture
async def api(sim: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.control_url, timeout=10) as client:
        yield client


async def test_create_a_service_account_then_send_and_read_the_inbox(
    sim: Simulator, api: httpx.AsyncClient, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    created = await api.post("/fcm/service-accounts", json={"project_id": PROJECT})
    info = created.json()
    bearer = await access_token(client, info, clock)
    await send(client, sim, bearer, to_token({"data": {"n": "1"}}))
    await send(client, sim, bearer, {"message": {"topic": "news"}})

    by_token = (await api.get("/fcm/inbox", params={"token": TOKEN})).json()
    newest = (await api.get("/fcm/inbox", params={"limit": "1"})).json()
    listed = (await api.get("/fcm/service-accounts")).json()["service_accounts"]
    stats = (await api.get("/fcm/stats")).json()
    cleared = (await api.delete("/fcm/inbox")).json()

    assert created.status_code == 201
    assert (info["token_uri"], info["project_id"]) == (sim.fcm_token_url, PROJECT)
    assert info["private_key"].startswith("-----BEGIN PRIVATE KEY-----")
    assert by_token["count"] == 1
    assert by_token["messages"][0]["message"] == {"token": TOKEN, "data": {"n": "1"}}
    assert set(by_token["messages"][0]) == {
        "received_at", "project_id", "message_id", "target_kind", "target",
        "service_account", "message",
    }  # fmt: skip
    assert newest["messages"][0]["target"] == "news"
    assert [a["client_email"] for a in listed] == [info["client_email"]]
    assert "private_key" not in listed[0]
    assert stats["accepted"] == 2
    assert cleared == {"cleared": 2}


async def test_register_a_service_account_by_key_or_json(
    sim: Simulator, api: httpx.AsyncClient
) -> None:
    info = sim.create_service_account("keyed-project")
    by_key = await api.post(
        "/fcm/service-accounts",
        json={
            "client_email": "other@keyed-project.iam.gserviceaccount.com",
            "project_id": "keyed-project",
            "public_key_pem": info["private_key"],
            "key_id": "k1",
            "project_number": "42",
        },
    )
    by_json = await api.post("/fcm/service-accounts", json={"service_account": info})

    assert by_key.status_code == 201
    assert by_key.json() == {
        "client_email": "other@keyed-project.iam.gserviceaccount.com",
        "project_id": "keyed-project",
        "project_number": "42",
        "key_ids": ["k1"],
    }
    assert (by_json.status_code, by_json.json()["client_email"]) == (201, info["client_email"])


async def test_tokens_unregistered_tokens_and_faults(
    sim: Simulator, api: httpx.AsyncClient, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    bearer = await access_token(client, sim.create_service_account(PROJECT), clock)
    made = (await api.post("/fcm/tokens", json={"project_id": "elsewhere"})).json()
    given = await api.post("/fcm/tokens", json={"project_id": PROJECT, "token": TOKEN})
    dead = await api.post("/fcm/unregistered-tokens", json={"token": TOKEN})
    put = await api.put("/fcm/faults", json={"internal": {"every": 2}})

    answers = [
        await send(client, sim, bearer, to_token({}, token=made["token"])),
        await send(client, sim, bearer, to_token({}, token=TOKEN)),
        await send(client, sim, bearer, to_token({}, token=sim.create_fcm_token(PROJECT))),
        await send(client, sim, bearer, to_token({}, token=sim.create_fcm_token(PROJECT))),
    ]
    current = (await api.get("/fcm/faults")).json()
    cleared = (await api.delete("/fcm/faults")).json()

    assert made["project_id"] == "elsewhere" and ":APA91b" in made["token"]
    assert (given.status_code, dead.status_code, put.status_code) == (201, 201, 200)
    assert [a.status_code for a in answers] == [403, 404, 200, 500]
    assert current["internal"] == {"first": 0, "every": 2, "rate": 0.0}
    assert cleared["internal"] == {"first": 0, "every": None, "rate": 0.0}


async def test_webpush_subscriptions_expiry_inbox_and_faults(
    sim: Simulator, api: httpx.AsyncClient, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    vapid = VapidKey.generate()
    created = await api.post(
        "/webpush/subscriptions", json={"application_server_key": vapid.public_key_b64url}
    )
    subscription = created.json()
    ok = await push(client, subscription, b'{"a":1}', key=vapid, clock=clock)
    await api.put("/webpush/faults", json={"service_unavailable": {"first": 1}})
    faulted = await push(client, subscription, b"{}", key=vapid, clock=clock)
    faults = (await api.get("/webpush/faults")).json()
    await api.delete("/webpush/faults")
    inbox = (await api.get("/webpush/inbox", params={"endpoint": subscription["endpoint"]})).json()
    stats = (await api.get("/webpush/stats")).json()
    expired = await api.post("/webpush/expired", json={"endpoint": subscription["endpoint"]})
    gone = await push(client, subscription, b"{}", key=vapid, clock=clock)
    cleared = (await api.delete("/webpush/inbox")).json()

    assert created.status_code == 201
    assert set(subscription["keys"]) == {"p256dh", "auth"}
    assert (ok.status_code, faulted.status_code) == (201, 503)
    assert faults["service_unavailable"]["first"] == 1
    [message] = inbox["messages"]
    assert (message["text"], message["payload"], message["plaintext"]) == (
        '{"a":1}', {"a": 1}, "eyJhIjoxfQ==",
    )  # fmt: skip
    assert stats["rejections"] == {"ServiceUnavailable": 1}
    assert (expired.status_code, gone.status_code) == (201, 410)
    assert cleared == {"cleared": 1}


@pytest.mark.parametrize(
    ("method", "path", "content", "status", "error"),
    [
        ("POST", "/fcm/service-accounts", b"{}", 422, "invalid_request"),
        ("POST", "/fcm/service-accounts", b'{"project_id": "bad id!"}', 422, "invalid_request"),
        (
            "POST",
            "/fcm/service-accounts",
            b'{"client_email":"a@b.c","project_id":"p","public_key_pem":"nope"}',
            422,
            "invalid_request",
        ),
        ("POST", "/fcm/service-accounts", b'{"public_key_pem":"x"}', 422, "invalid_request"),
        (
            "POST",
            "/fcm/service-accounts",
            b'{"service_account":{"type":"x"}}',
            422,
            "invalid_request",
        ),
        ("POST", "/fcm/tokens", b'{"token":"t"}', 422, "invalid_request"),
        ("POST", "/fcm/unregistered-tokens", b"[", 400, "invalid_json"),
        ("PUT", "/fcm/faults", b'{"quota_per_minute": 0}', 422, "invalid_request"),
        ("PUT", "/fcm/faults", b'{"surprise": {}}', 422, "invalid_request"),
        ("GET", "/fcm/inbox?limit=-1", b"", 400, "invalid_query"),
        (
            "POST",
            "/webpush/subscriptions",
            b'{"application_server_key":"AAAA"}',
            422,
            "invalid_request",
        ),
        ("POST", "/webpush/expired", b'{"endpoint":"nobody"}', 404, "unknown_subscription"),
        ("PUT", "/webpush/faults", b'{"retry_after": -1}', 422, "invalid_request"),
        ("GET", "/webpush/inbox?limit=x", b"", 400, "invalid_query"),
        ("PATCH", "/webpush/faults", b"", 405, "method_not_allowed"),
    ],
)
async def test_bad_input_gets_a_json_4xx(
    api: httpx.AsyncClient, method: str, path: str, content: bytes, status: int, error: str
) -> None:
    answer = await api.request(method, path, content=content)

    assert answer.status_code == status
    assert answer.json()["error"] == error
    assert answer.json()["message"]


async def test_ports_describe_and_cli_defaults(tmp_path: Path) -> None:
    async with Simulator(SimulatorSettings(state_dir=tmp_path)) as sim:
        lines = sim.describe()

        assert sim.fcm_base_url == f"https://127.0.0.1:{sim.fcm_port}"
        assert sim.fcm_token_url == f"{sim.fcm_base_url}/token"
        assert sim.webpush_base_url == f"https://127.0.0.1:{sim.webpush_port}"
        assert len({sim.fcm_port, sim.webpush_port, sim.apns_sandbox_port}) == 3
        assert any(line.startswith("FCM HTTP v1") and sim.fcm_token_url in line for line in lines)
        assert any(line.startswith("Web Push") and sim.webpush_base_url in line for line in lines)
    assert (CLI_PORTS["fcm_port"], CLI_PORTS["webpush_port"]) == (8445, 8446)


async def test_listener_urls_need_a_started_simulator() -> None:
    with pytest.raises(RuntimeError, match="not started"):
        _ = Simulator().fcm_base_url
