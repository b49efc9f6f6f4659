"""Slow and lost answers: retries bounded by the deadline, and ``unknown`` where a push that
got no answer may have been delivered (the simulator's late-answer and GOAWAY faults)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from harness import create_app, gateway_settings, new_signing_key, new_token, running_gateway

from pushgate.config import DispatchSettings
from pushgate.simulator import Simulator

DEFAULT_BUDGET = DispatchSettings.model_fields["max_attempts"].default


@asynccontextmanager
async def app_on_gateway(
    tmp_path: Path, sim: Simulator, request_timeout: float
) -> AsyncIterator[httpx.AsyncClient]:
    """An app on a gateway that waits ``request_timeout`` for an APNs answer, with the
    default retry budget."""
    settings = gateway_settings(
        tmp_path,
        sim,
        apns={"request_timeout": request_timeout},
        dispatch={"max_attempts": DEFAULT_BUDGET, "wait_timeout": 60.0},
    )
    async with running_gateway(settings) as gw, gw.client(await create_app(gw)) as api:
        body = {**new_signing_key(sim), "environment": "sandbox"}
        response = await api.put("/v1/credentials/apns", json=body)
        assert response.status_code == 201, response.text
        yield api


@pytest.fixture
async def quick_timeout_app(tmp_path: Path, sim: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    async with app_on_gateway(tmp_path, sim, 1.0) as api:
        yield api


@pytest.fixture
async def patient_app(tmp_path: Path, sim: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    async with app_on_gateway(tmp_path, sim, 5.0) as api:
        yield api


async def register_many(api: httpx.AsyncClient, count: int) -> list[str]:
    tokens = [new_token() for _ in range(count)]
    for i, token in enumerate(tokens):
        response = await api.post(
            "/v1/devices",
            json={"user_id": f"u{i}", "platform": "apns", "token": token, "environment": "sandbox"},
        )
        assert response.status_code == 201, response.text
    return tokens


async def send_and_wait(api: httpx.AsyncClient, **body: object) -> dict:
    response = await api.post("/v1/notifications", params={"wait": "true"}, json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def test_fault_mix_gives_up_on_no_deliverable_notification(
    patient_app: httpx.AsyncClient, sim: Simulator
) -> None:
    """503 at 20 %, GOAWAY every 50 streams and 10 % of answers late: every one arrives (with
    a collapse id, so a late answer the gateway gave up on under load is repeated)."""
    tokens = await register_many(patient_app, 300)
    sim.set_faults(
        service_unavailable={"rate": 0.2},
        goaway_every=50,
        late={"rate": 0.1},
        late_delay=1.0,  # late, within the gateway's 5 s
        seed=7,
    )
    report = await send_and_wait(patient_app, tokens=tokens, alert={"body": "x"}, collapse_id="mix")
    assert report["complete"] and report["counts"] == {"delivered": 300}
    assert {n.token for n in sim.inbox.query(limit=10_000)} == set(tokens)
    assert sim.inbox.stats()["rejections"].get("ServiceUnavailable", 0) > 30  # faults did hit


async def test_unanswered_push_is_unknown_and_not_repeated(
    quick_timeout_app: httpx.AsyncClient, sim: Simulator
) -> None:
    (token,) = await register_many(quick_timeout_app, 1)
    sim.set_faults(late={"first": 1}, late_delay=3.0)  # past the gateway's 1 s
    report = await send_and_wait(quick_timeout_app, tokens=[token], alert={"body": "x"})
    (result,) = report["results"]
    assert result["status"] == "unknown" and result["attempts"] == 1
    assert "may have been delivered" in result["reason"]
    assert report["counts"] == {"unknown": 1} and report["complete"]
    await asyncio.sleep(0.2)
    assert len(sim.inbox.query(token=token)) == 1  # it was delivered, once
    log = await quick_timeout_app.get("/v1/notifications")
    (entry,) = log.json()["notifications"]
    assert entry["counts"] == {"unknown": 1}


async def test_unanswered_push_with_a_collapse_id_is_repeated_under_the_same_apns_id(
    quick_timeout_app: httpx.AsyncClient, sim: Simulator
) -> None:
    (token,) = await register_many(quick_timeout_app, 1)
    sim.set_faults(late={"first": 1}, late_delay=3.0)
    report = await send_and_wait(
        quick_timeout_app, tokens=[token], alert={"body": "x"}, collapse_id="room-7"
    )
    (result,) = report["results"]
    assert result["status"] == "delivered" and result["attempts"] == 2
    first, second = sim.inbox.query(token=token)
    assert first.apns_id == second.apns_id == result["provider_id"]
    assert uuid.UUID(first.apns_id).version == 8  # derived by pushgate, not the service's
    assert first.collapse_id == second.collapse_id == "room-7"
