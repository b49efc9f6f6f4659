"""The Matrix push gateway front door, sent what Synapse's HTTP pusher sends, end to end.

Bodies are canonical JSON (sorted keys, compact) with ``Content-Type: application/json``, one
device per request, the fields Synapse fills for each format.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from compat_harness import FCM_PROJECT, gateway_with_doors
from harness import TOPIC, RunningGateway, gateway_settings, new_token, running_gateway

from backends import BACKENDS, store_settings
from pushgate.simulator import Simulator

IOS, ANDROID = "com.example.chat.ios", "com.example.chat.android"
MATRIX = {
    "wait_timeout": 10.0,
    "app_ids": {
        IOS: {"app": "chat", "platform": "apns", "credential": "sandbox"},
        ANDROID: {"app": "chat", "platform": "fcm"},
    },
}
NOTIFY = "/_matrix/push/v1/notify"


@pytest.fixture
async def gw(tmp_path: Path, sim: Simulator) -> AsyncIterator[RunningGateway]:
    async with gateway_with_doors(tmp_path, sim, matrix=MATRIX) as running:
        yield running


@pytest.fixture
async def homeserver(gw: RunningGateway) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"user-agent": "Synapse/1.120.0", "accept": "application/json"}
    async with httpx.AsyncClient(base_url=gw.url, headers=headers, timeout=30) as client:
        yield client


def canonical(value: dict[str, Any]) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


async def notify(client: httpx.AsyncClient, notification: dict[str, Any]) -> httpx.Response:
    return await client.post(
        NOTIFY,
        content=canonical({"notification": notification}),
        headers={"content-type": "application/json"},
    )


def ios_pushkey(token: str) -> str:
    """What an iOS Matrix client registers: the APNs token, base64."""
    return base64.b64encode(bytes.fromhex(token)).decode()


def device(app_id: str, pushkey: str, **fields: Any) -> dict[str, Any]:
    return {"app_id": app_id, "pushkey": pushkey, "pushkey_ts": 1767225600, "data": {}, **fields}


def message_event(*devices: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A full-format notify of an m.room.message, as httppusher.py builds it."""
    event_id = "$" + secrets.token_urlsafe(16)
    return {
        "id": event_id,
        "event_id": event_id,
        "room_id": "!lobby:example.org",
        "type": "m.room.message",
        "sender": "@alice:example.org",
        "sender_display_name": "Alice",
        "room_name": "Lobby",
        "prio": "high",
        "content": {"msgtype": "m.text", "body": "lunch at noon?"},
        "counts": {"unread": 2},
        "devices": list(devices),
        **fields,
    }


async def test_message_reaches_ios_with_alert_badge_and_ids(homeserver, sim: Simulator):
    token = new_token()
    pushkey = ios_pushkey(token)
    event = message_event(device(IOS, pushkey, tweaks={"sound": "default", "highlight": True}))
    response = await notify(homeserver, event)
    assert response.status_code == 200 and response.json() == {"rejected": []}
    (received,) = sim.inbox.query(token=token)
    assert received.topic == TOPIC and received.priority == 10
    assert received.payload == {
        "aps": {
            "alert": {"title": "Lobby", "body": "lunch at noon?"},
            "sound": "default",
            "badge": 2,
        },
        "room_id": "!lobby:example.org",
        "event_id": event["event_id"],
        "unread_count": 2,
        "sender": "@alice:example.org",
        "type": "m.room.message",
    }


async def test_message_reaches_android_as_data(homeserver, sim: Simulator):
    token = sim.create_fcm_token(FCM_PROJECT)
    event = message_event(device(ANDROID, token))
    assert (await notify(homeserver, event)).json() == {"rejected": []}
    (received,) = sim.fcm_inbox.query(token=token)
    assert received.message["android"]["priority"] == "HIGH"
    data = dict(received.message["data"])
    assert json.loads(data.pop("content")) == event["content"]
    assert data == {
        "event_id": event["event_id"],
        "room_id": "!lobby:example.org",
        "type": "m.room.message",
        "sender": "@alice:example.org",
        "sender_display_name": "Alice",
        "room_name": "Lobby",
        "prio": "high",
        "unread": "2",
    }


async def test_event_id_only_never_carries_content(homeserver, sim: Simulator):
    token, android = new_token(), sim.create_fcm_token(FCM_PROJECT)
    default_payload = {"aps": {"mutable-content": 1, "alert": {"loc-key": "SINGLE_UNREAD"}}}
    data = {"format": "event_id_only", "default_payload": default_payload}
    android_data = {"format": "event_id_only", "default_payload": {"cs": "1"}}
    entries = (
        device(IOS, ios_pushkey(token), data=data),
        device(ANDROID, android, data=android_data),
    )
    for entry in entries:
        event_id = "$" + secrets.token_urlsafe(16)
        only_ids = {
            "event_id": event_id,
            "room_id": "!lobby:example.org",
            "prio": "high",
            "counts": {"unread": 1},
            "devices": [entry],
        }
        assert (await notify(homeserver, only_ids)).json() == {"rejected": []}
    (ios,) = sim.inbox.query(token=token)
    assert ios.payload["aps"] == {**default_payload["aps"], "badge": 1}
    assert ios.payload["event_id"] and ios.payload["room_id"] == "!lobby:example.org"
    (fcm,) = sim.fcm_inbox.query(token=android)
    assert set(fcm.message["data"]) == {"event_id", "room_id", "prio", "unread", "cs"}
    for text in (json.dumps(ios.payload), json.dumps(fcm.message)):
        assert "lunch" not in text and "Alice" not in text


async def test_badge_only_update_after_a_read_receipt(homeserver, sim: Simulator):
    token = new_token()
    badge = {"id": "", "type": None, "sender": "", "counts": {"unread": 5}}
    response = await notify(homeserver, {**badge, "devices": [device(IOS, ios_pushkey(token))]})
    assert response.json() == {"rejected": []}
    (received,) = sim.inbox.query(token=token)
    assert received.payload == {"aps": {"badge": 5}, "unread_count": 5}


async def test_low_priority_maps_to_apns_5_and_fcm_normal(homeserver, sim: Simulator):
    token, android = new_token(), sim.create_fcm_token(FCM_PROJECT)
    await notify(homeserver, message_event(device(IOS, ios_pushkey(token)), prio="low"))
    await notify(homeserver, message_event(device(ANDROID, android), prio="low"))
    assert sim.inbox.query(token=token)[0].priority == 5
    (fcm,) = sim.fcm_inbox.query(token=android)
    assert fcm.message["android"]["priority"] == "NORMAL" and fcm.message["data"]["prio"] == "low"


async def test_only_dead_pushkeys_are_rejected(homeserver, sim: Simulator):
    dead_ios, live_ios = new_token(), new_token()
    sim.mark_dead(dead_ios)
    dead_android = sim.create_fcm_token(FCM_PROJECT)
    sim.mark_fcm_unregistered(dead_android)
    wrong_project = sim.create_fcm_token("another-project")  # a configuration fault
    devices = [
        device(IOS, ios_pushkey(dead_ios)),
        device(IOS, ios_pushkey(live_ios)),
        device(ANDROID, dead_android),
        device(ANDROID, wrong_project),
        device("org.unknown.app", "abc"),
        device(IOS, "not a token!"),
    ]
    response = await notify(homeserver, message_event(*devices))
    assert response.status_code == 200
    assert sorted(response.json()["rejected"]) == sorted(
        [ios_pushkey(dead_ios), dead_android, "not a token!"]
    )
    assert len(sim.inbox.query(token=live_ios)) == 1


async def test_concurrent_notifies_each_get_their_own_answer(homeserver, sim: Simulator):
    """Concurrent notifies are accepted and read back together; each answer is its own."""
    tokens = [new_token() for _ in range(30)]
    dead = set(tokens[::3])
    for token in dead:
        sim.mark_dead(token)
    answers = await asyncio.gather(
        *(notify(homeserver, message_event(device(IOS, ios_pushkey(t)))) for t in tokens)
    )
    for token, answer in zip(tokens, answers, strict=True):
        rejected = [ios_pushkey(token)] if token in dead else []
        assert answer.status_code == 200 and answer.json() == {"rejected": rejected}
    assert all(len(sim.inbox.query(token=t)) == 1 for t in tokens if t not in dead)


async def test_notify_takes_only_post(homeserver):
    answer = await homeserver.get(NOTIFY)
    assert answer.status_code == 405 and answer.headers["allow"] == "POST"
    assert answer.json()["error"]["code"] == "method_not_allowed"


async def test_transient_failure_is_not_a_rejection(homeserver, sim: Simulator):
    token = new_token()
    sim.set_faults(service_unavailable={"first": 2})
    response = await notify(homeserver, message_event(device(IOS, ios_pushkey(token))))
    assert response.status_code == 200 and response.json() == {"rejected": []}
    assert len(sim.inbox.query(token=token)) == 1


async def test_a_retried_notify_is_not_sent_twice(homeserver, sim: Simulator):
    token = new_token()
    event = message_event(device(IOS, ios_pushkey(token)))
    for _ in range(3):
        assert (await notify(homeserver, event)).json() == {"rejected": []}
    assert len(sim.inbox.query(token=token)) == 1


def synapse(gw: RunningGateway) -> httpx.AsyncClient:
    headers = {"user-agent": "Synapse/1.120.0", "accept": "application/json"}
    return httpx.AsyncClient(base_url=gw.url, headers=headers, timeout=30)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_retry_after_a_restart_is_not_sent_again(tmp_path: Path, sim: Simulator, backend):
    token = new_token()
    event = message_event(device(IOS, ios_pushkey(token)))
    async with store_settings(backend, tmp_path) as store:
        doors = gateway_with_doors(tmp_path, sim, store=store, matrix=MATRIX)
        async with doors as gw, synapse(gw) as client:
            assert (await notify(client, event)).json() == {"rejected": []}
        settings = gateway_settings(tmp_path, sim, store=store, matrix=MATRIX)
        async with running_gateway(settings) as gw, synapse(gw) as client:
            assert (await notify(client, event)).json() == {"rejected": []}
            # A new event for the same device is sent.
            assert (await notify(client, {**event, "event_id": "$other"})).status_code == 200
    assert len(sim.inbox.query(token=token)) == 2


async def test_a_retry_of_an_erased_push_is_answered_and_not_sent(tmp_path: Path, sim: Simulator):
    token = new_token()
    event = message_event(device(IOS, ios_pushkey(token)))
    retention = {"days": 1e-9}  # everything finished is old enough at once
    doors = gateway_with_doors(tmp_path, sim, matrix=MATRIX, retention=retention)
    async with doors as gw, synapse(gw) as client:
        assert (await notify(client, event)).json() == {"rejected": []}
        assert await gw.gateway.retention.purge() == 1
        retried = await notify(client, event)
        assert retried.status_code == 200 and retried.json() == {"rejected": []}
    assert len(sim.inbox.query(token=token)) == 1


async def test_gateways_on_one_postgresql_send_a_retry_once(tmp_path: Path, sim: Simulator):
    """Synapse retries on a timeout; behind a load balancer the retry meets another gateway
    while the first is still answering."""
    tokens = [new_token() for _ in range(5)]
    events = [message_event(device(IOS, ios_pushkey(token))) for token in tokens]
    async with store_settings("postgresql", tmp_path) as store:
        settings = gateway_settings(tmp_path, sim, store=store, matrix=MATRIX)
        doors = gateway_with_doors(tmp_path, sim, store=store, matrix=MATRIX)
        async with (
            doors as first,
            running_gateway(settings) as second,
            synapse(first) as a,
            synapse(second) as b,
        ):
            answers = await asyncio.gather(
                *(notify(client, event) for event in events for client in (a, b, a, b))
            )
    assert all(answer.json() == {"rejected": []} for answer in answers)
    assert [len(sim.inbox.query(token=token)) for token in tokens] == [1] * 5


@pytest.mark.parametrize(
    ("body", "errcode"),
    [
        (b"not json", "M_NOT_JSON"),
        (b"[]", "M_NOT_JSON"),
        (b'{"notification": {"devices": []}}', "M_BAD_JSON"),
        (b'{"notification": {"devices": [{"app_id": "x"}]}}', "M_BAD_JSON"),
    ],
)
async def test_malformed_notify_is_400_with_a_matrix_error(homeserver, body: bytes, errcode):
    response = await homeserver.post(NOTIFY, content=body)
    assert response.status_code == 400
    assert response.json()["errcode"] == errcode and response.json()["error"]
