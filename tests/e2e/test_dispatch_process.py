"""The dispatcher's own process: restarted when it dies, and both modes deliver the same way."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
from harness import create_app, gateway_settings, new_signing_key, new_token, running_gateway

from pushgate.dispatch.process import DispatcherProcess
from pushgate.simulator import Simulator


async def register(api: httpx.AsyncClient, user: str) -> str:
    token = new_token()
    response = await api.post(
        "/v1/devices",
        json={"user_id": user, "platform": "apns", "token": token, "environment": "sandbox"},
    )
    assert response.status_code == 201, response.text
    return token


async def send_and_wait(api: httpx.AsyncClient, user: str) -> dict:
    response = await api.post(
        "/v1/notifications",
        params={"wait": "true"},
        json={"user_ids": [user], "alert": {"body": user}},
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_dispatcher_that_dies_is_replaced_and_sends_what_was_accepted(
    tmp_path: Path, sim: Simulator
) -> None:
    async with running_gateway(gateway_settings(tmp_path, sim)) as gw:
        dispatcher = gw.gateway.dispatcher
        assert isinstance(dispatcher, DispatcherProcess)
        async with gw.client(await create_app(gw)) as api:
            body = {**new_signing_key(sim), "environment": "sandbox"}
            assert (await api.put("/v1/credentials/apns", json=body)).status_code == 201
            await register(api, "before")
            await register(api, "after")
            assert (await send_and_wait(api, "before"))["counts"] == {"delivered": 1}

            first_pid = dispatcher.pid
            assert first_pid is not None
            os.kill(first_pid, signal.SIGKILL)
            began = time.monotonic()
            report = await send_and_wait(api, "after")  # accepted while no dispatcher runs

            assert report["counts"] == {"delivered": 1}
            assert dispatcher.pid not in (None, first_pid)
            assert time.monotonic() - began < 10
    assert [n.payload["aps"]["alert"]["body"] for n in sim.inbox.query()] == ["before", "after"]


async def test_the_dispatcher_in_the_api_process_delivers_too(
    tmp_path: Path, sim: Simulator
) -> None:
    settings = gateway_settings(tmp_path, sim, dispatch={"separate_process": False})
    async with running_gateway(settings) as gw:
        assert not isinstance(gw.gateway.dispatcher, DispatcherProcess)
        async with gw.client(await create_app(gw)) as api:
            body = {**new_signing_key(sim), "environment": "sandbox"}
            assert (await api.put("/v1/credentials/apns", json=body)).status_code == 201
            await register(api, "here")
            report = await send_and_wait(api, "here")
    assert report["counts"] == {"delivered": 1}
    assert [n.payload["aps"]["alert"]["body"] for n in sim.inbox.query()] == ["here"]
