"""FCM end to end: service accounts, OAuth, sends and every outcome class via the simulator."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from harness import RunningGateway

from pushgate.simulator import Simulator

PROJECT = "chat-android"


@pytest.fixture
async def fcm_app(api: httpx.AsyncClient, sim: Simulator) -> httpx.AsyncClient:
    account = sim.create_service_account(PROJECT)
    response = await api.put("/v1/credentials/fcm", json={"service_account": account})
    assert response.status_code == 201, response.text
    assert response.json()["project_id"] == PROJECT
    assert "private_key" not in response.json() and "PRIVATE KEY" not in response.text
    return api


async def register(api: httpx.AsyncClient, user: str, token: str, credential: str = "default"):
    response = await api.post(
        "/v1/devices",
        json={"user_id": user, "platform": "fcm", "token": token, "credential": credential},
    )
    assert response.status_code == 201, response.text


async def send(api: httpx.AsyncClient, **body: object) -> dict:
    response = await api.post("/v1/notifications", params={"wait": "true"}, json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def test_android_notification_is_delivered(fcm_app: httpx.AsyncClient, sim: Simulator):
    token = sim.create_fcm_token(PROJECT)
    await register(fcm_app, "ann", token)
    report = await send(
        fcm_app,
        user_ids=["ann"],
        alert={"title": "Bob", "body": "hi", "image": "https://example.com/a.png"},
        priority=10,
        data={"channel_id": "general", "unread": 3},
        collapse_id="general",
        fcm={"android": {"notification": {"channel_id": "messages"}}},
    )
    (result,) = report["results"]
    assert result["status"] == "delivered"
    (received,) = sim.fcm_inbox.query(token=token)
    assert result["provider_id"] == received.message_id
    message = received.message
    assert message["notification"] == {
        "title": "Bob",
        "body": "hi",
        "image": "https://example.com/a.png",
    }
    assert message["data"] == {"channel_id": "general", "unread": "3"}
    assert message["android"]["priority"] == "HIGH"
    assert message["android"]["collapse_key"] == "general"
    assert message["android"]["notification"]["channel_id"] == "messages"


async def test_unregistered_token_deactivates_the_device(fcm_app, sim: Simulator):
    token = sim.create_fcm_token(PROJECT)
    sim.mark_fcm_unregistered(token)
    await register(fcm_app, "bea", token)
    (result,) = (await send(fcm_app, tokens=[token], alert={"body": "x"}))["results"]
    assert result["status"] == "unregistered" and result["reason"] == "UNREGISTERED"
    (device,) = (await fcm_app.get("/v1/devices", params={"user_id": "bea"})).json()
    assert device["active"] is False


async def test_malformed_token_is_treated_as_dead(fcm_app, sim: Simulator):
    await register(fcm_app, "cal", "not/a*valid$token")
    (result,) = (await send(fcm_app, user_ids=["cal"], alert={"body": "x"}))["results"]
    assert result["status"] == "unregistered"
    (device,) = (await fcm_app.get("/v1/devices", params={"user_id": "cal"})).json()
    assert device["active"] is False


async def test_bad_payload_is_rejected_and_the_device_untouched(fcm_app, sim: Simulator):
    token = sim.create_fcm_token(PROJECT)
    await register(fcm_app, "dan", token)
    (result,) = (
        await send(
            fcm_app, tokens=[token], alert={"body": "x"}, fcm={"android": {"priority": "SUPERHIGH"}}
        )
    )["results"]
    assert result["status"] == "rejected" and "INVALID_ARGUMENT" in result["reason"]
    (device,) = (await fcm_app.get("/v1/devices", params={"user_id": "dan"})).json()
    assert device["active"] is True


async def test_sender_id_mismatch_is_a_configuration_fault_not_a_dead_token(fcm_app, sim):
    token = sim.create_fcm_token("someone-elses-project")
    await register(fcm_app, "eve", token)
    (result,) = (await send(fcm_app, tokens=[token], alert={"body": "x"}))["results"]
    assert result["status"] == "rejected" and "SENDER_ID_MISMATCH" in result["reason"]
    (device,) = (await fcm_app.get("/v1/devices", params={"user_id": "eve"})).json()
    assert device["active"] is True


@pytest.mark.parametrize("fault", ["quota_exceeded", "unavailable", "internal"])
async def test_transient_errors_are_retried(fcm_app, sim: Simulator, fault: str):
    token = sim.create_fcm_token(PROJECT)
    await register(fcm_app, "fay", token)
    sim.set_fcm_faults(
        **{fault: {"first": 1}}, quota_retry_after=0, unavailable_retry_after=0
    ) if fault != "internal" else sim.set_fcm_faults(internal={"first": 1})
    (result,) = (await send(fcm_app, tokens=[token], alert={"body": "x"}))["results"]
    assert result["status"] == "delivered" and result["attempts"] == 2


async def test_third_party_auth_error_is_reported_on_the_app(fcm_app, sim: Simulator):
    token = sim.create_fcm_token(PROJECT)
    await register(fcm_app, "gus", token)
    sim.set_fcm_faults(third_party_auth_error={"every": 1})
    (result,) = (await send(fcm_app, tokens=[token], alert={"body": "x"}))["results"]
    assert result["status"] == "rejected" and "THIRD_PARTY_AUTH_ERROR" in result["reason"]
    (device,) = (await fcm_app.get("/v1/devices", params={"user_id": "gus"})).json()
    assert device["active"] is True
    credential = await wait_for_last_error(fcm_app)
    assert "THIRD_PARTY_AUTH_ERROR" in credential["last_error"]["reason"]
    assert credential["name"] == "default" and credential["platform"] == "fcm"


async def wait_for_last_error(api: httpx.AsyncClient) -> dict:
    """The first credential once its last_error is recorded (written in the background)."""
    async with asyncio.timeout(5):
        while True:
            credential = (await api.get("/v1/credentials")).json()[0]
            if "last_error" in credential:
                return credential
            await asyncio.sleep(0.05)


async def test_revoked_access_token_is_refreshed_once(fcm_app, sim: Simulator):
    token = sim.create_fcm_token(PROJECT)
    await register(fcm_app, "hal", token)
    assert (await send(fcm_app, tokens=[token], alert={"body": "1"}))["results"][0][
        "status"
    ] == "delivered"
    sim.fcm_registry.access_tokens.clear()
    (result,) = (await send(fcm_app, tokens=[token], alert={"body": "2"}))["results"]
    assert result["status"] == "delivered" and result["attempts"] == 1
    assert len(sim.fcm_inbox.query(token=token)) == 2


async def test_validate_only_delivers_nothing(fcm_app, sim: Simulator):
    token = sim.create_fcm_token(PROJECT)
    await register(fcm_app, "ida", token)
    (result,) = (
        await send(fcm_app, tokens=[token], alert={"body": "x"}, fcm={"validate_only": True})
    )["results"]
    assert result["status"] == "delivered" and result["provider_id"].endswith("fake_message_id")
    assert sim.fcm_inbox.query(token=token) == []


async def test_topic_send_and_named_projects(api: httpx.AsyncClient, sim: Simulator):
    for name, project in (("default", PROJECT), ("beta", "chat-beta")):
        account = sim.create_service_account(project)
        response = await api.put(
            "/v1/credentials/fcm", json={"service_account": json.dumps(account), "name": name}
        )
        assert response.status_code == 201
    beta_token = sim.create_fcm_token("chat-beta")
    await register(api, "jo", beta_token, credential="beta")
    report = await send(api, user_ids=["jo"], fcm_topic="news", alert={"body": "x"})
    assert report["counts"] == {"delivered": 2}
    assert [m.target for m in sim.fcm_inbox.query(project_id=PROJECT)] == ["news"]
    assert len(sim.fcm_inbox.query(token=beta_token, project_id="chat-beta")) == 1


@pytest.mark.parametrize(
    ("account", "code"),
    [
        ("{not json", "unreadable_service_account"),
        ({"type": "authorized_user"}, "wrong_credential_type"),
        ({"type": "service_account", "project_id": "p"}, "missing_field"),
    ],
)
async def test_bad_service_accounts_are_refused(api: httpx.AsyncClient, account, code: str):
    response = await api.put("/v1/credentials/fcm", json={"service_account": account})
    assert response.status_code == 422 and response.json()["error"]["code"] == code


async def test_data_that_fcm_cannot_carry_is_refused(fcm_app, sim: Simulator, gw: RunningGateway):
    token = sim.create_fcm_token(PROJECT)
    await register(fcm_app, "kim", token)
    response = await fcm_app.post(
        "/v1/notifications", json={"tokens": [token], "data": {"nested": {"a": 1}}}
    )
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_data"
    response = await fcm_app.post(
        "/v1/notifications", json={"tokens": [token], "data": {"from": "x"}}
    )
    assert response.status_code == 422 and response.json()["error"]["code"] == "reserved_data_key"
