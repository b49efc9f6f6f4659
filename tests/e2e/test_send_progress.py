"""Issue 14 item 5: ``pushgate send`` shows progress while it waits, says what to do next and
exits non-zero when a device did not get the notification; ``notifications show/list``."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from harness import (
    RunningGateway,
    create_app,
    gateway_settings,
    new_signing_key,
    new_token,
    running_gateway,
)
from test_cli import cli

from pushgate.simulator import Simulator


@pytest.fixture
async def slow_retry_gw(tmp_path: Path, sim: Simulator) -> AsyncIterator[RunningGateway]:
    settings = gateway_settings(
        tmp_path, sim, dispatch={"backoff_initial": 0.6, "backoff_max": 0.8, "max_attempts": 50}
    )
    async with running_gateway(settings) as running:
        yield running


async def _app_with_device(gw: RunningGateway, sim: Simulator) -> tuple[str, str]:
    key = await create_app(gw)
    token = new_token()
    async with gw.client(key) as api:
        body = {**new_signing_key(sim), "environment": "sandbox"}
        assert (await api.put("/v1/credentials/apns", json=body)).status_code == 201
        device = {"user_id": "ann", "platform": "apns", "token": token, "environment": "sandbox"}
        assert (await api.post("/v1/devices", json=device)).status_code == 201
    return key, token


async def test_progress_while_retrying_then_delivered(
    slow_retry_gw: RunningGateway, sim: Simulator
) -> None:
    key, _ = await _app_with_device(slow_retry_gw, sim)
    sim.set_faults(service_unavailable={"first": 2})
    code, out = await cli(
        "send", "-u", "ann", "--body", "x", "--timeout", "50", url=slow_retry_gw.url, api_key=key
    )
    assert code == 0, out
    assert re.search(
        r"waiting \(\d+ s\): 1 pending \(attempt \d, last: ServiceUnavailable\)", out
    ), out
    assert "delivered" in out


async def test_still_pending_at_the_timeout_exits_3_and_says_how_to_check(
    slow_retry_gw: RunningGateway, sim: Simulator
) -> None:
    key, _ = await _app_with_device(slow_retry_gw, sim)
    sim.set_faults(service_unavailable={"every": 1})
    code, out = await cli(
        "send", "-u", "ann", "--body", "x", "--timeout", "2", url=slow_retry_gw.url, api_key=key
    )
    assert code == 3, out
    found = re.search(r"Check again later: pushgate notifications show (ntf_\w+)", out)
    assert found, out
    sim.clear_faults()
    code, out = await cli(
        "notifications", "show", found.group(1), url=slow_retry_gw.url, api_key=key
    )
    assert code == 0 and found.group(1) in out, out


async def test_not_delivered_exits_1_with_the_next_step_and_the_log_lists_it(
    gw: RunningGateway, sim: Simulator
) -> None:
    key, token = await _app_with_device(gw, sim)
    sim.mark_dead(token)
    code, out = await cli(
        "send", "-u", "ann", "--body", "x", "--timeout", "50", url=gw.url, api_key=key
    )
    assert code == 1, out
    assert "unregistered: the push service says the token is dead" in out, out
    code, out = await cli(
        "notifications", "list", "--user", "ann", "--since", "10m", url=gw.url, api_key=key
    )
    assert code == 0 and "unregistered 1" in out, out
    code, out = await cli("send", "-u", "nobody", "--body", "x", url=gw.url, api_key=key)
    assert code == 1, out  # nothing to deliver to is not a success either
    code, out = await cli("send", "-u", "ann", "--body", "x", "--no-wait", url=gw.url, api_key=key)
    assert code == 0 and "pushgate notifications show ntf_" in out, out
