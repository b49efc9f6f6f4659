"""The control API: inbox, stats, keys, devices, dead tokens, certificates, faults, and bad input."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sim_support import TOKEN, TOPIC, Connect, FakeClock, SigningKey, push

from pushgate.simulator import Simulator, read_apns_certificate

BAD_DEVICE = b'{"token":"zz","topic":"t","environment":"sandbox"}'
NEGATIVE_TIMESTAMP = b'{"token":"' + b"ab" * 32 + b'","timestamp_ms":-1}'


@pytest.fixture
async def api(sim: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.control_url, timeout=5) as client:
        yield client


async def test_health(api: httpx.AsyncClient) -> None:
    answer = await api.get("/health")

    assert (answer.status_code, answer.json()) == (200, {"status": "ok"})


async def test_register_a_key_and_push_with_it(
    api: httpx.AsyncClient, connect: Connect, clock: FakeClock
) -> None:
    signing = SigningKey.generate()
    body = {
        "key_id": signing.key_id,
        "team_id": signing.team_id,
        "public_key_pem": signing.public_pem,
        "environment": "production",
        "topics": [TOPIC],
    }

    answer = await api.post("/apns/keys", json=body)

    assert answer.status_code == 201
    assert answer.json() == {
        "key_id": signing.key_id, "team_id": signing.team_id,
        "environment": "production", "topics": [TOPIC], "bundle_ids": [],
    }  # fmt: skip
    client = await connect("production")
    assert (await push(client, signing.token(clock()))).status == 200


async def test_a_team_key_without_bundle_ids_is_refused(api: httpx.AsyncClient) -> None:
    signing = SigningKey.generate(team_id="EMPTYTEAM1")
    body = {"key_id": signing.key_id, "team_id": "EMPTYTEAM1", "public_key_pem": signing.public_pem}

    answer = await api.post("/apns/keys", json=body)
    with_apps = await api.post("/apns/keys", json={**body, "bundle_ids": ["com.example.x"]})

    assert answer.status_code == 422
    assert "no bundle ids" in answer.json()["message"]
    assert with_apps.json()["bundle_ids"] == ["com.example.x"]


async def test_inbox_query_filters_and_limit(
    api: httpx.AsyncClient, key: SigningKey, connect: Connect, clock: FakeClock
) -> None:
    client = await connect("sandbox")
    token = key.token(clock())
    other_device = "cd" * 32
    for device, topic in [(TOKEN, TOPIC), (TOKEN, TOPIC), (other_device, "com.example.b")]:
        assert (await push(client, token, device=device, topic=topic)).status == 200

    everything = (await api.get("/inbox")).json()
    by_token = (await api.get("/inbox", params={"token": TOKEN.upper()})).json()
    by_topic = (await api.get("/inbox", params={"topic": "com.example.b"})).json()
    newest = (await api.get("/inbox", params={"limit": "1"})).json()

    assert everything["count"] == 3
    assert by_token["count"] == 2
    assert [n["token"] for n in by_topic["notifications"]] == [other_device]
    [item] = newest["notifications"]
    assert item["token"] == other_device
    assert item["auth"] == {"kind": "token", "key_id": key.key_id, "team_id": key.team_id}
    assert set(item) == {
        "received_at", "environment", "token", "topic", "push_type", "priority",
        "expiration", "apns_id", "collapse_id", "auth", "payload",
    }  # fmt: skip


async def test_stats_and_clearing_the_inbox(
    api: httpx.AsyncClient, key: SigningKey, connect: Connect, clock: FakeClock
) -> None:
    client = await connect("sandbox")
    await push(client, key.token(clock()))
    await push(client, key.token(clock()), body=b"")

    stats = (await api.get("/stats")).json()
    cleared = await api.delete("/inbox")

    assert stats["requests"] == 2
    assert stats["accepted"] == 1
    assert stats["rejections"] == {"PayloadEmpty": 1}
    assert stats["inbox"] == {"size": 1, "max": 100_000, "dropped": 0}
    assert cleared.json() == {"cleared": 1}
    assert (await api.get("/inbox")).json()["count"] == 0


async def test_devices_and_dead_tokens(
    api: httpx.AsyncClient, key: SigningKey, connect: Connect, clock: FakeClock
) -> None:
    device = {"token": TOKEN, "topic": TOPIC, "environment": "production"}
    assert (await api.post("/apns/devices", json=device)).status_code == 201
    dead = await api.post("/apns/dead-tokens", json={"token": TOKEN, "timestamp_ms": 42})
    assert dead.json() == {"token": TOKEN, "timestamp_ms": 42}
    client = await connect("production")

    answer = await push(client, key.token(clock()))

    assert answer.json() == {"reason": "Unregistered", "timestamp": 42}


async def test_faults_put_get_delete(
    api: httpx.AsyncClient, key: SigningKey, connect: Connect, clock: FakeClock
) -> None:
    put = await api.put("/apns/faults", json={"too_many_requests": {"every": 1}})
    client = await connect("sandbox")

    limited = await push(client, key.token(clock()))
    current = (await api.get("/apns/faults")).json()
    cleared = await api.delete("/apns/faults")

    assert put.status_code == 200
    assert limited.reason == "TooManyRequests"
    assert current["too_many_requests"] == {"first": 0, "every": 1, "rate": 0.0}
    assert cleared.json()["too_many_requests"] == {"first": 0, "every": None, "rate": 0.0}
    assert (await push(client, key.token(clock()))).status == 200


async def test_issue_a_client_certificate(api: httpx.AsyncClient) -> None:
    answer = await api.post("/apns/certificates", json={"topic": TOPIC, "environment": "sandbox"})

    assert answer.status_code == 201
    info = read_apns_certificate(answer.json()["cert_pem"].encode())
    assert (info.subject_uid, info.environments) == (TOPIC, frozenset({"sandbox"}))
    assert answer.json()["key_pem"].startswith("-----BEGIN PRIVATE KEY-----")


@pytest.mark.parametrize(
    ("method", "path", "content", "status", "error"),
    [
        ("POST", "/apns/keys", b"{not json", 400, "invalid_json"),
        ("POST", "/apns/keys", b'{"key_id": "K"}', 422, "invalid_request"),
        (
            "POST",
            "/apns/keys",
            b'{"key_id":"K","team_id":"T","public_key_pem":"nope"}',
            422,
            "invalid_request",
        ),
        ("POST", "/apns/devices", BAD_DEVICE, 422, "invalid_request"),
        ("POST", "/apns/dead-tokens", NEGATIVE_TIMESTAMP, 422, "invalid_request"),
        ("PUT", "/apns/faults", b'{"goaway_every": 0}', 422, "invalid_request"),
        ("PUT", "/apns/faults", b'{"surprise": 1}', 422, "invalid_request"),
        ("PUT", "/apns/faults", b"", 400, "invalid_json"),
        (
            "POST",
            "/apns/certificates",
            b'{"topic":"t","environment":"moon"}',
            422,
            "invalid_request",
        ),
        ("GET", "/inbox?limit=zero", b"", 400, "invalid_query"),
        ("GET", "/nowhere", b"", 404, "not_found"),
        ("PATCH", "/inbox", b"", 405, "method_not_allowed"),
    ],
)
async def test_bad_input_gets_a_json_4xx(
    api: httpx.AsyncClient, method: str, path: str, content: bytes, status: int, error: str
) -> None:
    answer = await api.request(method, path, content=content)

    assert answer.status_code == status
    assert answer.json()["error"] == error
    assert answer.json()["message"]


async def test_validation_errors_name_the_field(api: httpx.AsyncClient) -> None:
    answer = await api.post("/apns/keys", json={"key_id": "K", "team_id": "T"})

    assert answer.json()["details"] == [{"field": "public_key_pem", "message": "Field required"}]
