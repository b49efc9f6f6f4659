"""Feedback and webhooks end to end: a dead token becomes a feedback entry and a signed call;
a receiver that is down for a while gets every call once it is up (a real HTTP server)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from harness import create_app, gateway_settings, new_signing_key, new_token, running_gateway
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pushgate.simulator import Simulator


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@asynccontextmanager
async def receiver(port: int, received: list[tuple[dict[str, str], bytes]]) -> AsyncIterator[None]:
    """An HTTP server on ``port`` that keeps every request's headers and body."""

    async def hook(request: Request) -> Response:
        received.append((dict(request.headers), await request.body()))
        return Response(status_code=204)

    app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn has no started event
        await asyncio.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def api(tmp_path: Path, sim: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    settings = gateway_settings(
        tmp_path,
        sim,
        webhooks={"backoff_initial": 0.2, "backoff_max": 0.4, "poll_interval": 0.05},
    )
    async with running_gateway(settings) as gw, gw.client(await create_app(gw)) as client:
        body = {**new_signing_key(sim), "environment": "sandbox"}
        assert (await client.put("/v1/credentials/apns", json=body)).status_code == 201
        yield client


async def test_a_receiver_down_for_a_while_gets_every_signed_call(
    api: httpx.AsyncClient, sim: Simulator
) -> None:
    port = free_port()  # nothing listens there yet
    created = await api.post("/v1/webhooks", json={"url": f"http://127.0.0.1:{port}/hook"})
    assert created.status_code == 201, created.text
    hook = created.json()
    secret = hook["secret"].encode()
    assert "secret" not in (await api.get("/v1/webhooks")).json()[0]

    dead, alive = new_token(), new_token()
    for user, token in (("erin", dead), ("finn", alive)):
        response = await api.post(
            "/v1/devices",
            json={"user_id": user, "platform": "apns", "token": token, "environment": "sandbox"},
        )
        assert response.status_code == 201
    stamp_ms = sim.mark_dead(dead, int(time.time() * 1000) + 3000)
    sent = await api.post(
        "/v1/notifications", params={"wait": "true"},
        json={"tokens": [dead, alive], "alert": {"body": "x"}},
    )  # fmt: skip
    assert sent.json()["counts"] == {"delivered": 1, "unregistered": 1}

    feedback = (await api.get("/v1/feedback")).json()
    (entry,) = feedback["devices"]
    assert entry["token"] == dead and entry["platform"] == "apns"
    assert entry["reason"] == "Unregistered"
    assert abs(entry["provider_timestamp"] - stamp_ms / 1000) < 0.01
    after = (await api.get("/v1/feedback", params={"after": feedback["next_after"]})).json()
    assert after["devices"] == []

    log_url = f"/v1/webhooks/{hook['id']}/calls"
    async with asyncio.timeout(20):
        while True:
            calls = (await api.get(log_url)).json()["calls"]
            if len(calls) == 2 and all(c["attempts"] >= 2 for c in calls):
                break
            await asyncio.sleep(0.05)
    assert {c["state"] for c in calls} == {"pending"}
    assert {c["last_error"] for c in calls} == {"ConnectError"}  # the receiver is down

    received: list[tuple[dict[str, str], bytes]] = []
    async with receiver(port, received):
        async with asyncio.timeout(20):
            while len(received) < 2:  # noqa: ASYNC110 - the receiver has no event
                await asyncio.sleep(0.05)
    bodies = {}
    for headers, body in received:
        stamp = headers["pushgate-timestamp"]
        expected = hmac.new(secret, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        assert headers["pushgate-signature"] == f"v1={expected}"
        assert abs(int(stamp) - time.time()) < 30
        bodies[headers["pushgate-event"]] = json.loads(body)
    assert bodies["device.deactivated"]["token"] == dead
    assert bodies["device.deactivated"]["cursor"] == entry["cursor"]
    finished = bodies["notification.finished"]
    assert finished["notification_id"] == sent.json()["id"]
    assert finished["counts"] == {"delivered": 1, "unregistered": 1}
    calls = (await api.get(log_url)).json()["calls"]
    assert {c["state"] for c in calls} == {"delivered"}
    assert all(c["last_status"] == 204 and c["delivered_at"] for c in calls)


async def test_a_webhook_needs_a_url_and_known_events(api: httpx.AsyncClient) -> None:
    bad = await api.post("/v1/webhooks", json={"url": "not a url", "events": ["nope"]})
    assert bad.status_code == 422
    missing = await api.delete("/v1/webhooks/wh_missing")
    assert missing.status_code == 404
