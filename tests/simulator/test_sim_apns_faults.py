"""Injected faults: error answers (global and per device token), GOAWAY, delays, stream limits,
shutdown."""

from __future__ import annotations

import asyncio
import json
import ssl
import time

import httpx
import pytest
from sim_h2_client import H2TestClient, client_context
from sim_support import TOKEN, TOPIC, Connect, FakeClock, SigningKey, push

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


async def test_too_many_requests_for_one_device_token_only(
    sim: Simulator, key: SigningKey, connect: Connect, clock: FakeClock
) -> None:
    busy, calm = "ab" * 32, "cd" * 32
    sim.set_faults(too_many_requests_per_token={busy.upper(): FaultRate(every=2)})
    client = await connect("sandbox")
    token = key.token(clock())

    answers = [await push(client, token, device=d) for d in (busy, calm, busy, calm, busy, busy)]

    assert [a.status for a in answers] == [200, 200, 429, 200, 200, 429]
    assert {a.reason for a in answers if a.status == 429} == {"TooManyRequests"}
    assert sim.inbox.stats()["clients"]["deliveries"] == {busy: 2, calm: 2}


async def test_stats_count_what_the_client_did(
    sim: Simulator, key: SigningKey, connect: Connect, clock: FakeClock
) -> None:
    first, second = await connect("sandbox"), await connect("sandbox")
    token = key.token(clock())
    for client in (first, second):
        assert (await push(client, token)).status == 200
    clock.advance(1300)  # past the 20-minute rule: the client may change its JWT
    assert (await push(first, key.token(clock()))).status == 200

    clients = sim.inbox.stats()["clients"]

    assert (clients["connections"], clients["open_connections"]) == (2, 2)
    assert (clients["requests"], clients["distinct_credentials"]) == (3, 2)
    assert clients["token_refreshes"] == 1
    assert clients["deliveries"] == {TOKEN: 3}
    assert token not in json.dumps(clients)  # credentials are counted, never kept


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


async def test_graceful_goaway_comes_first_and_the_streams_received_are_answered(
    sim: Simulator, connect: Connect
) -> None:
    sim.set_faults(goaway_every=1, response_delay=0.3)
    client = await connect("sandbox", cert=sim.issue_client_certificate(TOPIC))
    path = "/3/device/" + "ab" * 32
    futures = [client.start_request(path, [], b"{}") for _ in range(3)]

    await client.wait_for(lambda: client.goaway is not None)
    answered_before_goaway = [f.done() for f in futures]
    answers = [await f for f in futures]

    assert answered_before_goaway == [False, False, False]
    assert client.goaway is not None and client.goaway.last_stream_id == 5
    assert [a.status for a in answers] == [200, 200, 200]
    assert len(sim.inbox) == 3
    await wait_closed(client)


async def test_graceful_goaway_answers_the_requests_read_with_the_one_that_caused_it(
    sim: Simulator, connect: Connect
) -> None:
    """Five requests reach the server in one read and the first one ends in GOAWAY: its last
    stream is the fifth, so all five are answered before the connection closes (the simulator
    once closed after the first answer, before taking in the other four)."""
    sim.set_faults(goaway_every=1)
    client = await connect("sandbox", cert=sim.issue_client_certificate(TOPIC))
    path = "/3/device/" + "ab" * 32
    futures = client.start_requests([(path, [], b"{}")] * 5)  # one write, one TLS record

    answers = [await asyncio.wait_for(f, 5) for f in futures]

    assert client.goaway is not None and client.goaway.last_stream_id == 9
    assert [a.status for a in answers] == [200] * 5
    assert len(sim.inbox) == 5
    await wait_closed(client)


async def test_abrupt_goaway_refuses_streams_above_the_last_one(
    sim: Simulator, connect: Connect
) -> None:
    sim.set_faults(abrupt_goaway_every=1, response_delay=0.2)
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


async def test_http1_clients_are_dropped(sim: Simulator) -> None:
    """APNs speaks HTTP/2 only: an HTTP/1.1 request fails the connection preface."""
    context = ssl.create_default_context(cafile=sim.ca_file)
    async with httpx.AsyncClient(http1=True, http2=False, verify=context) as client:
        with pytest.raises(httpx.TransportError):
            await client.post(f"https://127.0.0.1:{sim.apns_sandbox_port}/3/device/{TOKEN}")


async def wait_closed(client: H2TestClient) -> None:
    """Wait until the server closed the connection."""
    await client.wait_for(client.closed.is_set)
