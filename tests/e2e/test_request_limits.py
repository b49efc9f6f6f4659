"""Bad or oversized input is a JSON 4xx, and load beyond the bounds is refused, not dropped
(issue 12 items 5, 6, 8 and 9)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from harness import create_app, gateway_settings, new_signing_key, new_token, running_gateway
from test_api import assert_error

from backends import BACKENDS, store_settings
from pushgate.simulator import Simulator

JSON = {"content-type": "application/json"}


async def _device(api: httpx.AsyncClient, user: str = "ann") -> str:
    token = new_token()
    registered = await api.post(
        "/v1/devices",
        json={"user_id": user, "platform": "apns", "token": token, "environment": "sandbox"},
    )
    assert registered.status_code == 201, registered.text
    return token


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/notifications", '{"tokens": ["%s"], "alert": {"body": "\\ud800"}}'),
        ("/v1/notifications", '{"tokens": ["\\ud800"], "alert": {"body": "x"}}'),
        ("/v1/notifications", '{"user_ids": ["\\udfff"], "alert": {"body": "x"}}'),
        ("/v1/notifications/batch", '{"notifications": [{"user_ids": ["\\ud800"]}]}'),
        ("/v1/devices", '{"user_id": "\\ud800", "platform": "apns", "token": "%s"}'),
        ("/v1/chat/messages", '{"channel_id": "c", "sender_id": "\\ud800", "text": "x"}'),
        ("/v1/notifications", '{"tokens": ["%s"], "data": ' + '{"a": ' * 280 + "1" + "}" * 281),
    ],
    ids=["alert", "tokens", "user_ids", "batch", "device", "chat", "deep_data"],
)
async def test_unstorable_json_is_a_json_422(
    token_app: httpx.AsyncClient, path: str, body: str
) -> None:
    token = await _device(token_app)
    content = body.replace("%s", token) if "%s" in body else body
    response = await token_app.post(path, content=content, headers=JSON)
    error = assert_error(response, 422, "malformed_json")
    assert "surrogate" in error["message"] or "deeper than 64" in error["message"]


async def test_an_emoji_written_as_a_surrogate_pair_is_fine(token_app: httpx.AsyncClient) -> None:
    token = await _device(token_app)
    body = '{"tokens": ["TOKEN"], "alert": {"body": "\\ud83d\\ude00"}}'.replace("TOKEN", token)
    response = await token_app.post("/v1/notifications", content=body, headers=JSON)
    assert response.status_code == 202, response.text


async def test_a_chunked_body_over_the_limit_is_413(api: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(17):
            yield b" " * (1024 * 1024)

    response = await api.post("/v1/notifications", content=chunks(), headers=JSON)
    assert_error(response, 413, "request_too_large")


async def test_a_request_expanding_past_the_delivery_cap_is_refused(
    tmp_path: Path, sim: Simulator
) -> None:
    settings = gateway_settings(tmp_path, sim, limits={"max_deliveries_per_request": 3})
    async with running_gateway(settings) as gw, gw.client(await create_app(gw)) as api:
        for user in ("a", "b"):
            await _device(api, user)
            await _device(api, user)
        send = {"user_ids": ["a", "b"], "alert": {"body": "x"}}
        error = assert_error(
            await api.post("/v1/notifications", json=send), 422, "too_many_deliveries"
        )
        assert "4 deliveries" in error["message"] and "3" in error["message"]
        batch = {"notifications": [{"user_ids": ["a"], "alert": {"body": "x"}}] * 2}
        assert_error(await api.post("/v1/notifications/batch", json=batch), 422)
        one = await api.post("/v1/notifications", json={"user_ids": ["a"], "alert": {"body": "x"}})
        assert one.status_code == 202, one.text


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_full_outbox_answers_429_and_loses_nothing(
    tmp_path: Path, sim: Simulator, backend: str
) -> None:
    sim.set_faults(service_unavailable={"every": 1})  # nothing leaves the outbox
    async with store_settings(backend, tmp_path) as store:
        settings = gateway_settings(
            tmp_path,
            sim,
            store=store,
            limits={"outbox_per_app": 3, "outbox_retry_after": 7},
            dispatch={"backoff_initial": 30, "backoff_max": 30},
        )
        async with running_gateway(settings) as gw, gw.client(await create_app(gw)) as api:
            key = {**new_signing_key(sim), "environment": "sandbox"}
            assert (await api.put("/v1/credentials/apns", json=key)).status_code == 201
            tokens = [await _device(api, f"u{i}") for i in range(4)]
            accepted = []
            for token in tokens[:3]:
                sent = await api.post("/v1/notifications", json={"tokens": [token]})
                assert sent.status_code == 202, sent.text
                accepted.append(sent.json()["id"])
            refused = await api.post("/v1/notifications", json={"tokens": [tokens[3]]})
            error = assert_error(refused, 429, "outbox_full")
            assert refused.headers["retry-after"] == "7" and error["retry_after"] == 7
            for notification_id in accepted:  # accepted work is kept, waiting for its retry
                report = (await api.get(f"/v1/notifications/{notification_id}")).json()
                assert [r["status"] for r in report["results"]] == ["pending"]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_repeat_with_the_same_idempotency_key_sends_nothing_twice(
    tmp_path: Path, sim: Simulator, backend: str
) -> None:
    async with store_settings(backend, tmp_path) as store:
        settings = gateway_settings(tmp_path, sim, store=store)
        async with running_gateway(settings) as gw, gw.client(await create_app(gw)) as api:
            key = {**new_signing_key(sim), "environment": "sandbox"}
            assert (await api.put("/v1/credentials/apns", json=key)).status_code == 201
            token = await _device(api)
            body = {"tokens": [token], "alert": {"body": "once"}}
            once = {"idempotency-key": "send-1"}
            first = await api.post("/v1/notifications", json=body, headers=once)
            again = await api.post("/v1/notifications", json=body, headers=once)
            assert first.status_code == again.status_code == 202, again.text
            assert again.json() == first.json()
            batch = {"notifications": [body, body]}
            twice = {"idempotency-key": "batch-1"}
            first_batch = await api.post("/v1/notifications/batch", json=batch, headers=twice)
            again_batch = await api.post("/v1/notifications/batch", json=batch, headers=twice)
            assert first_batch.status_code == again_batch.status_code == 202
            assert again_batch.json() == first_batch.json()
            other = {"tokens": [token], "alert": {"body": "something else"}}
            reused = await api.post("/v1/notifications", json=other, headers=once)
            assert_error(reused, 422, "idempotency_key_reused")
            report = await api.get(f"/v1/notifications/{first.json()['id']}")
            assert report.status_code == 200
            for notification_id in [first.json()["id"], *first_batch.json()["ids"]]:
                waited = await api.get(f"/v1/notifications/{notification_id}")
                assert waited.status_code == 200
            listed = (await api.get("/v1/notifications")).json()["notifications"]
            assert len(listed) == 3  # one send and a batch of two: the repeats added none
