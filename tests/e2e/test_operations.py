"""Operations: liveness, readiness with its checks, and the sending side's metrics (relayed
from the dispatcher process) on /metrics."""

from __future__ import annotations

import asyncio
import re

import httpx
from harness import RunningGateway, new_signing_key, new_token

from pushgate.simulator import Simulator


async def test_ready_only_with_a_usable_credential(
    gw: RunningGateway, api: httpx.AsyncClient, sim: Simulator
) -> None:
    async with gw.client(None) as anonymous:
        assert (await anonymous.get("/healthz")).json() == {"status": "ok"}
        refused = await anonymous.get("/readyz")
        assert refused.status_code == 503
        error = refused.json()["error"]
        assert error["code"] == "not_ready"
        assert [d["field"] for d in error["details"]] == ["credentials"]

        body = {**new_signing_key(sim), "environment": "sandbox"}
        assert (await api.put("/v1/credentials/apns", json=body)).status_code == 201
        ready = await anonymous.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert [(c["check"], c["ok"]) for c in ready.json()["checks"]] == [
            ("store", True),
            ("outbox", True),
            ("credentials", True),
        ]


async def test_metrics_by_app_outcome_and_reason_with_latency(
    gw: RunningGateway, token_app: httpx.AsyncClient, sim: Simulator
) -> None:
    tokens = []
    for i in range(20):  # one delivery in 16 is timed
        token = new_token()
        tokens.append(token)
        response = await token_app.post(
            "/v1/devices",
            json={"user_id": f"u{i}", "platform": "apns", "token": token, "environment": "sandbox"},
        )
        assert response.status_code == 201
    sim.mark_dead(tokens[0])
    sent = await token_app.post(
        "/v1/notifications",
        params={"wait": "true"},
        json={"tokens": tokens, "alert": {"body": "x"}},
    )
    assert sent.json()["counts"] == {"delivered": 19, "unregistered": 1}
    async with gw.client(None) as anonymous:
        async with asyncio.timeout(10):
            while True:
                text = (await anonymous.get("/metrics")).text
                if "pushgate_send_seconds_count" in text and 'outcome="unregistered"' in text:
                    break
                await asyncio.sleep(0.1)
    delivered = re.search(
        r'pushgate_delivery_outcomes_total\{app="app_\w+",outcome="delivered",platform="apns",'
        r'reason=""\} (\S+)',
        text,
    )
    assert delivered and float(delivered.group(1)) == 19
    assert re.search(r'outcome="unregistered",platform="apns",reason="Unregistered"\} 1\.0', text)
    count = re.search(r'pushgate_send_seconds_count\{platform="apns"\} (\S+)', text)
    assert count and float(count.group(1)) >= 1
    refreshes = re.search(r'pushgate_token_refreshes_total\{platform="apns"\} (\S+)', text)
    assert refreshes and float(refreshes.group(1)) >= 1
    assert re.search(r'pushgate_circuits_open\{platform="apns"\} 0\.0', text)
    assert re.search(r"pushgate_outbox_depth \d", text)
