"""pywebpush, unchanged, against the Web Push simulator: it delivers (the simulator decrypts what
a browser would read), and it sees the documented errors for an expired subscription, a bad
Topic, a VAPID key the subscription is not bound to, and injected faults."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid as PyVapid
from pywebpush import WebPushException, webpush

from pushgate.simulator import Simulator
from pushgate.simulator.webpush_crypto import b64url_encode

SUBJECT = "mailto:ops@example.com"


class Vapid:
    """An application server's VAPID key pair, as pywebpush takes it."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        private_pem = self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        self.signer = PyVapid.from_pem(private_pem)  # pywebpush's own VAPID type
        point = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        self.public_b64url = b64url_encode(point)


@pytest.fixture
def session(sim: Simulator) -> requests.Session:
    """A requests session that trusts exactly the simulator's CA (``trust_env`` off, or the
    environment's REQUESTS_CA_BUNDLE would override the session's ``verify``)."""
    http = requests.Session()
    http.trust_env = False
    http.verify = sim.ca_file
    return http


async def _push(
    session: requests.Session, subscription: dict[str, Any], vapid: Vapid, data: str, **options: Any
) -> requests.Response:
    """pywebpush's one-call API, in a thread (it is synchronous)."""
    return await asyncio.to_thread(
        webpush,
        subscription,
        data,
        vapid_private_key=vapid.signer,
        vapid_claims={"sub": SUBJECT},
        requests_session=session,
        **options,
    )


async def test_pywebpush_delivers_what_a_browser_decrypts(
    sim: Simulator, session: requests.Session
) -> None:
    vapid = Vapid()
    subscription = sim.create_webpush_subscription(vapid.public_b64url)
    payloads = [json.dumps({"room": "general", "n": n}) for n in range(3)]

    answers = [await _push(session, subscription, vapid, p, ttl=60) for p in payloads]

    assert [a.status_code for a in answers] == [201, 201, 201]
    received = sim.webpush_inbox.query()
    assert [m.plaintext.decode() for m in received] == payloads
    assert {m.vapid_subject for m in received} == {SUBJECT}
    assert [m.ttl for m in received] == [60, 60, 60]
    clients = sim.webpush_inbox.stats()["clients"]
    assert clients["deliveries"] == {received[0].subscription_id: 3}


async def test_pywebpush_sees_the_documented_errors(
    sim: Simulator, session: requests.Session
) -> None:
    vapid, other = Vapid(), Vapid()
    subscription = sim.create_webpush_subscription(vapid.public_b64url)

    async def refused(**options: Any) -> requests.Response:
        signer = options.pop("signer", vapid)
        with pytest.raises(WebPushException) as caught:
            await _push(session, subscription, signer, "hello", **options)
        assert caught.value.response is not None
        return caught.value.response

    wrong_key = await refused(signer=other)
    bad_topic = await refused(headers={"Topic": "not a valid topic!"})
    sim.set_webpush_faults(service_unavailable={"first": 1}, retry_after=7)
    unavailable = await refused()
    sim.clear_webpush_faults()
    delivered = await _push(session, subscription, vapid, "after the fault")
    sim.expire_webpush_subscription(subscription["endpoint"])
    gone = await refused()

    assert (wrong_key.status_code, wrong_key.json()["reason"]) == (403, "VapidPkHashMismatch")
    assert (bad_topic.status_code, bad_topic.json()["reason"]) == (400, "BadWebPushTopic")
    assert (unavailable.status_code, unavailable.headers["retry-after"]) == (503, "7")
    assert gone.status_code == 410
    assert delivered.status_code == 201
    assert [m.plaintext for m in sim.webpush_inbox.query()] == [b"after the fault"]
