"""The Web Push simulator: decryption, VAPID, RFC 8030 headers, limits, faults."""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from sim_services import SUBJECT, https_client, push
from sim_support import FakeClock

from pushgate.outcomes import Delivered, Rejected, Retry, Unregistered
from pushgate.providers import webpush
from pushgate.providers.webpush_vapid import VapidKey
from pushgate.simulator import FaultRate, Simulator, WebPushFaults

PLAINTEXT = '{"title":"Hi","body":"héllo","data":{"room":"42"}}'.encode()


@pytest.fixture
def vapid() -> VapidKey:
    return VapidKey.generate()


@pytest.fixture
def subscription(sim: Simulator, vapid: VapidKey) -> dict[str, Any]:
    return sim.create_webpush_subscription(vapid.public_key_b64url)


async def test_a_message_is_decrypted_to_the_exact_plaintext(
    sim: Simulator,
    client: httpx.AsyncClient,
    vapid: VapidKey,
    subscription: dict[str, Any],
    clock: FakeClock,
) -> None:
    answer = await push(client, subscription, PLAINTEXT, key=vapid, clock=clock, topic="room42")

    assert answer.status_code == 201
    location = answer.headers["location"]
    assert location.startswith(f"{sim.webpush_base_url}/message/")
    assert answer.headers["ttl"] == "60"
    assert isinstance(webpush.classify(201, b"", answer.headers.raw, now=time.time()), Delivered)
    [kept] = sim.webpush_inbox.query(endpoint=subscription["endpoint"])
    assert kept.plaintext == PLAINTEXT
    assert kept.payload == {"title": "Hi", "body": "héllo", "data": {"room": "42"}}
    assert (kept.ttl, kept.urgency, kept.topic) == (60, "high", "room42")
    assert (kept.vapid_subject, kept.vapid_key) == (SUBJECT, vapid.public_key_b64url)
    assert location.endswith(kept.message_id)


async def test_subscriptions_look_like_a_browsers(sim: Simulator) -> None:
    made = sim.create_webpush_subscription()

    assert set(made) == {"endpoint", "expirationTime", "keys"}
    assert made["endpoint"].startswith(f"{sim.webpush_base_url}/push/")
    parsed = webpush.validate_subscription(
        made["endpoint"], made["keys"]["p256dh"], made["keys"]["auth"]
    )
    assert (len(parsed.p256dh), len(parsed.auth)) == (65, 16)


async def test_http1_and_an_unrestricted_subscription(
    sim: Simulator, vapid: VapidKey, clock: FakeClock
) -> None:
    open_subscription = sim.create_webpush_subscription()
    async with https_client(sim, http2=False) as http1:
        answer = await push(http1, open_subscription, b"not json", key=vapid, clock=clock)

    assert (answer.http_version, answer.status_code) == ("HTTP/1.1", 201)
    [kept] = sim.webpush_inbox.query()
    assert (kept.plaintext, kept.payload) == (b"not json", None)


async def test_an_empty_body_needs_no_encryption(
    sim: Simulator,
    client: httpx.AsyncClient,
    vapid: VapidKey,
    subscription: dict[str, Any],
    clock: FakeClock,
) -> None:
    answer = await push(
        client, subscription, b"", key=vapid, clock=clock, drop=("content-encoding",)
    )

    assert answer.status_code == 201
    assert sim.webpush_inbox.query()[0].plaintext == b""


async def test_a_long_ttl_is_answered_shortened(
    client: httpx.AsyncClient, vapid: VapidKey, subscription: dict[str, Any], clock: FakeClock
) -> None:
    answer = await push(client, subscription, PLAINTEXT, key=vapid, clock=clock, ttl="9999999")

    assert answer.headers["ttl"] == "2419200"


def _signed(vapid: VapidKey, claims: dict[str, Any]) -> str:
    """A VAPID header with hand-made claims, signed by ``vapid``."""
    private = serialization.load_pem_private_key(vapid.private_pem(), None)
    token = jwt.encode(claims, private, algorithm="ES256")  # type: ignore[arg-type]
    return f"vapid t={token}, k={vapid.public_key_b64url}"


@pytest.mark.parametrize(
    ("claims", "status", "reason"),
    [
        ({"aud": "https://push.example.net"}, 403, "BadJwtToken"),
        ({"exp": -1}, 403, "BadJwtToken"),
        ({"exp": 86_401}, 403, "BadJwtToken"),
        ({"sub": "mailto: <ops@example.com>"}, 403, "BadJwtToken"),
        ({"sub": None}, 403, "BadJwtToken"),
    ],
    ids=["wrong-aud", "expired", "over-24h", "bad-sub", "no-sub"],
)
async def test_vapid_claims_are_checked(
    sim: Simulator,
    client: httpx.AsyncClient,
    vapid: VapidKey,
    subscription: dict[str, Any],
    clock: FakeClock,
    claims: dict[str, Any],
    status: int,
    reason: str,
) -> None:
    now = int(clock())
    base = {"aud": sim.webpush_base_url, "exp": now + 3600, "sub": SUBJECT}
    for name, value in claims.items():
        base[name] = now + value if name == "exp" else value
    header = _signed(vapid, {k: v for k, v in base.items() if v is not None})

    answer = await push(
        client, subscription, PLAINTEXT, key=vapid, clock=clock, authorization=header
    )

    assert (answer.status_code, answer.json()["reason"]) == (status, reason)
    outcome = webpush.classify(answer.status_code, answer.content, now=time.time())
    assert isinstance(outcome, Rejected) and outcome.configuration


async def test_missing_vapid_is_401(
    client: httpx.AsyncClient, vapid: VapidKey, subscription: dict[str, Any], clock: FakeClock
) -> None:
    missing = await push(
        client, subscription, PLAINTEXT, key=vapid, clock=clock, drop=("authorization",)
    )
    old_style = await push(
        client, subscription, PLAINTEXT, key=vapid, clock=clock, authorization="WebPush abc"
    )

    assert (missing.status_code, missing.json()["reason"]) == (401, "MissingAuthorization")
    assert missing.headers["www-authenticate"] == "vapid"
    assert old_style.status_code == 401


async def test_another_key_than_the_subscriptions_is_403(
    client: httpx.AsyncClient, subscription: dict[str, Any], clock: FakeClock
) -> None:
    answer = await push(client, subscription, PLAINTEXT, key=VapidKey.generate(), clock=clock)

    assert (answer.status_code, answer.json()["reason"]) == (403, "VapidPkHashMismatch")


async def test_a_jwt_not_signed_by_k_is_403(
    client: httpx.AsyncClient, vapid: VapidKey, subscription: dict[str, Any], clock: FakeClock
) -> None:
    other = VapidKey.generate().vapid_header(subscription["endpoint"], SUBJECT, now=clock())
    token = other.decode().split("t=")[1].split(",")[0]
    header = f"vapid t={token}, k={vapid.public_key_b64url}"

    answer = await push(
        client, subscription, PLAINTEXT, key=vapid, clock=clock, authorization=header
    )

    assert (answer.status_code, answer.json()["reason"]) == (403, "BadJwtToken")


@pytest.mark.parametrize(
    ("overrides", "drop", "reason"),
    [
        ({}, ("ttl",), "MissingTtl"),
        ({"ttl": "-5"}, (), "BadTtl"),
        ({"urgency": "urgent"}, (), "BadUrgency"),
        ({"topic": "a" * 33}, (), "BadWebPushTopic"),
        ({"topic": "not/base64url"}, (), "BadWebPushTopic"),
        ({"content-encoding": "aesgcm"}, (), "BadContentEncoding"),
        ({}, ("content-encoding",), "BadContentEncoding"),
    ],
)
async def test_rfc8030_headers_are_checked(
    sim: Simulator,
    client: httpx.AsyncClient,
    vapid: VapidKey,
    subscription: dict[str, Any],
    clock: FakeClock,
    overrides: dict[str, str],
    drop: tuple[str, ...],
    reason: str,
) -> None:
    answer = await push(
        client, subscription, PLAINTEXT, key=vapid, clock=clock, drop=drop, **overrides
    )

    assert (answer.status_code, answer.json()["reason"]) == (400, reason)
    assert sim.webpush_inbox.stats()["rejections"] == {reason: 1}


async def test_bodies_over_4096_bytes_are_413(
    client: httpx.AsyncClient, vapid: VapidKey, subscription: dict[str, Any], clock: FakeClock
) -> None:
    largest = await push(client, subscription, b"x" * 3993, key=vapid, clock=clock)
    too_big = await client.post(
        subscription["endpoint"],
        content=b"\0" * 4097,
        headers={
            "ttl": "60",
            "content-encoding": "aes128gcm",
            "authorization": vapid.vapid_header(
                subscription["endpoint"], SUBJECT, now=clock()
            ).decode(),
        },
    )

    assert largest.status_code == 201
    assert (too_big.status_code, too_big.json()["reason"]) == (413, "PayloadTooLarge")


async def test_an_undecryptable_body_is_400(
    sim: Simulator,
    client: httpx.AsyncClient,
    vapid: VapidKey,
    subscription: dict[str, Any],
    clock: FakeClock,
) -> None:
    other = sim.create_webpush_subscription(vapid.public_key_b64url)
    # encrypted for another subscription's keys, posted to this one
    wrong_keys = {**other, "endpoint": subscription["endpoint"]}

    answer = await push(client, wrong_keys, PLAINTEXT, key=vapid, clock=clock)

    assert (answer.status_code, answer.json()["reason"]) == (400, "DecryptionFailed")
    assert len(sim.webpush_inbox) == 0


async def test_unknown_and_expired_subscriptions(
    sim: Simulator,
    client: httpx.AsyncClient,
    vapid: VapidKey,
    subscription: dict[str, Any],
    clock: FakeClock,
) -> None:
    unknown = {**subscription, "endpoint": f"{sim.webpush_base_url}/push/nobody"}
    sim.expire_webpush_subscription(subscription["endpoint"])

    missing = await push(client, unknown, PLAINTEXT, key=vapid, clock=clock)
    gone = await push(client, subscription, PLAINTEXT, key=vapid, clock=clock)

    assert missing.status_code == 404
    assert (gone.status_code, gone.json()["reason"]) == (410, "Unregistered")
    assert webpush.classify(410, gone.content, now=time.time()) == Unregistered(reason="Gone")
    with pytest.raises(KeyError):
        sim.expire_webpush_subscription("nobody")


async def test_a_bad_application_server_key_is_refused(sim: Simulator) -> None:
    with pytest.raises(ValueError, match="P-256"):
        sim.create_webpush_subscription(base64.urlsafe_b64encode(b"x" * 65).decode())


async def test_faults_answer_429_500_503(
    sim: Simulator,
    client: httpx.AsyncClient,
    vapid: VapidKey,
    subscription: dict[str, Any],
    clock: FakeClock,
) -> None:
    sim.set_webpush_faults(
        too_many_requests=FaultRate(first=1),
        internal_server_error=FaultRate(every=2),
        service_unavailable=FaultRate(every=3),
        retry_after=4,
    )

    answers = [
        await push(client, subscription, PLAINTEXT, key=vapid, clock=clock) for _ in range(4)
    ]

    assert [a.status_code for a in answers] == [429, 500, 503, 500]
    assert [a.json()["reason"] for a in answers[:3]] == [
        "TooManyRequests", "InternalServerError", "ServiceUnavailable",
    ]  # fmt: skip
    assert (answers[0].headers["retry-after"], answers[2].headers["retry-after"]) == ("4", "4")
    assert "retry-after" not in answers[1].headers
    outcome = webpush.classify(429, answers[0].content, answers[0].headers.raw, now=time.time())
    assert isinstance(outcome, Retry) and outcome.after == 4
    assert sim.clear_webpush_faults() == WebPushFaults()
    assert (await push(client, subscription, PLAINTEXT, key=vapid, clock=clock)).status_code == 201
