"""Injected FCM faults: quota window, first/every/rate, envelopes."""

from __future__ import annotations

import time

import httpx
from sim_services import (
    FCM_ERROR,
    OTHER_PROJECT,
    PROJECT,
    access_token,
    error,
    send,
    to_token,
    trusted_account,
)
from sim_support import FakeClock

from pushgate.outcomes import Rejected, Retry, Unregistered
from pushgate.providers import fcm
from pushgate.simulator import FaultRate, FcmFaults, Simulator

QUOTA_FAILURE = "type.googleapis.com/google.rpc.QuotaFailure"
APNS_ERROR = "type.googleapis.com/google.firebase.fcm.v1.ApnsError"


async def test_the_quota_window_rolls_and_is_per_project(
    sim: Simulator, client: httpx.AsyncClient, bearer: str, clock: FakeClock
) -> None:
    other = await access_token(client, trusted_account(sim, OTHER_PROJECT), clock)
    sim.set_fcm_faults(quota_per_minute=2)

    first = [await send(client, sim, bearer, to_token({})) for _ in range(2)]
    clock.advance(30)
    invalid = await send(client, sim, bearer, to_token({}, token="bad token"))
    elsewhere = await send(client, sim, other, to_token({}), project=OTHER_PROJECT)
    clock.advance(29)
    still_limited = await send(client, sim, bearer, to_token({}))
    clock.advance(1)
    refilled = await send(client, sim, bearer, to_token({}))

    assert [a.status_code for a in first] == [200, 200]
    assert invalid.status_code == 429  # client errors count against the quota too
    assert invalid.headers["retry-after"] == "30"
    assert elsewhere.status_code == 200
    assert (still_limited.status_code, still_limited.headers["retry-after"]) == (429, "1")
    assert refilled.status_code == 200


async def test_quota_exceeded_envelope(
    sim: Simulator, client: httpx.AsyncClient, bearer: str
) -> None:
    sim.set_fcm_faults(quota_exceeded=FaultRate(first=1))

    answer = await send(client, sim, bearer, to_token({}))

    assert answer.status_code == 429
    assert "retry-after" not in answer.headers
    assert answer.json() == {
        "error": {
            "code": 429,
            "message": "Quota exceeded for the project's message rate.",
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {"@type": FCM_ERROR, "errorCode": "QUOTA_EXCEEDED"},
                {
                    "@type": QUOTA_FAILURE,
                    "violations": [
                        {
                            "subject": f"project:{PROJECT}",
                            "description": "Project message rate exceeded.",
                        }
                    ],
                },
            ],
        }
    }
    outcome = fcm.classify(429, answer.content, now=time.time())
    assert isinstance(outcome, Retry) and outcome.after == fcm.QUOTA_RETRY_AFTER


async def test_unavailable_with_retry_after(
    sim: Simulator, client: httpx.AsyncClient, bearer: str
) -> None:
    sim.set_fcm_faults(unavailable=FaultRate(first=1), unavailable_retry_after=7)

    answer = await send(client, sim, bearer, to_token({}))

    assert (answer.status_code, answer.headers["retry-after"]) == (503, "7")
    assert answer.json() == error(
        503, "UNAVAILABLE", "The service is currently unavailable.", "UNAVAILABLE"
    )
    outcome = fcm.classify(503, answer.content, [(b"retry-after", b"7")], now=time.time())
    assert isinstance(outcome, Retry) and outcome.after == 7


async def test_internal(sim: Simulator, client: httpx.AsyncClient, bearer: str) -> None:
    sim.set_fcm_faults(internal=FaultRate(every=1))

    answer = await send(client, sim, bearer, to_token({}))

    assert answer.json() == error(500, "INTERNAL", "Internal error encountered.", "INTERNAL")


async def test_third_party_auth_error_carries_the_apns_answer(
    sim: Simulator, client: httpx.AsyncClient, bearer: str
) -> None:
    sim.set_fcm_faults(third_party_auth_error=FaultRate(every=1))

    checked = await send(client, sim, bearer, to_token({}, validate_only=True))
    answer = await send(client, sim, bearer, to_token({}))

    assert checked.status_code == 200  # validate_only never contacts Apple
    assert answer.status_code == 401
    assert answer.json()["error"]["details"] == [
        {"@type": FCM_ERROR, "errorCode": "THIRD_PARTY_AUTH_ERROR"},
        {"@type": APNS_ERROR, "statusCode": 403, "reason": "InvalidProviderToken"},
    ]
    outcome = fcm.classify(401, answer.content, now=time.time())
    assert isinstance(outcome, Rejected) and outcome.configuration
    assert "InvalidProviderToken" in outcome.reason


async def test_injected_token_errors(
    sim: Simulator, client: httpx.AsyncClient, bearer: str
) -> None:
    sim.set_fcm_faults(sender_id_mismatch=FaultRate(first=1), unregistered=FaultRate(first=2))

    answers = [await send(client, sim, bearer, to_token({})) for _ in range(3)]

    assert [a.status_code for a in answers] == [403, 404, 200]
    assert fcm.classify(404, answers[1].content, now=time.time()) == Unregistered(
        reason="UNREGISTERED"
    )


async def test_every_and_rate_are_deterministic_and_skip_invalid_messages(
    sim: Simulator, client: httpx.AsyncClient, bearer: str
) -> None:
    plan = FcmFaults(unavailable=FaultRate(every=2), internal=FaultRate(rate=0.5), seed=3)

    sim.set_fcm_faults(plan)
    invalid = await send(client, sim, bearer, to_token({"data": {"a": 1}}))
    first = [(await send(client, sim, bearer, to_token({}))).status_code for _ in range(12)]
    sim.set_fcm_faults(plan)
    second = [(await send(client, sim, bearer, to_token({}))).status_code for _ in range(12)]

    assert invalid.status_code == 400
    assert first == second
    assert first[1::2] == [503] * 6
    assert {500, 200} <= set(first[0::2])
    assert sim.fcm_faults == plan
    assert sim.clear_fcm_faults() == FcmFaults()


async def test_response_delay(sim: Simulator, client: httpx.AsyncClient, bearer: str) -> None:
    sim.set_fcm_faults(response_delay=0.3)
    started = time.monotonic()

    answer = await send(client, sim, bearer, to_token({}))

    assert answer.status_code == 200
    assert time.monotonic() - started >= 0.3
