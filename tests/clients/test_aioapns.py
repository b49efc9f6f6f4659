"""aioapns, unchanged, against the APNs simulator with token and certificate auth: it delivers,
and it sees Apple's answers for a dead token, a topic outside the team or certificate, and
injected faults; the inbox holds exactly what aioapns reports as sent."""

from __future__ import annotations

import secrets
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aioapns import APNs, NotificationRequest, PushType
from aioapns.common import NotificationResult
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pushgate.simulator import FaultRate, Simulator

TOPIC = "com.example.chat"
KEY_ID, TEAM_ID = "AIOAPNSKEY", "AIOTEAM123"
ALERT = {"aps": {"alert": {"title": "general", "body": "hello"}}}


def _context(sim: Simulator) -> ssl.SSLContext:
    """Verification on, trusting exactly the simulator's CA (aioapns' own option)."""
    return ssl.create_default_context(cafile=sim.ca_file)


@pytest.fixture(params=["token", "certificate"])
def auth(request: pytest.FixtureRequest, sim: Simulator, tmp_path: Path) -> dict[str, str]:
    """aioapns' options for a .p8 signing key the simulator trusts, or a client certificate."""
    if request.param == "token":
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        sim.register_key(KEY_ID, TEAM_ID, pem, bundle_ids=[TOPIC])
        auth: dict[str, str] = {"key": pem, "key_id": KEY_ID, "team_id": TEAM_ID, "topic": TOPIC}
    else:
        cert_pem, key_pem = sim.issue_client_certificate(TOPIC, "sandbox")
        identity = tmp_path / "apns-identity.pem"
        identity.write_bytes(cert_pem + key_pem)
        auth = {"client_cert": str(identity)}  # aioapns reads the topic from its UID
    return auth


def _apns(sim: Simulator, auth: dict[str, str], attempts: int) -> APNs:
    return APNs(
        **auth, use_sandbox=True, ssl_context=_context(sim), max_connection_attempts=attempts
    )


@pytest.fixture
async def client(
    sim: Simulator, real_hosts: dict[str, int], auth: dict[str, str]
) -> AsyncIterator[APNs]:
    """aioapns that tries each notification once, so every answer it reports is the first."""
    apns = _apns(sim, auth, attempts=1)
    yield apns
    apns.pool.close()


async def _send(client: APNs, token: str, **options: object) -> NotificationResult:
    return await client.send_notification(
        NotificationRequest(device_token=token, message=ALERT, push_type=PushType.ALERT, **options)
    )


async def test_aioapns_delivers(sim: Simulator, client: APNs) -> None:
    tokens = [secrets.token_hex(32) for _ in range(5)]

    results = [await _send(client, token) for token in tokens]

    assert all(r.is_successful for r in results), [(r.status, r.description) for r in results]
    received = sim.inbox.query()
    assert [n.token for n in received] == tokens
    assert [n.apns_id for n in received] == [r.notification_id for r in results]
    assert {n.payload == ALERT and n.environment == "sandbox" for n in received} == {True}
    assert len({n.auth.kind for n in received}) == 1
    clients = sim.inbox.stats()["clients"]
    assert clients["connections"] == 1  # aioapns reuses its connection
    assert clients["deliveries"] == dict.fromkeys(tokens, 1)


async def test_aioapns_sees_apples_answers(sim: Simulator, client: APNs) -> None:
    dead, busy, fine = (secrets.token_hex(32) for _ in range(3))
    stamp = sim.mark_dead(dead)
    sim.set_faults(too_many_requests_per_token={busy: FaultRate(first=1)})

    gone = await _send(client, dead)
    other_app = await _send(client, fine, apns_topic="com.someone.else")
    throttled = await _send(client, busy)
    retried = await _send(client, busy)
    sim.set_faults(service_unavailable=FaultRate(first=1))
    unavailable = await _send(client, fine)
    delivered = await _send(client, fine)

    assert (gone.status, gone.description, gone.timestamp) == ("410", "Unregistered", stamp)
    assert (other_app.status, other_app.description) == ("400", "TopicDisallowed")
    assert (throttled.status, throttled.description) == ("429", "TooManyRequests")
    assert (unavailable.status, unavailable.description) == ("503", "ServiceUnavailable")
    assert retried.is_successful and delivered.is_successful
    sent = {retried.notification_id, delivered.notification_id}
    assert {n.apns_id for n in sim.inbox.query()} == sent


async def test_aioapns_through_graceful_goaways(
    sim: Simulator, real_hosts: dict[str, int], auth: dict[str, str]
) -> None:
    """What aioapns does on a GOAWAY: it reconnects and delivers everything, but sends the
    notification the GOAWAY fell on twice.

    The simulator sends GOAWAY (NO_ERROR, last-stream-id = the stream that caused it) and then
    answers that stream, as RFC 9113 §6.8 lets a server do. aioapns never reads that answer:
    h2 (4.x, which aioapns uses) moves its connection state machine to CLOSED when it receives
    GOAWAY (``H2Connection._receive_goaway_frame``, input RECV_GOAWAY), and its table has no
    RECV_HEADERS or RECV_DATA out of CLOSED, so the answer raises ProtocolError ("Invalid
    input ConnectionInputs.RECV_HEADERS in state ConnectionState.CLOSED"); aioapns also
    closes the connection itself on h2's ConnectionTerminated event. Either way the request
    fails with ConnectionClosed and aioapns sends it again on a new connection, with the same
    apns-id: the simulator, like Apple, received it twice (at least once, never lost).
    """
    sim.set_faults(goaway_every=3)
    apns = _apns(sim, auth, attempts=2)
    tokens = [secrets.token_hex(32) for _ in range(7)]
    try:
        results = [await _send(apns, token) for token in tokens]
    finally:
        apns.pool.close()

    assert all(r.is_successful for r in results), [(r.status, r.description) for r in results]
    received = sim.inbox.query()
    assert {n.apns_id for n in received} == {r.notification_id for r in results}
    # Streams 1, 3, 5 of each connection; the third ends it, its notification is the next
    # connection's first: the 3rd, 5th and 7th notifications went out twice.
    twice = {tokens[2], tokens[4], tokens[6]}
    assert [n.token for n in received] == [t for t in tokens for _ in range(2 if t in twice else 1)]
    clients = sim.inbox.stats()["clients"]
    assert clients["connections"] == 4
    assert clients["deliveries"] == {t: 2 if t in twice else 1 for t in tokens}
