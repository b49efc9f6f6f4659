"""The HTTP API: authentication, app isolation, device rules, and clear 4xx for bad input."""

from __future__ import annotations

import base64

import httpx
import pytest
from harness import ADMIN_KEY, RunningGateway, create_app, new_signing_key, new_token

from pushgate.simulator import Simulator


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["message"] and error["code"]
    if code is not None:
        assert error["code"] == code, error
    return error


async def test_openapi_is_served(gw: RunningGateway) -> None:
    async with gw.client(None) as anon:
        spec = (await anon.get("/openapi.json")).json()
    assert "/v1/notifications" in spec["paths"] and "/v1/devices" in spec["paths"]


async def test_requests_without_a_valid_key_are_refused(gw: RunningGateway) -> None:
    async with gw.client(None) as anon:
        assert_error(await anon.get("/v1/devices"), 401, "unauthorized")
    async with gw.client("pgapp_wrong") as wrong:
        assert_error(await wrong.get("/v1/devices"), 401, "unauthorized")


async def test_admin_and_app_keys_have_separate_powers(
    gw: RunningGateway, api: httpx.AsyncClient
) -> None:
    assert_error(await api.post("/v1/apps", json={"name": "x"}), 403, "forbidden")
    async with gw.client(ADMIN_KEY) as admin:
        assert_error(await admin.get("/v1/devices"), 403, "forbidden")
        listed = (await admin.get("/v1/apps")).json()
        assert all("api_key" not in app for app in listed)
        assert_error(await admin.post("/v1/apps", json={"name": listed[0]["name"]}), 409)


async def test_an_app_never_sees_another_apps_data(
    gw: RunningGateway, token_app: httpx.AsyncClient
) -> None:
    token = new_token()
    await token_app.post("/v1/devices", json={"user_id": "u", "platform": "apns", "token": token})
    sent = (
        await token_app.post("/v1/notifications", json={"tokens": [token], "alert": {"body": "x"}})
    ).json()
    other_key = await create_app(gw)
    async with gw.client(other_key) as other:
        assert (await other.get("/v1/devices")).json() == []
        assert (await other.get("/v1/credentials")).json() == []
        assert_error(await other.get(f"/v1/notifications/{sent['id']}"), 404, "not_found")
        assert_error(await other.delete(f"/v1/devices/{token}"), 404, "not_found")
        answer = (
            await other.post("/v1/notifications", json={"tokens": [token], "alert": {"body": "x"}})
        ).json()
        assert answer["deliveries"] == 0
    assert len((await token_app.get("/v1/devices")).json()) == 1


async def test_credentials_are_listed_without_key_material(
    token_app: httpx.AsyncClient,
) -> None:
    (listed,) = (await token_app.get("/v1/credentials")).json()
    assert listed["kind"] == "token" and listed["key_id"] == "KEYID12345"
    assert "PRIVATE KEY" not in str(listed)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (
            {
                "kind": "token",
                "key_p8": "garbage",
                "key_id": "KEYID12345",
                "team_id": "TEAMID1234",
                "topic": "com.example.chat",
                "environment": "sandbox",
            },
            "unreadable_key",
        ),
        ({"key_id": "SHORT"}, "invalid_key_id"),
        ({"team_id": "TOOLONGTEAMID"}, "invalid_team_id"),
        ({"topic": "not a bundle"}, "invalid_topic"),
    ],
)
async def test_bad_token_credentials_get_a_clear_error(
    api: httpx.AsyncClient, sim: Simulator, body: dict, code: str
) -> None:
    upload = {**new_signing_key(sim), "environment": "sandbox", **body}
    error = assert_error(await api.put("/v1/credentials/apns", json=upload), 422, code)
    secret = upload["key_p8"]
    assert (secret[40:80] if len(secret) > 80 else secret) not in error["message"]


async def test_wrong_p12_password_and_expired_certificate(
    api: httpx.AsyncClient, sim: Simulator
) -> None:
    from datetime import UTC, datetime, timedelta

    from pushgate.simulator.certs import to_p12

    cert, key = sim.issue_client_certificate("com.example.chat", "sandbox")
    p12 = base64.b64encode(to_p12(cert, key, b"right")).decode()
    error = assert_error(
        await api.put(
            "/v1/credentials/apns",
            json={"kind": "certificate", "p12_base64": p12, "password": "hunter2-guess"},
        ),
        422,
        "wrong_password",
    )
    assert "hunter2" not in error["message"]
    now = datetime.now(UTC)
    old_cert, old_key = sim.issue_client_certificate(
        "com.example.chat",
        "sandbox",
        not_before=now - timedelta(days=400),
        not_after=now - timedelta(days=1),
    )
    assert_error(
        await api.put(
            "/v1/credentials/apns",
            json={
                "kind": "certificate",
                "cert_pem": old_cert.decode(),
                "key_pem": old_key.decode(),
            },
        ),
        422,
        "certificate_expired",
    )
    assert_error(
        await api.put(
            "/v1/credentials/apns", json={"kind": "certificate", "p12_base64": "!!!not base64"}
        ),
        422,
        "unreadable_p12",
    )
    assert_error(
        await api.put("/v1/credentials/apns", json={"kind": "certificate"}),
        422,
        "missing_certificate",
    )


@pytest.mark.parametrize(
    ("method", "path", "content"),
    [
        ("POST", "/v1/devices", b"{not json"),
        ("POST", "/v1/notifications", b"[1, 2"),
        ("PUT", "/v1/credentials/apns", b"\xff\xfe"),
        ("POST", "/v1/notifications/batch", b""),
    ],
)
async def test_malformed_json_is_a_422(
    api: httpx.AsyncClient, method: str, path: str, content: bytes
) -> None:
    response = await api.request(
        method, path, content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] in ("malformed_json", "validation_error")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"user_id": "u", "platform": "apns", "token": "xyz"}, "token"),
        ({"user_id": "u", "platform": "apns", "token": "abc"}, "token"),
        ({"user_id": "", "platform": "apns", "token": "ab" * 32}, "user_id"),
        ({"user_id": "   ", "platform": "apns", "token": "ab" * 32}, "user_id"),
        ({"platform": "apns", "token": "ab" * 32}, "user_id"),
        ({"user_id": "u", "platform": "carrier-pigeon", "token": "ab" * 32}, "platform"),
        (
            {"user_id": "u", "platform": "apns", "token": "ab" * 32, "environment": "dev"},
            "environment",
        ),
        ({"user_id": 5, "platform": "apns", "token": "ab" * 32}, "user_id"),
        ({"user_id": "u", "platform": "apns", "token": "ab" * 32, "surprise": 1}, "surprise"),
    ],
)
async def test_bad_device_registrations_name_the_field(
    api: httpx.AsyncClient, body: dict, field: str
) -> None:
    error = assert_error(await api.post("/v1/devices", json=body), 422, "validation_error")
    assert field in error["message"]


async def test_device_limit_drops_the_oldest_and_tokens_move_between_users(
    api: httpx.AsyncClient,
) -> None:
    tokens = [new_token() for _ in range(26)]
    for token in tokens:
        answer = (
            await api.post(
                "/v1/devices", json={"user_id": "busy", "platform": "apns", "token": token}
            )
        ).json()
    assert [d["token"] for d in answer["dropped"]] == [tokens[0]]
    listed = (await api.get("/v1/devices", params={"user_id": "busy"})).json()
    assert [d["token"] for d in listed] == tokens[1:]
    moved = (
        await api.post(
            "/v1/devices", json={"user_id": "other", "platform": "apns", "token": tokens[5].upper()}
        )
    ).json()
    assert moved["device"]["user_id"] == "other" and moved["device"]["token"] == tokens[5]
    assert len((await api.get("/v1/devices", params={"user_id": "busy"})).json()) == 24
    assert (await api.delete(f"/v1/devices/{tokens[5]}")).status_code == 204
    assert_error(await api.delete(f"/v1/devices/{tokens[5]}"), 404, "not_found")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"alert": {"body": "x"}}, 422, "validation_error"),
        ({"tokens": "abc", "alert": {"body": "x"}}, 422, "validation_error"),
        ({"user_ids": ["u"], "badge": -1}, 422, "validation_error"),
        ({"user_ids": ["u"], "priority": 7}, 422, "validation_error"),
        ({"user_ids": ["u"], "push_type": "smoke-signal"}, 422, "validation_error"),
        ({"user_ids": ["u"], "collapse_id": "x" * 65}, 422, "validation_error"),
        ({"user_ids": ["u"], "data": {"aps": {}}}, 422, "validation_error"),
        ({"user_ids": ["u"], "unknown_field": True}, 422, "validation_error"),
    ],
)
async def test_bad_send_requests_are_refused(
    api: httpx.AsyncClient, body: dict, status: int, code: str
) -> None:
    assert_error(await api.post("/v1/notifications", json=body), status, code)


async def test_oversize_payload_is_a_413_before_anything_is_accepted(
    token_app: httpx.AsyncClient,
) -> None:
    token = new_token()
    await token_app.post("/v1/devices", json={"user_id": "u", "platform": "apns", "token": token})
    error = assert_error(
        await token_app.post(
            "/v1/notifications", json={"tokens": [token], "alert": {"body": "x" * 4100}}
        ),
        413,
        "payload_too_large",
    )
    assert "4096" in error["message"]
    voip = await token_app.post(
        "/v1/notifications",
        json={"tokens": [token], "push_type": "voip", "data": {"blob": "x" * 4500}},
    )
    assert voip.status_code == 202
    assert_error(
        await token_app.post(
            "/v1/notifications", json={"tokens": [token], "push_type": "background", "priority": 10}
        ),
        422,
        "invalid_priority",
    )


async def test_oversized_request_body_is_refused(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/v1/notifications",
        content=b"{" + b" " * (17 * 1024 * 1024),
        headers={"content-type": "application/json"},
    )
    assert_error(response, 413, "request_too_large")


async def test_batch_accepts_many_or_none(token_app: httpx.AsyncClient) -> None:
    token = new_token()
    await token_app.post("/v1/devices", json={"user_id": "u", "platform": "apns", "token": token})
    good = {"tokens": [token], "alert": {"body": "ok"}}
    answer = await token_app.post("/v1/notifications/batch", json={"notifications": [good] * 3})
    assert answer.status_code == 202 and len(answer.json()["ids"]) == 3
    bad = {"tokens": [token], "alert": {"body": "x" * 5000}}
    error = assert_error(
        await token_app.post("/v1/notifications/batch", json={"notifications": [good, bad]}), 413
    )
    assert error["message"].startswith("notifications[1]")


async def test_unknown_notification_and_endpoint_are_404(api: httpx.AsyncClient) -> None:
    assert_error(await api.get("/v1/notifications/ntf_nope"), 404, "not_found")
    assert_error(await api.get("/v1/nothing-here"), 404, "not_found")
    assert_error(await api.delete("/v1/credentials/apns/production"), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/v1/apps", {"name": ""}, 422),
        ("POST", "/v1/apps", {"name": "bad/name"}, 422),
        ("POST", "/v1/apps", {"name": 42}, 422),
        ("POST", "/v1/apps", [], 422),
    ],
)
async def test_bad_app_requests(
    gw: RunningGateway, method: str, path: str, body: object, status: int
) -> None:
    async with gw.client(ADMIN_KEY) as admin:
        assert_error(await admin.request(method, path, json=body), status, "validation_error")
        assert_error(
            await admin.post(path, content=b"{", headers={"content-type": "application/json"}),
            422,
            "malformed_json",
        )


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "token"},
        {"kind": "fax", "key_p8": "x"},
        {
            "kind": "token",
            "key_p8": 5,
            "key_id": "KEYID12345",
            "team_id": "TEAMID1234",
            "topic": "com.example.chat",
            "environment": "staging",
        },
        [],
        "text",
    ],
)
async def test_bad_credential_shapes_are_422(api: httpx.AsyncClient, body: object) -> None:
    assert_error(await api.put("/v1/credentials/apns", json=body), 422, "validation_error")


async def test_bad_query_parameters_are_422(api: httpx.AsyncClient) -> None:
    assert_error(await api.get("/v1/devices", params={"limit": "many"}), 422, "validation_error")
    assert_error(await api.get("/v1/devices", params={"limit": 0}), 422, "validation_error")
    assert_error(
        await api.post("/v1/notifications", params={"wait": "perhaps"}, json={"user_ids": ["u"]}),
        422,
        "validation_error",
    )


async def test_metrics_count_delivery_results(
    gw: RunningGateway, token_app: httpx.AsyncClient, sim: Simulator
) -> None:
    token = new_token()
    await token_app.post(
        "/v1/devices",
        json={"user_id": "m", "platform": "apns", "token": token, "environment": "sandbox"},
    )
    async with gw.client(None) as anon:
        before = (await anon.get("/metrics")).text
        await token_app.post(
            "/v1/notifications",
            params={"wait": "true"},
            json={"tokens": [token], "alert": {"body": "x"}},
        )
        after = (await anon.get("/metrics")).text
    line = 'pushgate_delivery_attempts_total{platform="apns",result="delivered"}'
    assert metric(after, line) == metric(before, line) + 1


def metric(text: str, series: str) -> float:
    """The value of one series in Prometheus text format."""
    return float(next(row for row in text.splitlines() if row.startswith(series)).split()[-1])
