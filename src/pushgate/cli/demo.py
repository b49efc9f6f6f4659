"""`pushgate serve --demo`: the gateway plus the built-in simulator, with deliveries shown.

The demo creates an app with APNs, FCM and Web Push credentials the simulator trusts, gives a
user one device on each platform, then sends one notification through the real HTTP API and
prints what the gateway reported and what each simulated service received. The gateway keeps
serving afterwards.
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
DEMO_PROJECT = "pushgate-demo"
DEMO_USER = "demo-user"


def simulator_overrides(sim: Simulator) -> dict[str, Any]:
    """Settings that point APNs, FCM and Web Push at ``sim``, trusting its CA."""
    host = sim.settings.host
    return {
        "apns": {
            "production_host": host,
            "production_port": sim.apns_production_port,
            "sandbox_host": host,
            "sandbox_port": sim.apns_sandbox_port,
            "ca_file": sim.ca_file,
        },
        "fcm": {"base_url": sim.fcm_base_url, "ca_file": sim.ca_file},
        "webpush": {"ca_file": sim.ca_file},
    }


async def run_demo(settings: Settings) -> None:
    """Serve with the simulator until interrupted, after one demonstrated send."""
    sim_settings = SimulatorSettings(state_dir=settings.data_dir / "simulator")
    async with Simulator(sim_settings) as sim:
        merged = Settings.model_validate(
            _merge(settings.model_dump(exclude_unset=True), simulator_overrides(sim))
        )
        for line in sim.describe():
            console.print(f"simulator: {line}", highlight=False, soft_wrap=True)
        gateway = Gateway(merged)
        server = uvicorn_server(merged, gateway)
        serving = asyncio.create_task(server.serve())
        while not server.started and not serving.done():  # noqa: ASYNC110 (uvicorn has a flag only)
            await asyncio.sleep(0.05)
        if server.started:
            await _demonstrate(gateway, sim, _base_url(server, merged))
        await serving


async def _demonstrate(gateway: Gateway, sim: Simulator, base_url: str) -> None:
    api_key = new_api_key(APP_PREFIX)
    name = f"demo-{int(time.time())}-{secrets.token_hex(2)}"
    app = await gateway.store.create_app(name, hash_api_key(api_key), display_prefix(api_key))
    assert app is not None
    headers = {"authorization": f"Bearer {api_key}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as http:
        apns_token = await _setup_apns(http, sim)
        fcm_token = await _setup_fcm(http, sim)
        endpoint = await _setup_webpush(http, sim)
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
    for result in report["results"]:
        console.print(
            f"demo: {result['platform']:8} device of {result['user_id']}: "
            f"[bold]{result['status']}[/bold]",
            highlight=False,
        )
    received = {
        "APNs": [n.payload for n in sim.inbox.query(token=apns_token)],
        "FCM": [n.message for n in sim.fcm_inbox.query(token=fcm_token)],
        "Web Push (decrypted)": [
            json.loads(n.plaintext) for n in sim.webpush_inbox.query(endpoint=endpoint)
        ],
    }
    for service, messages in received.items():
        for message in messages:
            console.print(
                f"demo: simulated {service} received: {json.dumps(message)}",
                highlight=False,
                soft_wrap=True,
            )
    _print_hints(base_url, api_key, sim)


async def _setup_apns(http: httpx.AsyncClient, sim: Simulator) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    sim.register_key(DEMO_KEY_ID, DEMO_TEAM_ID, public, bundle_ids=[DEMO_TOPIC])
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    await _call(
        http,
        "PUT",
        "/v1/credentials/apns",
        json={
            "kind": "token",
            "key_p8": pem,
            "key_id": DEMO_KEY_ID,
            "team_id": DEMO_TEAM_ID,
            "topic": DEMO_TOPIC,
            "environment": "sandbox",
        },
    )
    token = secrets.token_hex(32)
    await _call(
        http,
        "POST",
        "/v1/devices",
        json={"user_id": DEMO_USER, "platform": "apns", "token": token, "environment": "sandbox"},
    )
    return token


async def _setup_fcm(http: httpx.AsyncClient, sim: Simulator) -> str:
    account = sim.create_service_account(DEMO_PROJECT)
    await _call(http, "PUT", "/v1/credentials/fcm", json={"service_account": account})
    token = sim.create_fcm_token(DEMO_PROJECT)
    await _call(
        http, "POST", "/v1/devices", json={"user_id": DEMO_USER, "platform": "fcm", "token": token}
    )
    return token


async def _setup_webpush(http: httpx.AsyncClient, sim: Simulator) -> str:
    vapid = await _call(
        http,
        "PUT",
        "/v1/credentials/webpush",
        json={"generate": True, "subject": "mailto:demo@example.com"},
    )
    subscription = sim.create_webpush_subscription(vapid["public_key"])
    await _call(
        http,
        "POST",
        "/v1/devices",
        json={"user_id": DEMO_USER, "platform": "webpush", "subscription": subscription},
    )
    endpoint: str = subscription["endpoint"]
    return endpoint


async def _call(http: httpx.AsyncClient, method: str, path: str, **kwargs: Any) -> Any:
    response = await http.request(method, path, **kwargs)
    response.raise_for_status()
    return response.json()


def _print_hints(url: str, key: str, sim: Simulator) -> None:
    console.print(
        f"demo: gateway API at {url} (see {url}/docs). Try it:\n"
        f"  export PUSHGATE_URL={url} PUSHGATE_API_KEY={key}\n"
        f"  pushgate send --user {DEMO_USER} --title Hi --body 'from the CLI'\n"
        f"  pushgate simulator inbox --control-url {sim.control_url}",
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
