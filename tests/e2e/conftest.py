"""Fixtures: a simulator and a gateway wired to it, an app with token-auth credentials."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from harness import (
    RunningGateway,
    create_app,
    gateway_settings,
    new_signing_key,
    running_gateway,
)

from backends import store_settings
from pushgate.simulator import Simulator, SimulatorSettings


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(SimulatorSettings()) as simulator:
        yield simulator


@pytest.fixture
def store_backend() -> str:
    """The gateway's store; a test parametrizes it to run on PostgreSQL too."""
    return "sqlite"


@pytest.fixture
async def gw(tmp_path: Path, sim: Simulator, store_backend: str) -> AsyncIterator[RunningGateway]:
    async with (
        store_settings(store_backend, tmp_path) as store,
        running_gateway(gateway_settings(tmp_path, sim, store=store)) as running,
    ):
        yield running


@pytest.fixture
async def app_key(gw: RunningGateway) -> str:
    return await create_app(gw)


@pytest.fixture
async def api(gw: RunningGateway, app_key: str) -> AsyncIterator[httpx.AsyncClient]:
    async with gw.client(app_key) as client:
        yield client


@pytest.fixture
async def token_app(api: httpx.AsyncClient, sim: Simulator) -> httpx.AsyncClient:
    """The app client, with a sandbox token-auth credential the simulator trusts."""
    body = {**new_signing_key(sim), "environment": "sandbox"}
    response = await api.put("/v1/credentials/apns", json=body)
    assert response.status_code == 201, response.text
    return api
