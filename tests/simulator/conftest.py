"""Fixtures for the simulator tests: a started simulator with a fake clock, signing keys, clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sim_h2_client import H2TestClient, client_context
from sim_services import access_token, https_client, trusted_account
from sim_support import TEAM_BUNDLE_IDS, Connect, FakeClock, SigningKey

from pushgate.simulator import Simulator, SimulatorSettings


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(clock: FakeClock, tmp_path: Path) -> SimulatorSettings:
    return SimulatorSettings(clock=clock, state_dir=tmp_path / "state")


@pytest.fixture
async def sim(settings: SimulatorSettings) -> AsyncIterator[Simulator]:
    async with Simulator(settings) as simulator:
        yield simulator


@pytest.fixture
def key(sim: Simulator) -> SigningKey:
    signing_key = SigningKey.generate()
    sim.register_key(
        signing_key.key_id, signing_key.team_id, signing_key.public_pem, bundle_ids=TEAM_BUNDLE_IDS
    )
    return signing_key


@pytest.fixture
async def connect(sim: Simulator, tmp_path: Path) -> AsyncIterator[Connect]:
    """connect(env="sandbox", cert=(cert_pem, key_pem) | None, **options) -> H2TestClient."""
    clients: list[H2TestClient] = []

    async def _connect(
        env: str = "sandbox", cert: tuple[bytes, bytes] | None = None, **options: object
    ) -> H2TestClient:
        files = None
        if cert is not None:
            cert_file, key_file = (
                tmp_path / f"c{len(clients)}.pem",
                tmp_path / f"k{len(clients)}.pem",
            )
            cert_file.write_bytes(cert[0])
            key_file.write_bytes(cert[1])
            files = (str(cert_file), str(key_file))
        port = sim.apns_sandbox_port if env == "sandbox" else sim.apns_production_port
        client = await H2TestClient.connect(port, client_context(sim.ca_file, files), **options)
        clients.append(client)
        return client

    yield _connect
    for client in clients:
        await client.close()


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTPS client (HTTP/2) trusting the simulator's CA, for its FCM and Web Push ports."""
    async with https_client(sim) as http:
        yield http


@pytest.fixture
async def bearer(sim: Simulator, client: httpx.AsyncClient, clock: FakeClock) -> str:
    """An FCM access token for the simulator's trusted service account."""
    return await access_token(client, trusted_account(sim), clock)
