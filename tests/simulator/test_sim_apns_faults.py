"""Injected faults (PROTOCOLS.md §1.13): error answers, GOAWAY, delays, stream limits, shutdown."""

from __future__ import annotations

import json
import ssl
import time

import pytest
from sim_h2_client import H2TestClient, client_context
from sim_support import TOPIC, Connect, FakeClock, SigningKey, push

from pushgate.simulator import ApnsFaults, FaultRate, Simulator, SimulatorSettings


async def test_too_many_requests_every_third_notification(
    sim: Simulator, key: SigningKey, connect: Connect, clock: FakeClock
) -> None:
    sim.set_faults(too_many_requests=FaultRate(every=3))
    client = await connect("sandbox")
    token = key.token(clock())

    answers = [await push(client, token) for _ in range(6)]

    assert [a.status for a in answers] == [200, 200, 429, 200, 200, 429]
    assert answers[2].json() == {"reason": "TooManyRequests"}
    assert len(sim.inbox) == 4
    assert sim.inbox.stats()["rejections"] == {"TooManyRequests": 2}


async def test_rates_are_deterministic_for_a_seed(
    sim: Simulator, key: SigningKey, connect: Connect, clock: FakeClock
) -> None:
    plan = ApnsFaults(service_unavailable=FaultRate(rate=0.5), seed=7)
    client = await connect("sandbox")
    token = key.token(clock())

    sim.set_faults(plan)
    first = [(await push(client, token)).status for _ in range(16)]
    sim.set_faults(plan)
    second = [(await push(client, token)).status for _ in range(16)]

    assert first == second
    assert set(first) == {200, 503}


async def test_internal_server_error(
    sim: Simulator, key: SigningKey, connect: Connect, clock: FakeClock
) -> None:
    sim.set_faults(internal_server_error=FaultRate(every=1))
    client = await connect("production")

    answer = await push(client, key.token(clock()))

    assert (answer.status, answer.reason) == (500, "InternalServerError")


async def test_invalid_requests_are_rejected_before_faults(
    sim: Simulator, key: SigningKey, connect: Connect, clock: FakeClock
) -> None:
    sim.set_faults(service_unavailable=FaultRate(every=1))
    client = await connect("sandbox")

    answer = await push(client, key.token(clock()), apns_priority="2")

    assert answer.reason == "BadPriority"


async def test_goaway_after_every_second_stream(
    sim: Simulator, key: SigningKey, connect: Connect, clock: FakeClock
) -> None:
    sim.set_faults(goaway_every=2)
    client = await connect("sandbox")
    token = key.token(clock())

    answers = [await push(client, token) for _ in range(2)]
    await client.wait_for(lambda: client.goaway is not None)

    assert [a.status for a in answers] == [200, 200]
    assert client.goaway is not None
    assert (client.goaway.error_code, client.goaway.last_stream_id) == (0, 3)
    assert json.loads(client.goaway.additional_data or b"") == {"reason": "Shutdown"}
    await wait_closed(client)
    fresh = await connect("sandbox")
    assert (await push(fresh, token)).status == 200


async def test_goaway_refuses_streams_above_the_last_one(sim: Simulator, connect: Connect) -> None:
    sim.set_faults(goaway_every=1, response_delay=0.2)
    client = await connect("sandbox", cert=sim.issue_client_certificate(TOPIC))
    path = "/3/device/" + "ab" * 32
    futures = [client.start_request(path, [], b"{}") for _ in range(3)]

    answers = [await f for f in futures]

    assert answers[0].status == 200
    assert [a.reset_code for a in answers[1:]] == [7, 7]  # REFUSED_STREAM: safe to retry
    await client.wait_for(lambda: client.goaway is not None)
    assert client.goaway is not None and client.goaway.last_stream_id == 1


async def test_response_delay(
    sim: Simulator, key: SigningKey, connect: Connect, clock: FakeClock
) -> None:
    client = await connect("sandbox")
    sim.set_faults(response_delay=0.3)
    started = time.monotonic()

    answer = await push(client, key.token(clock()), device="zz")

    assert answer.reason == "BadDeviceToken"
    assert time.monotonic() - started >= 0.3


async def test_max_concurrent_streams_override_applies_to_open_connections(
    sim: Simulator, key: SigningKey, connect: Connect, clock: FakeClock
) -> None:
    client = await connect("sandbox")
    assert (await push(client, key.token(clock()))).status == 200
    await client.wait_for(lambda: client.max_streams == 1000)

    sim.set_faults(max_concurrent_streams=5)
    await client.wait_for(lambda: client.max_streams == 5)
    sim.clear_faults()
    await client.wait_for(lambda: client.max_streams == 1000)


async def test_shutdown_sends_goaway_with_shutdown_reason(clock: FakeClock) -> None:
    sim = Simulator(SimulatorSettings(clock=clock))
    await sim.start()
    client = await H2TestClient.connect(sim.apns_production_port, client_context(sim.ca_file))

    await sim.aclose()

    await client.wait_for(lambda: client.goaway is not None)
    assert client.goaway is not None
    assert json.loads(client.goaway.additional_data or b"") == {"reason": "Shutdown"}
    await client.close()


async def test_clients_without_h2_alpn_are_refused(sim: Simulator) -> None:
    context = ssl.create_default_context(cafile=sim.ca_file)
    context.set_alpn_protocols(["http/1.1"])

    with pytest.raises(ConnectionError):
        await H2TestClient.connect(sim.apns_sandbox_port, context)


async def wait_closed(client: H2TestClient) -> None:
    """Wait until the server closed the connection."""
    await client.wait_for(client.closed.is_set)
