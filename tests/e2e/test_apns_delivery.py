"""Deliveries end to end: API -> outbox -> dispatch -> TLS + HTTP/2 -> simulator, and back."""

from __future__ import annotations

import asyncio
import base64
import time

import httpx
from harness import TOPIC, new_token

from pushgate.simulator import Simulator
from pushgate.simulator.certs import to_p12


async def register(api: httpx.AsyncClient, user: str, environment: str = "sandbox") -> str:
    token = new_token()
    response = await api.post(
        "/v1/devices",
        json={"user_id": user, "platform": "apns", "token": token, "environment": environment},
    )
    assert response.status_code == 201, response.text
    return token


async def send_and_wait(api: httpx.AsyncClient, **body: object) -> dict:
    response = await api.post("/v1/notifications", params={"wait": "true"}, json=body)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["complete"]
    return report


async def test_token_auth_alert_is_delivered_with_its_payload(
    token_app: httpx.AsyncClient, sim: Simulator
) -> None:
    token = await register(token_app, "alice")
    report = await send_and_wait(
        token_app,
        user_ids=["alice"],
        alert={"title": "Bob", "subtitle": "#general", "body": "hi"},
        badge=3,
        sound="default",
        category="MESSAGE",
        thread_id="general",
        data={"channel_id": "general"},
        mutable_content=True,
        collapse_id="c1",
    )
    (result,) = report["results"]
    assert result["status"] == "delivered" and result["attempts"] == 1
    (received,) = sim.inbox.query(token=token)
    assert result["provider_id"] == received.apns_id
    assert received.environment == "sandbox"
    assert received.topic == TOPIC and received.push_type == "alert" and received.priority == 10
    assert received.collapse_id == "c1"
    assert received.auth.kind == "token" and received.auth.key_id == "KEYID12345"
    assert received.payload == {
        "aps": {
            "alert": {"title": "Bob", "subtitle": "#general", "body": "hi"},
            "badge": 3,
            "sound": "default",
            "category": "MESSAGE",
            "thread-id": "general",
            "mutable-content": 1,
        },
        "channel_id": "general",
    }


async def test_certificate_auth_over_mutual_tls(api: httpx.AsyncClient, sim: Simulator) -> None:
    cert_pem, key_pem = sim.issue_client_certificate(TOPIC, "sandbox")
    p12 = to_p12(cert_pem, key_pem, b"s3cret")
    response = await api.put(
        "/v1/credentials/apns",
        json={
            "kind": "certificate",
            "p12_base64": base64.b64encode(p12).decode(),
            "password": "s3cret",
            "environment": "sandbox",
        },
    )
    assert response.status_code == 201, response.text
    assert response.json()["topic"] == TOPIC
    token = await register(api, "carol")
    report = await send_and_wait(api, tokens=[token], alert={"body": "via certificate"})
    assert report["results"][0]["status"] == "delivered"
    (received,) = sim.inbox.query(token=token)
    assert received.auth.kind == "certificate" and received.auth.subject_uid == TOPIC


async def test_background_and_voip_get_their_apns_defaults(
    token_app: httpx.AsyncClient, sim: Simulator
) -> None:
    token = await register(token_app, "dave")
    await send_and_wait(token_app, tokens=[token], push_type="background", data={"sync": "1"})
    await send_and_wait(token_app, tokens=[token], push_type="voip", data={"call": "42"})
    background, voip = sim.inbox.query(token=token)
    assert background.push_type == "background" and background.priority == 5
    assert background.topic == TOPIC
    assert background.payload == {"aps": {"content-available": 1}, "sync": "1"}
    assert voip.push_type == "voip" and voip.topic == TOPIC + ".voip"


async def test_dead_token_is_unregistered_and_device_deactivated(
    token_app: httpx.AsyncClient, sim: Simulator
) -> None:
    token = await register(token_app, "erin")
    stamp_ms = int(time.time() * 1000) + 5_000
    sim.mark_dead(token, stamp_ms)
    report = await send_and_wait(token_app, user_ids=["erin"], alert={"body": "x"})
    (result,) = report["results"]
    assert result["status"] == "unregistered" and result["reason"] == "Unregistered"
    assert abs(result["unregistered_at"] - stamp_ms / 1000) < 0.01
    (device,) = (await token_app.get("/v1/devices", params={"user_id": "erin"})).json()
    assert device["active"] is False and device["inactive_reason"] == "Unregistered"
    assert abs(device["inactive_since"] - stamp_ms / 1000) < 0.01
    again = await token_app.post(
        "/v1/notifications", json={"user_ids": ["erin"], "alert": {"body": "y"}}
    )
    assert again.json()["deliveries"] == 0
    assert again.json()["skipped"] == [{"user_id": "erin", "reason": "no_active_devices"}]


async def test_bad_device_token_in_matching_environment_deactivates(
    token_app: httpx.AsyncClient, sim: Simulator
) -> None:
    token = await register(token_app, "frank")
    sim.register_device(token, TOPIC, "production")
    report = await send_and_wait(token_app, tokens=[token], alert={"body": "x"})
    assert report["results"][0]["status"] == "unregistered"
    assert report["results"][0]["reason"] == "BadDeviceToken"


async def test_environment_mismatch_is_a_rejection_not_a_dead_token(
    token_app: httpx.AsyncClient, sim: Simulator
) -> None:
    token = await register(token_app, "gina", environment="production")
    sim.register_device(token, TOPIC, "production")
    report = await send_and_wait(token_app, tokens=[token], alert={"body": "x"})
    (result,) = report["results"]
    assert result["status"] == "rejected" and "BadDeviceToken" in result["reason"]
    (device,) = (await token_app.get("/v1/devices", params={"user_id": "gina"})).json()
    assert device["active"] is True


async def test_transient_failures_are_retried_until_delivered(
    token_app: httpx.AsyncClient, sim: Simulator
) -> None:
    token = await register(token_app, "hank")
    sim.set_faults(service_unavailable={"first": 2})
    report = await send_and_wait(token_app, tokens=[token], alert={"body": "x"})
    (result,) = report["results"]
    assert result["status"] == "delivered" and result["attempts"] == 3
    assert len(sim.inbox.query(token=token)) == 1


async def test_persistent_failure_is_reported_failed_after_retries(
    token_app: httpx.AsyncClient, sim: Simulator
) -> None:
    token = await register(token_app, "ivan")
    sim.set_faults(service_unavailable={"every": 1})
    report = await send_and_wait(token_app, tokens=[token], alert={"body": "x"})
    (result,) = report["results"]
    assert result["status"] == "failed" and result["attempts"] == 4
    assert "ServiceUnavailable" in result["reason"]
    assert sim.inbox.query(token=token) == []


async def test_too_many_requests_is_retried(token_app: httpx.AsyncClient, sim: Simulator) -> None:
    token = await register(token_app, "jane")
    sim.set_faults(too_many_requests={"first": 1})
    report = await send_and_wait(token_app, tokens=[token], alert={"body": "x"})
    assert report["results"][0]["status"] == "delivered"
    assert report["results"][0]["attempts"] == 2


async def test_goaway_every_few_streams_loses_nothing(
    token_app: httpx.AsyncClient, sim: Simulator
) -> None:
    tokens = [await register(token_app, f"user{i}") for i in range(30)]
    sim.set_faults(goaway_every=7)
    report = await send_and_wait(token_app, tokens=tokens, alert={"body": "x"})
    assert report["counts"] == {"delivered": 30}
    assert {n.token for n in sim.inbox.query()} == set(tokens)


async def test_topic_the_key_may_not_use_is_rejected_as_configuration(
    api: httpx.AsyncClient, sim: Simulator
) -> None:
    from harness import new_signing_key

    body = new_signing_key(sim, key_id="LIMITEDKEY", topics=["com.example.other"])
    response = await api.put("/v1/credentials/apns", json={**body, "environment": "sandbox"})
    assert response.status_code == 201
    token = await register(api, "kate")
    report = await send_and_wait(api, tokens=[token], alert={"body": "x"})
    (result,) = report["results"]
    assert result["status"] == "rejected" and result["attempts"] == 1


async def test_fan_out_to_users_reaches_every_device(
    token_app: httpx.AsyncClient, sim: Simulator
) -> None:
    tokens = {await register(token_app, f"member{i}") for i in range(10)}
    tokens |= {await register(token_app, f"member{i}") for i in range(10)}
    report = await send_and_wait(
        token_app, user_ids=[f"member{i}" for i in range(10)], alert={"body": "to the channel"}
    )
    assert report["total"] == 20 and report["counts"] == {"delivered": 20}
    assert {n.token for n in sim.inbox.query()} == tokens


async def test_pushes_in_flight_on_a_dropped_connection_are_sent_again(
    token_app: httpx.AsyncClient, sim: Simulator
) -> None:
    """With a collapse id a repeat is harmless, so pushes that lost their answer go again."""
    tokens = [await register(token_app, f"user{i}") for i in range(10)]
    sim.set_faults(response_delay=5.0)  # received, then unanswered until the drop
    sending = asyncio.ensure_future(
        send_and_wait(token_app, tokens=tokens, alert={"body": "x"}, collapse_id="c")
    )
    async with asyncio.timeout(10):
        while len(sim.inbox.query()) < 10:  # noqa: ASYNC110 - the inbox has no wait
            await asyncio.sleep(0.01)
    sim.clear_faults()
    assert sim.drop_apns_connections() >= 1
    report = await sending
    assert report["counts"] == {"delivered": 10}
    assert {result["attempts"] for result in report["results"]} == {2}  # sent, lost, sent again
    assert len(sim.inbox.query()) == 20  # at least once: the first copies were received


async def test_pushes_in_flight_on_a_dropped_connection_without_collapse_id_are_unknown(
    token_app: httpx.AsyncClient, sim: Simulator
) -> None:
    """Without a collapse id a second copy would show twice: reported unknown, not repeated."""
    tokens = [await register(token_app, f"user{i}") for i in range(5)]
    sim.set_faults(response_delay=5.0)
    sending = asyncio.ensure_future(send_and_wait(token_app, tokens=tokens, alert={"body": "x"}))
    async with asyncio.timeout(10):
        while len(sim.inbox.query()) < 5:  # noqa: ASYNC110 - the inbox has no wait
            await asyncio.sleep(0.01)
    sim.clear_faults()
    assert sim.drop_apns_connections() >= 1
    report = await sending
    assert report["counts"] == {"unknown": 5}
    assert len(sim.inbox.query()) == 5
