"""A gateway with front doors configured, and the app "chat" they send with (APNs + FCM)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from harness import RunningGateway, create_app, gateway_settings, new_signing_key, running_gateway

from pushgate.simulator import Simulator

APP = "chat"
FCM_PROJECT = "chat-android"


@asynccontextmanager
async def gateway_with_doors(
    tmp_path: Path, sim: Simulator, **doors: Any
) -> AsyncIterator[RunningGateway]:
    """A running gateway with ``doors`` (config sections) and the app ``chat`` set up."""
    async with running_gateway(gateway_settings(tmp_path, sim, **doors)) as gw:
        key = await create_app(gw, APP)
        gw.api_key = key
        async with gw.client(key) as api:
            apns = {**new_signing_key(sim), "environment": "sandbox"}
            await _created(api.put("/v1/credentials/apns", json=apns))
            account = sim.create_service_account(FCM_PROJECT)
            await _created(api.put("/v1/credentials/fcm", json={"service_account": account}))
        yield gw


async def _created(request: Any) -> None:
    response: httpx.Response = await request
    assert response.status_code == 201, response.text
