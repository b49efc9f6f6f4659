"""`pushgate serve --demo`: the gateway plus the built-in simulator, with one delivery shown.

The demo creates an app, a signing key the simulator trusts and a device, then sends a
notification through the real HTTP API and prints what the gateway reported and what the
simulated APNs received. The gateway keeps serving afterwards.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pushgate.cli.common import console
from pushgate.cli.runner import uvicorn_server
from pushgate.config import Settings
from pushgate.gateway import Gateway
from pushgate.security import APP_PREFIX, display_prefix, hash_api_key, new_api_key
from pushgate.simulator import Simulator, SimulatorSettings

DEMO_KEY_ID = "DEMOKEY001"
DEMO_TEAM_ID = "DEMOTEAM01"
DEMO_TOPIC = "com.example.pushgate.demo"
DEMO_USER = "demo-user"


def simulator_overrides(sim: Simulator) -> dict[str, Any]:
    """Settings that point both APNs environments at ``sim``, trusting its CA."""
    host = sim.settings.host
    return {
        "apns": {
            "production_host": host,
            "production_port": sim.apns_production_port,
            "sandbox_host": host,
            "sandbox_port": sim.apns_sandbox_port,
            "ca_file": sim.ca_file,
        }
    }


async def run_demo(settings: Settings) -> None:
    """Serve with the simulator until interrupted, after one demonstrated delivery."""
    sim_settings = SimulatorSettings(state_dir=settings.data_dir / "simulator")
    async with Simulator(sim_settings) as sim:
        merged = Settings.model_validate(
            _merge(settings.model_dump(exclude_unset=True), simulator_overrides(sim))
        )
        for line in sim.describe():
            console.print(f"simulator: {line}", highlight=False)
        gateway = Gateway(merged)
        server = uvicorn_server(merged, gateway)
        serving = asyncio.create_task(server.serve())
        while not server.started and not serving.done():  # noqa: ASYNC110 (uvicorn has a flag only)
            await asyncio.sleep(0.05)
        if server.started:
            await _demonstrate(gateway, sim, _base_url(server, merged))
        await serving


async def _demonstrate(gateway: Gateway, sim: Simulator, base_url: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    sim.register_key(
        DEMO_KEY_ID,
        DEMO_TEAM_ID,
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )
    api_key = new_api_key(APP_PREFIX)
    app = await gateway.store.create_app(
        f"demo-{int(time.time())}-{secrets.token_hex(2)}",
        hash_api_key(api_key),
        display_prefix(api_key),
    )
    assert app is not None
    token = secrets.token_hex(32)
    headers = {"authorization": f"Bearer {api_key}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as http:
        await _call(
            http,
            "PUT",
            "/v1/credentials/apns",
            json={
                "kind": "token",
                "key_id": DEMO_KEY_ID,
                "team_id": DEMO_TEAM_ID,
                "topic": DEMO_TOPIC,
                "environment": "sandbox",
                "key_p8": key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                ).decode(),
            },
        )
        await _call(
            http,
            "POST",
            "/v1/devices",
            json={
                "user_id": DEMO_USER,
                "platform": "apns",
                "token": token,
                "environment": "sandbox",
            },
        )
        report = await _call(
            http,
            "POST",
            "/v1/notifications",
            params={"wait": "true"},
            json={
                "alert": {"title": "Hello from pushgate", "body": "Your first notification."},
                "user_ids": [DEMO_USER],
                "data": {"channel_id": "general"},
            },
        )
    _print_report(report, sim, token, base_url, api_key)


async def _call(http: httpx.AsyncClient, method: str, path: str, **kwargs: Any) -> Any:
    response = await http.request(method, path, **kwargs)
    response.raise_for_status()
    return response.json()


def _print_report(report: dict[str, Any], sim: Simulator, token: str, url: str, key: str) -> None:
    for result in report["results"]:
        console.print(
            f"demo: delivery to {result['platform']} device of {result['user_id']}: "
            f"[bold]{result['status']}[/bold] (apns-id {result['provider_id']})"
        )
    for received in sim.inbox.query(token=token):
        console.print(
            "demo: the simulated APNs received: " + json.dumps(received.payload),
            highlight=False,
            soft_wrap=True,
        )
    console.print(
        f"demo: gateway API at {url} (see {url}/docs). Try it:\n"
        f"  export PUSHGATE_API_KEY={key}\n"
        f"  pushgate send --user {DEMO_USER} --title Hi --body 'from the CLI'\n"
        f"  curl -s {sim.control_url}/inbox",
        highlight=False,
        soft_wrap=True,
    )


def _base_url(server: Any, settings: Settings) -> str:
    port = settings.server.port
    if port == 0:
        port = server.servers[0].sockets[0].getsockname()[1]
    return f"http://{settings.server.host}:{port}"


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        merged[key] = {**merged.get(key, {}), **value} if isinstance(value, dict) else value
    return merged
