"""End-to-end harness: a real gateway (uvicorn + Gateway) and the simulator, in one event loop.

Everything talks over 127.0.0.1: the test calls the gateway's HTTP API with httpx, the gateway
sends to the simulator over TLS + HTTP/2 trusting the simulator's CA.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pushgate.api.app import build_app
from pushgate.config import Settings
from pushgate.gateway import Gateway
from pushgate.simulator import Simulator

ADMIN_KEY = "pgadm_e2e-admin-key"
TOPIC = "com.example.chat"


def gateway_settings(data_dir: Path, sim: Simulator, **sections: Any) -> Settings:
    """Settings for a test gateway that sends to ``sim``."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "admin_api_key": ADMIN_KEY,
        "server": {"host": "127.0.0.1", "port": 0},
        "apns": {
            "production_host": "127.0.0.1",
            "production_port": sim.apns_production_port,
            "sandbox_host": "127.0.0.1",
            "sandbox_port": sim.apns_sandbox_port,
            "ca_file": sim.ca_file,
            "request_timeout": 5.0,
        },
        "fcm": {"base_url": sim.fcm_base_url, "ca_file": sim.ca_file, "request_timeout": 5.0},
        "webpush": {"ca_file": sim.ca_file, "request_timeout": 5.0},
        "dispatch": {
            "backoff_initial": 0.02,
            "backoff_max": 0.2,
            "max_attempts": 4,
            "wait_timeout": 15.0,
        },
    }
    for name, section in sections.items():
        merged = isinstance(section, dict) and isinstance(values.get(name), dict)
        values[name] = {**values[name], **section} if merged else section
    return Settings.model_validate(values)


@dataclass
class RunningGateway:
    """A gateway serving on an ephemeral port."""

    gateway: Gateway
    url: str
    api_key: str | None = None
    """The key of the app a harness set up, when it did."""

    def client(self, api_key: str | None) -> httpx.AsyncClient:
        headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30)


@asynccontextmanager
async def running_gateway(
    settings: Settings, *, clock: Callable[[], float] | None = None
) -> AsyncIterator[RunningGateway]:
    """Start uvicorn with a Gateway; stop it on exit."""
    if clock is None:
        gateway = Gateway(settings)
    else:  # the clock reaches the providers only when they run in this process
        dispatch = settings.dispatch.model_copy(update={"separate_process": False})
        gateway = Gateway(settings.model_copy(update={"dispatch": dispatch}), clock=clock)
    config = uvicorn.Config(
        build_app(gateway), host="127.0.0.1", port=0, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(10):
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield RunningGateway(gateway=gateway, url=f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        await task


async def create_app(gw: RunningGateway, name: str | None = None) -> str:
    """A new app; returns its API key."""
    async with gw.client(ADMIN_KEY) as admin:
        response = await admin.post("/v1/apps", json={"name": name or secrets.token_hex(4)})
    assert response.status_code == 201, response.text
    return response.json()["api_key"]


def new_signing_key(
    sim: Simulator,
    *,
    key_id: str = "KEYID12345",
    team_id: str = "TEAMID1234",
    environment: str = "both",
    topics: list[str] | None = None,
) -> dict[str, Any]:
    """A fresh .p8 key the simulator trusts, as a token-credential upload body (no env)."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    sim.register_key(key_id, team_id, public, environment, topics, bundle_ids=[TOPIC])
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return {"kind": "token", "key_p8": pem, "key_id": key_id, "team_id": team_id, "topic": TOPIC}


def new_token() -> str:
    """A random 32-byte device token as hex."""
    return secrets.token_hex(32)
