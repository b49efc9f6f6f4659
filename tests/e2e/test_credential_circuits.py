"""A credential every push refuses: the circuit stops sending, reports it, probes, resumes;
and a wave of token rejections is a credential alert, not a mass deactivation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from harness import TOPIC, create_app, gateway_settings, new_token, running_gateway

from pushgate.simulator import Simulator

KEY_ID = "REVOKED123"
TEAM_ID = "TEAMID1234"


def public_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.fixture
async def gateway(tmp_path: Path, sim: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    settings = gateway_settings(
        tmp_path,
        sim,
        dispatch={
            "concurrency": 2,  # few in flight when the circuit opens
            "circuit_threshold": 5,
            "circuit_cooldown": 0.5,
            "circuit_max_cooldown": 1.0,
        },
    )
    async with running_gateway(settings) as gw, gw.client(await create_app(gw)) as api:
        yield api


async def register_many(api: httpx.AsyncClient, count: int, environment: str) -> list[str]:
    tokens = [new_token() for _ in range(count)]
    for i, token in enumerate(tokens):
        response = await api.post(
            "/v1/devices",
            json={
                "user_id": f"u{i}",
                "platform": "apns",
                "token": token,
                "environment": environment,
            },
        )
        assert response.status_code == 201, response.text
    return tokens


async def credential(api: httpx.AsyncClient) -> dict:
    (found,) = (await api.get("/v1/credentials")).json()
    return found


async def report(api: httpx.AsyncClient, notification_id: str) -> dict:
    return (await api.get(f"/v1/notifications/{notification_id}")).json()


async def test_revoked_key_opens_the_circuit_and_a_probe_resumes_sending(
    gateway: httpx.AsyncClient, sim: Simulator
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    sim.register_key(KEY_ID, TEAM_ID, public_pem(ec.generate_private_key(ec.SECP256R1())),
                     bundle_ids=[TOPIC])  # fmt: skip  # another key under our id: all refused
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    upload = {"kind": "token", "key_p8": pem, "key_id": KEY_ID, "team_id": TEAM_ID,
              "topic": TOPIC, "environment": "sandbox"}  # fmt: skip
    assert (await gateway.put("/v1/credentials/apns", json=upload)).status_code == 201
    tokens = await register_many(gateway, 40, "sandbox")

    sent = await gateway.post("/v1/notifications", json={"tokens": tokens, "alert": {"body": "x"}})
    notification_id = sent.json()["id"]
    async with asyncio.timeout(20):
        while (await credential(gateway))["health"]["circuit"] != "open":  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    await asyncio.sleep(1.5)  # a few cooldowns: the probes are refused too
    refused = sim.inbox.stats()["rejections"].get("InvalidProviderToken", 0)
    assert 5 <= refused <= 10  # the threshold, those in flight, a probe per cooldown: not 40
    health = (await credential(gateway))["health"]
    assert health["status"] == "error"
    assert any("InvalidProviderToken" in problem for problem in health["problems"])
    assert any("paused" in problem for problem in health["problems"])
    held = await report(gateway, notification_id)
    assert held["counts"]["pending"] >= 28 and not held["complete"]

    sim.register_key(KEY_ID, TEAM_ID, public_pem(key), bundle_ids=[TOPIC])  # the key is back
    async with asyncio.timeout(20):
        while not (done := await report(gateway, notification_id))["complete"]:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    assert done["counts"]["delivered"] >= 28
    assert done["counts"]["delivered"] + done["counts"].get("rejected", 0) == 40
    health = (await credential(gateway))["health"]
    assert health["circuit"] == "closed" and health["status"] == "ok"


async def test_most_devices_refused_at_once_is_a_credential_alert_not_a_deactivation(
    gateway: httpx.AsyncClient, sim: Simulator
) -> None:
    """Devices registered as sandbox whose tokens APNs knows as production tokens: the
    sandbox answers BadDeviceToken for each (docs/apns.md §1)."""
    key = ec.generate_private_key(ec.SECP256R1())
    sim.register_key(KEY_ID, TEAM_ID, public_pem(key), bundle_ids=[TOPIC])
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    upload = {"kind": "token", "key_p8": pem, "key_id": KEY_ID, "team_id": TEAM_ID,
              "topic": TOPIC, "environment": "sandbox"}  # fmt: skip
    assert (await gateway.put("/v1/credentials/apns", json=upload)).status_code == 201
    tokens = await register_many(gateway, 30, "sandbox")
    for token in tokens:
        sim.register_device(token, TOPIC, "production")

    sent = await gateway.post("/v1/notifications", json={"tokens": tokens, "alert": {"body": "x"}})
    notification_id = sent.json()["id"]
    async with asyncio.timeout(20):
        while (await credential(gateway))["health"]["status"] != "error":  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    devices = (await gateway.get("/v1/devices")).json()
    inactive = [d for d in devices if not d["active"]]
    assert len(inactive) == 9  # the app's first rejections, before they outnumbered deliveries
    assert len(devices) - len(inactive) == 21
    found = await report(gateway, notification_id)
    assert found["counts"]["unregistered"] == 9
    doubtful = [r for r in found["results"] if r["status"] == "rejected"]
    assert doubtful and all("stay active" in r["reason"] for r in doubtful)
    health = (await credential(gateway))["health"]
    assert any("BadDeviceToken for 10 devices" in problem for problem in health["problems"])


@pytest.fixture
async def host_gateway(tmp_path: Path, sim: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    settings = gateway_settings(
        tmp_path,
        sim,
        dispatch={
            "concurrency": 2,
            "max_attempts": 30,
            "host_circuit_threshold": 5,
            "host_circuit_span": 0.0,
            "circuit_cooldown": 0.5,
            "circuit_max_cooldown": 1.0,
        },
    )
    async with running_gateway(settings) as gw, gw.client(await create_app(gw)) as api:
        key = ec.generate_private_key(ec.SECP256R1())
        sim.register_key(KEY_ID, TEAM_ID, public_pem(key), bundle_ids=[TOPIC])
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        upload = {"kind": "token", "key_p8": pem, "key_id": KEY_ID, "team_id": TEAM_ID,
                  "topic": TOPIC, "environment": "sandbox"}  # fmt: skip
        assert (await api.put("/v1/credentials/apns", json=upload)).status_code == 201
        yield api


async def test_a_host_failing_everything_is_probed_not_hammered(
    host_gateway: httpx.AsyncClient, sim: Simulator
) -> None:
    tokens = await register_many(host_gateway, 40, "sandbox")
    sim.set_faults(service_unavailable={"every": 1})  # every push: 503
    sent = await host_gateway.post(
        "/v1/notifications", json={"tokens": tokens, "alert": {"body": "x"}}
    )
    notification_id = sent.json()["id"]
    await asyncio.sleep(3.0)  # retries every 20-200 ms each would be hundreds of requests
    failed_tries = sim.inbox.stats()["rejections"].get("ServiceUnavailable", 0)
    assert 5 <= failed_tries <= 30  # until it opened, then a probe per cooldown (flat: ~700)
    sim.clear_faults()
    async with asyncio.timeout(20):
        while not (done := await report(host_gateway, notification_id))["complete"]:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    assert done["counts"] == {"delivered": 40}
