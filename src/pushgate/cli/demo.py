"""`pushgate serve --demo`: the gateway plus the built-in simulator, with deliveries shown.

The demo creates an app with APNs, FCM and Web Push credentials the simulator trusts, gives a
user one device on each platform, then sends one notification through the real HTTP API and
prints what the gateway reported and what each simulated service received. The gateway keeps
serving afterwards.
"""

from __future__ import annotations

import json
import secrets
import shutil
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pushgate.cli.common import console
from pushgate.cli.simulated import serve_with_simulator
from pushgate.config import Settings
from pushgate.gateway import Gateway
from pushgate.keys import rotate_default_key
from pushgate.security import APP_PREFIX, display_prefix, hash_api_key, new_api_key
from pushgate.simulator import Simulator

DEMO_APP = "demo"
DEMO_KEY_ID = "DEMOKEY001"
DEMO_TEAM_ID = "DEMOTEAM01"
DEMO_TOPIC = "com.example.pushgate.demo"
DEMO_PROJECT = "pushgate-demo"
DEMO_USER = "demo-user"


async def run_demo(settings: Settings) -> None:
    """Serve with the simulator until interrupted, after one demonstrated send."""
    await serve_with_simulator(settings, fixed_control_port=False, after_start=_demonstrate)


async def demo_app_key(gateway: Gateway) -> str:
    """A fresh key of the demo app: the one app every run reuses (created on the first)."""
    api_key = new_api_key(APP_PREFIX)
    hashed, prefix = hash_api_key(api_key), display_prefix(api_key)
    existing = next((a for a in await gateway.store.list_apps() if a.name == DEMO_APP), None)
    if existing is not None:
        await rotate_default_key(gateway.store, existing.id, hashed, prefix, time.time())
    elif await gateway.store.create_app(DEMO_APP, hashed, prefix) is None:
        raise RuntimeError("the demo app appeared while it was being created")
    return api_key


async def _demonstrate(gateway: Gateway, sim: Simulator, base_url: str) -> None:
    api_key = await demo_app_key(gateway)
    headers = {"authorization": f"Bearer {api_key}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as http:
        await _forget_earlier_devices(http)
        apns_token = await _setup_apns(http)
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


async def _forget_earlier_devices(http: httpx.AsyncClient) -> None:
    """Earlier runs' devices: their simulator is gone, so they are dropped, not piled up."""
    for device in await _call(http, "GET", "/v1/devices", params={"user_id": DEMO_USER}):
        await http.delete(f"/v1/devices/{quote(device['token'], safe='')}")


async def _setup_apns(http: httpx.AsyncClient) -> str:
    """A new signing key: the gateway registers it with the simulator on upload."""
    key = ec.generate_private_key(ec.SECP256R1())
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
        json={"generate": True, "replace": True, "subject": "mailto:demo@example.com"},
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
    command = pushgate_command()
    console.print(
        f"demo: gateway API at {url} (see {url}/docs). Try it (in another terminal):\n"
        f"  export PUSHGATE_URL={url} PUSHGATE_API_KEY={key}\n"
        f"  {command} send --user {DEMO_USER} --title Hi --body 'from the CLI'\n"
        f"  {command} simulator inbox --control-url {sim.control_url}",
        highlight=False,
        soft_wrap=True,
    )


def pushgate_command() -> str:
    """How to run this pushgate as typed in a shell: ``pushgate`` when that is on PATH and is
    this one, else the full path of the script next to this interpreter (the venv's)."""
    beside = Path(sys.executable).parent / "pushgate"
    found = shutil.which("pushgate")
    if found and (not beside.exists() or Path(found).resolve() == beside.resolve()):
        return "pushgate"
    return str(beside) if beside.exists() else f"{sys.executable} -m pushgate"
