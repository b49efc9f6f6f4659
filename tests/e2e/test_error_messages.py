"""Issue 14 item 9: error messages name the client's fields without pydantic's internals, every
refused request is a 422, and mistakes are caught where they are made (registration, upload,
the CLI's --url)."""

from __future__ import annotations

import json

import httpx
import pytest
from harness import RunningGateway, new_signing_key
from test_cli import cli

from pushgate.simulator import Simulator

_INTERNALS = ("Input tag", "found using", "Value error", "Field '", "apns.", "function-after")


def refused(response: httpx.Response, code: str) -> dict:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    for internal in _INTERNALS:
        assert internal not in error["message"], error["message"]
    return error


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"user_id": "u", "platform": "sms", "token": "ab" * 32}, "platform", "'apns'"),
        ({"user_id": " ", "platform": "apns", "token": "ab" * 32}, "user_id", "anonymous"),
        ({"user_id": "u", "platform": "apns", "token": "xyz"}, "token", "hex"),
        ({"user_id": "u", "platform": "apns", "token": "ab" * 32, "x": 1}, "x", "not a known"),
        (
            {"user_id": "u", "platform": "webpush", "subscription": {"endpoint": "https://e/1"}},
            "subscription.keys",
            "required",
        ),
    ],
)
async def test_validation_messages_name_the_field_plainly(
    api: httpx.AsyncClient, body: dict, field: str, says: str
) -> None:
    error = refused(await api.post("/v1/devices", json=body), "validation_error")
    assert error["message"].startswith(f"{field}: "), error["message"]
    assert says in error["message"]
    assert error["details"][0]["field"] == field


async def test_every_refused_request_is_a_422(api: httpx.AsyncClient) -> None:
    refused(
        await api.post("/v1/devices", content=b"{", headers={"content-type": "application/json"}),
        "malformed_json",
    )
    refused(
        await api.put("/v1/credentials/apns", json={"kind": "certificate"}), "missing_certificate"
    )
    refused(await api.put("/v1/credentials/webpush", json={}), "invalid_vapid_request")
    refused(await api.post("/v1/notifications", json={"user_ids": []}), "validation_error")


async def test_an_fcm_device_must_name_an_uploaded_credential(
    api: httpx.AsyncClient, sim: Simulator
) -> None:
    device = {"user_id": "u", "platform": "fcm", "token": "fcm-token-123456", "credential": "eu"}
    error = refused(await api.post("/v1/devices", json=device), "unknown_credential")
    assert "'eu'" in error["message"] and "has none yet" in error["message"]
    account = sim.create_service_account("proj-eu")
    stored = await api.put("/v1/credentials/fcm", json={"service_account": account, "name": "eu"})
    assert stored.status_code == 201, stored.text
    assert (await api.post("/v1/devices", json=device)).status_code == 201
    other = {**device, "credential": "default"}
    error = refused(await api.post("/v1/devices", json=other), "unknown_credential")
    assert "the app has: eu" in error["message"]


async def test_a_lowercase_key_id_is_stored_as_apple_writes_it(
    api: httpx.AsyncClient, sim: Simulator
) -> None:
    upload = new_signing_key(sim, key_id="ABC123DEFG", team_id="TEAM123456")
    body = {**upload, "key_id": "abc123defg", "team_id": "team123456", "environment": "sandbox"}
    stored = (await api.put("/v1/credentials/apns", json=body)).json()
    assert (stored["key_id"], stored["team_id"]) == ("ABC123DEFG", "TEAM123456")


async def test_cli_refuses_a_url_without_scheme_and_shows_field_details(
    gw: RunningGateway, app_key: str, sim: Simulator
) -> None:
    code, out = await cli("devices", "list", url=gw.url.removeprefix("http://"), api_key=app_key)
    assert code == 1 and "--url must be an http:// or https:// address" in out, out
    assert "Traceback" not in out and "gateway" not in out.split("--url")[0]
    code, out = await cli(
        "send",
        "--message",
        json.dumps({"user_ids": ["u"], "badge": -1}),
        url=gw.url,
        api_key=app_key,
    )
    assert code == 1 and "badge:" in out and "validation_error" in out, out
    code, out = await cli(
        "simulator",
        "faults",
        json.dumps({"service_unavailable": {"evry": 3}}),
        "--control-url",
        sim.control_url,
    )
    assert code == 1 and "evry" in out, out


@pytest.mark.parametrize("store_backend", ["sqlite", "postgresql"])
async def test_numbers_past_what_the_store_holds_are_refused(api: httpx.AsyncClient) -> None:
    """Found by the OpenAPI fuzz test: these were 500s (a float overflow, integers past the
    columns' range)."""
    out_of_range = [
        await api.get("/v1/notifications", params={"since": "1.78e308"}),
        await api.get("/v1/feedback", params={"after": str(2**70)}),
        await api.get("/v1/webhooks/w/calls", params={"before": str(2**63)}),
        await api.get("/v1/audit", params={"before": str(2**63)}),
        await api.post("/v1/keys", json={"name": "k", "scope": "send", "rate_limit": 2**31}),
    ]
    message = {"id": "m", "channel_id": "c", "sender_id": "a", "members": ["a", "b"]}
    out_of_range.append(await api.post("/v1/chat/messages", json={**message, "attachments": 2**31}))
    for response in out_of_range:
        refused(response, "validation_error")
    # The largest values allowed are stored as given.
    key = await api.post("/v1/keys", json={"name": "k", "scope": "send", "rate_limit": 2**31 - 1})
    assert key.status_code == 201 and key.json()["rate_limit"] == 2**31 - 1, key.text
    posted = await api.post("/v1/chat/messages", json={**message, "attachments": 2**31 - 1})
    assert posted.status_code == 202, posted.text
    assert (await api.get("/v1/notifications", params={"since": 18_446_744_073})).status_code == 200


@pytest.mark.parametrize("store_backend", ["sqlite", "postgresql"])
async def test_a_nul_character_is_refused_on_both_backends(api: httpx.AsyncClient) -> None:
    """Found by the OpenAPI fuzz test on PostgreSQL, whose text holds no NUL: a 500 there."""
    for path, body in [
        ("/v1/chat/presence", {"presence": [{"user_id": "a\u0000", "online": True}]}),
        ("/v1/notifications", {"user_ids": ["u"], "data": {"k\u0000": "v"}}),
        ("/v1/chat/messages", {"id": "m", "channel_id": "c", "sender_id": "a\u0000"}),
    ]:
        error = refused(await api.post(path, json=body), "malformed_json")
        assert "NUL" in error["message"], error
    # An escaped backslash before "u0000" is text like any other.
    body = {"user_ids": ["u"], "alert": {"body": "C:\\u0000"}}
    assert (await api.post("/v1/notifications", json=body)).status_code == 202
    for response in [
        await api.get("/v1/devices", params={"user_id": "a\u0000"}),
        await api.delete("/v1/devices/ab%00cd"),
        await api.get("/v1/notifications/ntf_%00"),
    ]:
        refused(response, "malformed_url")
