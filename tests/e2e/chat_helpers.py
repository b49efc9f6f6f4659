"""Set up a chat app against the simulator: credentials for all three platforms, a channel."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import ec
from harness import new_signing_key, new_token

from pushgate.simulator import Simulator

FCM_PROJECT = "chat-android"


async def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


async def all_platforms(api: httpx.AsyncClient, sim: Simulator) -> str:
    """APNs (token auth, sandbox), FCM and Web Push credentials the simulator trusts; returns
    the VAPID public key (for browser subscriptions)."""
    await ok(
        await api.put(
            "/v1/credentials/apns", json={**new_signing_key(sim), "environment": "sandbox"}
        ),
        201,
    )
    account = sim.create_service_account(FCM_PROJECT)
    await ok(await api.put("/v1/credentials/fcm", json={"service_account": account}), 201)
    vapid = await ok(
        await api.put(
            "/v1/credentials/webpush", json={"generate": True, "subject": "mailto:push@example.com"}
        ),
        201,
    )
    return str(vapid["public_key"])


async def iphone(api: httpx.AsyncClient, user: str) -> str:
    token = new_token()
    body = {"user_id": user, "platform": "apns", "token": token, "environment": "sandbox"}
    await ok(await api.post("/v1/devices", json=body), 201)
    return token


async def android(api: httpx.AsyncClient, sim: Simulator, user: str) -> str:
    token = sim.create_fcm_token(FCM_PROJECT)
    await ok(
        await api.post("/v1/devices", json={"user_id": user, "platform": "fcm", "token": token}),
        201,
    )
    return token


async def browser(api: httpx.AsyncClient, sim: Simulator, vapid: str, user: str) -> str:
    subscription = sim.create_webpush_subscription(
        vapid,
        private_key=ec.generate_private_key(ec.SECP256R1()),
        auth_secret=os.urandom(16),
    )
    body = {"user_id": user, "platform": "webpush", "subscription": subscription}
    await ok(await api.post("/v1/devices", json=body), 201)
    return str(subscription["endpoint"])


async def channel(
    api: httpx.AsyncClient, channel_id: str, members: list[str], **fields: Any
) -> None:
    await ok(await api.post("/v1/chat/channels", json={"channels": [{"id": channel_id, **fields}]}))
    body = {"members": [{"channel_id": channel_id, "user_id": u} for u in members]}
    await ok(await api.post("/v1/chat/members", json=body))


async def post(api: httpx.AsyncClient, **message: Any) -> dict[str, Any]:
    result: dict[str, Any] = await ok(await api.post("/v1/chat/messages", json=message), 202)
    return result


async def wait_all(api: httpx.AsyncClient, notification_ids: list[str]) -> list[dict[str, Any]]:
    """Every delivery of the notifications, once final."""
    results = []
    for nid in notification_ids:
        for _ in range(300):
            report = await ok(await api.get(f"/v1/notifications/{nid}"))
            if report["complete"]:
                break
            await asyncio.sleep(0.05)
        assert report["complete"], report
        results.extend(report["results"])
    return results
