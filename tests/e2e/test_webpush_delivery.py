"""Web Push end to end: VAPID keys, browser subscriptions, aes128gcm, and outcome classes."""

from __future__ import annotations

import json
import os

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from pushgate.simulator import Simulator

SUBJECT = "mailto:push@example.com"


@pytest.fixture
async def vapid_public_key(api: httpx.AsyncClient) -> str:
    response = await api.put("/v1/credentials/webpush", json={"generate": True, "subject": SUBJECT})
    assert response.status_code == 201, response.text
    summary = response.json()
    assert summary["subject"] == SUBJECT and "PRIVATE" not in response.text
    return summary["public_key"]


def browser_subscription(sim: Simulator, application_server_key: str | None) -> dict:
    """Subscribe as a browser would: our own P-256 key pair and auth secret."""
    return sim.create_webpush_subscription(
        application_server_key,
        private_key=ec.generate_private_key(ec.SECP256R1()),
        auth_secret=os.urandom(16),
    )


async def register(api: httpx.AsyncClient, user: str, subscription: dict) -> None:
    response = await api.post(
        "/v1/devices", json={"user_id": user, "platform": "webpush", "subscription": subscription}
    )
    assert response.status_code == 201, response.text


async def send(api: httpx.AsyncClient, **body: object) -> dict:
    response = await api.post("/v1/notifications", params={"wait": "true"}, json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def test_browser_receives_and_decrypts_the_exact_message(
    api: httpx.AsyncClient, sim: Simulator, vapid_public_key: str
) -> None:
    subscription = browser_subscription(sim, vapid_public_key)
    await register(api, "web-ann", subscription)
    report = await send(
        api,
        user_ids=["web-ann"],
        alert={"title": "Bob", "body": "héllo 👋"},
        data={"channel_id": "general"},
        collapse_id="general",
        priority=10,
    )
    (result,) = report["results"]
    assert result["status"] == "delivered" and result["provider_id"]
    (received,) = sim.webpush_inbox.query(endpoint=subscription["endpoint"])
    assert json.loads(received.plaintext) == {
        "title": "Bob",
        "body": "héllo 👋",
        "tag": "general",
        "data": {"channel_id": "general"},
    }
    assert received.vapid_subject == SUBJECT and received.vapid_key == vapid_public_key
    assert received.urgency == "high" and received.topic == "general"


async def test_expired_and_unknown_subscriptions_are_deactivated(
    api: httpx.AsyncClient, sim: Simulator, vapid_public_key: str
) -> None:
    expired = browser_subscription(sim, vapid_public_key)
    await register(api, "web-bea", expired)
    sim.expire_webpush_subscription(expired["endpoint"])
    unknown = browser_subscription(sim, vapid_public_key)
    unknown["endpoint"] = unknown["endpoint"][:-4] + "nope"
    await register(api, "web-bea", unknown)
    report = await send(api, user_ids=["web-bea"], alert={"body": "x"})
    assert sorted(r["status"] for r in report["results"]) == ["unregistered", "unregistered"]
    devices = (await api.get("/v1/devices", params={"user_id": "web-bea"})).json()
    assert [d["active"] for d in devices] == [False, False]


async def test_rate_limits_and_server_errors_are_retried(
    api: httpx.AsyncClient, sim: Simulator, vapid_public_key: str
) -> None:
    subscription = browser_subscription(sim, vapid_public_key)
    await register(api, "web-cal", subscription)
    sim.set_webpush_faults(
        too_many_requests={"first": 1}, service_unavailable={"first": 2}, retry_after=0
    )
    (result,) = (await send(api, user_ids=["web-cal"], alert={"body": "x"}))["results"]
    assert result["status"] == "delivered" and result["attempts"] == 3


async def test_subscription_bound_to_another_vapid_key_is_a_configuration_fault(
    api: httpx.AsyncClient, sim: Simulator, vapid_public_key: str
) -> None:
    other = await api.put(
        "/v1/credentials/webpush", json={"generate": True, "replace": True, "subject": SUBJECT}
    )
    assert other.json()["public_key"] != vapid_public_key
    subscription = browser_subscription(sim, vapid_public_key)
    await register(api, "web-dan", subscription)
    (result,) = (await send(api, user_ids=["web-dan"], alert={"body": "x"}))["results"]
    assert result["status"] == "rejected" and result["attempts"] == 1
    (device,) = (await api.get("/v1/devices", params={"user_id": "web-dan"})).json()
    assert device["active"] is True


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"endpoint": "http://push.example.com/x"}, "invalid_endpoint"),
        ({"keys": {"p256dh": "AAAA", "auth": "AAAAAAAAAAAAAAAAAAAAAA"}}, "invalid_p256dh"),
        ({"keys": {"p256dh": None, "auth": "x"}}, "validation_error"),
    ],
)
async def test_bad_subscriptions_are_refused(
    api: httpx.AsyncClient, sim: Simulator, change: dict, code: str
) -> None:
    subscription = {**browser_subscription(sim, None), **change}
    response = await api.post(
        "/v1/devices", json={"user_id": "u", "platform": "webpush", "subscription": subscription}
    )
    assert 400 <= response.status_code < 500
    assert response.json()["error"]["code"] == code


async def test_bad_vapid_uploads_are_refused(api: httpx.AsyncClient) -> None:
    for body, code in (
        ({"generate": True, "subject": "admin@localhost"}, "invalid_vapid_subject"),
        ({"subject": SUBJECT}, "invalid_vapid_request"),
        ({"subject": SUBJECT, "private_key": "not a key"}, "unreadable_vapid_key"),
    ):
        response = await api.put("/v1/credentials/webpush", json=body)
        assert 400 <= response.status_code < 500, response.text
        assert response.json()["error"]["code"] == code


async def test_sending_without_a_vapid_key_is_rejected_as_configuration(
    api: httpx.AsyncClient, sim: Simulator
) -> None:
    await register(api, "web-eve", browser_subscription(sim, None))
    (result,) = (await send(api, user_ids=["web-eve"], alert={"body": "x"}))["results"]
    assert result["status"] == "rejected" and "no_vapid_key" in result["reason"]


async def test_vapid_key_without_subject_is_refused_by_a_strict_service(
    api: httpx.AsyncClient, sim: Simulator
) -> None:
    response = await api.put("/v1/credentials/webpush", json={"generate": True})
    assert response.status_code == 201 and response.json()["subject"] is None
    await register(api, "web-fay", browser_subscription(sim, response.json()["public_key"]))
    (result,) = (await send(api, user_ids=["web-fay"], alert={"body": "x"}))["results"]
    assert result["status"] == "rejected" and "BadJwtToken" in result["reason"]
