"""The dispatcher's own process: restarted when it dies, and both modes deliver the same way."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import httpx
import pytest
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


@pytest.mark.parametrize("separate_process", [True, False])
async def test_concurrent_waits_are_each_woken_by_their_result_not_by_polling(
    tmp_path: Path, sim: Simulator, monkeypatch: pytest.MonkeyPatch, separate_process: bool
) -> None:
    """Many ``wait=true`` sends at once (as a front door's senders make them): every answer
    is complete, and none polled the store (a poll would outlast the test)."""
    monkeypatch.setattr("pushgate.engine.accept.WAIT_POLL", 3600.0)
    settings = gateway_settings(tmp_path, sim, dispatch={"separate_process": separate_process})
    async with running_gateway(settings) as gw, gw.client(await create_app(gw)) as api:
        body = {**new_signing_key(sim), "environment": "sandbox"}
        assert (await api.put("/v1/credentials/apns", json=body)).status_code == 201
        users = [f"u{n}" for n in range(24)]
        for user in users:
            await register(api, user)
        async with asyncio.timeout(30):
            reports = await asyncio.gather(*(send_and_wait(api, user) for user in users))
    assert [report["counts"] for report in reports] == [{"delivered": 1}] * len(users)
    assert sorted(n.payload["aps"]["alert"]["body"] for n in sim.inbox.query()) == sorted(users)
