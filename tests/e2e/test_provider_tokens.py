"""APNs provider tokens end to end: reuse, ExpiredProviderToken refresh-and-retry-once."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from harness import create_app, gateway_settings, new_signing_key, new_token, running_gateway

from pushgate.simulator import Simulator, SimulatorSettings


class Clock:
    """A settable clock shared by a test and the code under test."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, minutes: float) -> None:
        self.now += minutes * 60


@pytest.fixture
def clocks() -> tuple[Clock, Clock]:
    return Clock(), Clock()


@pytest.fixture
async def api(
    tmp_path: Path, clocks: tuple[Clock, Clock]
) -> AsyncIterator[tuple[httpx.AsyncClient, Simulator]]:
    sim_clock, gateway_clock = clocks
    async with (
        Simulator(SimulatorSettings(clock=sim_clock)) as sim,
        running_gateway(gateway_settings(tmp_path, sim), clock=gateway_clock) as gw,
    ):
        key = await create_app(gw)
        async with gw.client(key) as client:
            body = {**new_signing_key(sim), "environment": "sandbox"}
            assert (await client.put("/v1/credentials/apns", json=body)).status_code == 201
            yield client, sim


async def send(client: httpx.AsyncClient, token: str) -> dict:
    response = await client.post(
        "/v1/notifications",
        params={"wait": "true"},
        json={"tokens": [token], "alert": {"body": "x"}},
    )
    assert response.status_code == 200, response.text
    return response.json()["results"][0]


async def delivered_once(client: httpx.AsyncClient) -> str:
    """Register a sandbox device and deliver one notification to it; its token."""
    token = new_token()
    await client.post(
        "/v1/devices",
        json={"user_id": "u", "platform": "apns", "token": token, "environment": "sandbox"},
    )
    assert (await send(client, token))["status"] == "delivered"
    return token


async def test_expired_provider_token_is_refreshed_and_retried_once(
    api: tuple[httpx.AsyncClient, Simulator], clocks: tuple[Clock, Clock]
) -> None:
    client, sim = api
    sim_clock, gateway_clock = clocks
    token = await delivered_once(client)
    sim_clock.advance(61)  # APNs now sees the JWT as more than an hour old...
    gateway_clock.advance(21)  # ...while our signer thinks it is 21 minutes old.
    result = await send(client, token)
    assert result["status"] == "delivered" and result["attempts"] == 1
    assert sim.inbox.stats()["rejections"] == {"ExpiredProviderToken": 1}
    first, second = sim.inbox.query(token=token)
    assert first.auth.key_id == second.auth.key_id == "KEYID12345"


async def test_refresh_is_refused_within_20_minutes_and_reported(
    api: tuple[httpx.AsyncClient, Simulator], clocks: tuple[Clock, Clock]
) -> None:
    client, sim = api
    sim_clock, gateway_clock = clocks
    token = await delivered_once(client)
    sim_clock.advance(61)
    gateway_clock.advance(5)
    result = await send(client, token)
    assert result["status"] == "rejected" and result["reason"] == "ExpiredProviderToken"
    assert sim.inbox.stats()["rejections"] == {"ExpiredProviderToken": 1}


async def test_token_is_reused_then_renewed_after_50_minutes(
    api: tuple[httpx.AsyncClient, Simulator], clocks: tuple[Clock, Clock]
) -> None:
    client, sim = api
    sim_clock, _ = clocks
    token = await delivered_once(client)
    for _ in range(2):
        assert (await send(client, token))["status"] == "delivered"
    for clock in clocks:
        clock.advance(51)
    assert (await send(client, token))["status"] == "delivered"
    sim_clock.advance(15)  # 66 minutes after the first token: only a renewed one is valid
    assert (await send(client, token))["status"] == "delivered"
    assert sim.inbox.stats()["rejected"] == 0
