"""The Mattermost push proxy front door, sent what a Mattermost server sends, end to end.

Bodies are marshalled as Go's ``json.Marshal`` does (compact, ``<>&`` escaped) and posted
without a Content-Type header, as the server's HTTP client does.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from compat_harness import FCM_PROJECT, gateway_with_doors
from harness import TOPIC, RunningGateway, new_token

from backends import BACKENDS, store_settings
from pushgate.cli.runner import door_listeners
from pushgate.simulator import Simulator
from pushgate.simulator.certs import SimulatorCA

URL_SECRET = "s3cret-" + "x" * 24
DOOR = {
    "app": "chat",
    "url_secret": URL_SECRET,
    "main_listener": True,
    "wait_timeout": 10.0,
    "platforms": {
        "apple_rn": {"platform": "apns", "credential": "sandbox"},
        "android_rn": {"platform": "fcm"},
        "android": {"platform": "fcm", "credential": "never-uploaded"},
    },
}
OK = '{"status":"OK"}\n'
REMOVE = '{"status":"REMOVE"}\n'


def go_marshal(value: dict[str, Any]) -> bytes:
    """What Go's json.Marshal writes: compact, HTML characters escaped."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e")):
        text = text.replace(char, escaped)
    return text.encode()


@pytest.fixture
async def gw(tmp_path: Path, sim: Simulator) -> AsyncIterator[RunningGateway]:
    async with gateway_with_doors(tmp_path, sim, mattermost=[DOOR]) as running:
        yield running


@pytest.fixture
async def server(gw: RunningGateway) -> AsyncIterator[httpx.AsyncClient]:
    """The Mattermost server's HTTP client, configured with the secret push URL."""
    headers = {"user-agent": "Mattermost-Bot/1.1"}
    async with httpx.AsyncClient(
        base_url=f"{gw.url}/mm/{URL_SECRET}", headers=headers, timeout=30
    ) as client:
        yield client


async def send_push(client: httpx.AsyncClient, **fields: Any) -> httpx.Response:
    request = client.build_request("POST", "/api/v1/send_push", content=go_marshal(fields))
    assert "content-type" not in request.headers
    response = await client.send(request)
    assert response.status_code == 200
    return response


def post_message(token: str, **fields: Any) -> dict[str, Any]:
    """A post notification as notification_push.go builds it (full contents)."""
    return {
        "ack_id": secrets.token_hex(13),
        "platform": "apple_rn-v2",
        "server_id": "srv8xq3",
        "device_id": token,
        "post_id": "post1",
        "category": "CAN_REPLY",
        "message": "alice: ship it :tada: <now> & then",
        "badge": 3,
        "team_id": "team1",
        "channel_id": "chan1",
        "root_id": "",
        "channel_name": "Town Square",
        "type": "message",
        "sender_id": "user1",
        "sender_name": "alice",
        "version": "v2",
        "is_crt_enabled": False,
        "is_id_loaded": False,
        "signature": "eyJhbGciOiJFUzI1NiJ9.e30.sig",
        **fields,
    }


async def test_post_notification_reaches_ios_as_the_app_expects(server, sim: Simulator):
    token = new_token()
    body = post_message(token)
    response = await send_push(server, **body)
    assert response.text == OK
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    (received,) = sim.inbox.query(token=token)
    assert received.topic == TOPIC and received.push_type == "alert"
    assert received.priority == 10 and received.environment == "sandbox"
    assert received.payload == {
        "aps": {
            "alert": {"title": "Town Square", "body": "alice: ship it \U0001f389  <now> & then"},
            "sound": "default",
            "mutable-content": 1,
            "content-available": 1,
            "category": "CAN_REPLY",
            "badge": 3,
            "thread-id": "chan1",
        },
        "version": "v2",
        "channel_name": "Town Square",
        "type": "message",
        "sub_type": "",
        "server_id": "srv8xq3",
        "is_crt_enabled": False,
        "signature": "eyJhbGciOiJFUzI1NiJ9.e30.sig",
        "ack_id": body["ack_id"],
        "channel_id": "chan1",
        "team_id": "team1",
        "sender_id": "user1",
        "sender_name": "alice",
        "post_id": "post1",
    }


async def test_post_notification_reaches_android_as_data(server, sim: Simulator):
    token = sim.create_fcm_token(FCM_PROJECT)
    body = post_message(token, platform="android_rn-v2", root_id="root1", signature="")
    assert (await send_push(server, **body)).text == OK
    (received,) = sim.fcm_inbox.query(token=token)
    message = received.message
    assert "notification" not in message
    assert message["android"]["priority"] == "HIGH"
    assert message["data"] == {
        "ack_id": body["ack_id"],
        "type": "message",
        "sub_type": "",
        "version": "v2",
        "channel_id": "chan1",
        "is_crt_enabled": "false",
        "server_id": "srv8xq3",
        "category": "CAN_REPLY",
        "signature": "NO_SIGNATURE",
        "badge": "3",
        "root_id": "root1",
        "team_id": "team1",
        "sender_id": "user1",
        "sender_name": "alice",
        "message": "alice: ship it \U0001f389  <now> & then",
        "channel_name": "Town Square",
        "post_id": "post1",
        "override_username": "",
        "override_icon_url": "",
        "from_webhook": "",
    }


async def test_id_loaded_push_carries_no_sender_or_channel(server, sim: Simulator):
    token, android = new_token(), sim.create_fcm_token(FCM_PROJECT)
    for device, platform in ((token, "apple_rn-v2"), (android, "android_rn-v2")):
        body = post_message(
            device, platform=platform, is_id_loaded=True, message="You have a new message."
        )
        body.pop("channel_name"), body.pop("sender_name")
        assert (await send_push(server, **body)).text == OK
    (ios,) = sim.inbox.query(token=token)
    assert ios.payload["aps"]["alert"] == {"body": "You have a new message."}
    assert ios.payload["id_loaded"] is True and "channel_name" not in ios.payload
    (fcm,) = sim.fcm_inbox.query(token=android)
    assert fcm.message["data"]["sender_name"] == "Someone"
    assert fcm.message["data"]["id_loaded"] == "true"
    assert "channel_name" not in fcm.message["data"]


async def test_clear_update_badge_and_test_pushes(server, sim: Simulator):
    token = new_token()
    base = {"platform": "apple_rn-v2", "server_id": "srv", "device_id": token, "post_id": ""}
    clear = {**base, "ack_id": "a" * 26, "type": "clear", "channel_id": "c1", "version": "v2"}
    assert (await send_push(server, **clear, cont_ava=1)).text == OK
    badge = {**base, "ack_id": "b" * 26, "type": "update_badge", "badge": 4, "version": "v2"}
    assert (await send_push(server, **badge, sound="none", cont_ava=1)).text == OK
    test = {**base, "type": "test", "badge": -1, "version": "2"}
    assert (await send_push(server, **test)).text == OK
    cleared, updated, tested = sim.inbox.query(token=token)
    assert cleared.payload["aps"] == {"content-available": 1, "badge": 1, "thread-id": "c1"}
    assert updated.payload["aps"] == {"badge": 4}
    assert tested.payload["aps"] == {"content-available": 1}
    assert tested.payload["signature"] == "NO_SIGNATURE" and "ack_id" not in tested.payload


async def test_calls_ring_goes_to_pushkit(server, sim: Simulator):
    token = new_token()
    body = post_message(
        token, sub_type="calls", transport="voip", message="\u200balice is inviting you"
    )
    assert (await send_push(server, **body)).text == OK
    (received,) = sim.inbox.query(token=token)
    assert received.push_type == "voip" and received.topic == TOPIC + ".voip"
    assert received.payload == {
        "aps": {"content-available": 1},
        "type": "message",
        "sub_type": "calls",
        "channel_id": "chan1",
        "server_id": "srv8xq3",
        "post_id": "post1",
        "thread_id": "",
        "sender_id": "user1",
        "id_loaded": False,
        "sender_name": "alice",
        "channel_name": "Town Square",
        "ack_id": body["ack_id"],
        "signature": body["signature"],
    }


async def test_long_message_and_channel_name_are_cut_on_character_boundaries(server, sim):
    token = new_token()
    message = "a" + "é" * 1100  # 2201 bytes: the cut at 2046 falls inside a character
    body = post_message(token, message=message, channel_name="ü" * 40)
    assert (await send_push(server, **body)).text == OK
    (received,) = sim.inbox.query(token=token)
    alert = received.payload["aps"]["alert"]
    assert alert["body"] == "a" + "é" * 1022 and len(alert["body"].encode()) == 2045
    assert alert["title"] == "ü" * 32


async def test_dead_tokens_are_removed(server, sim: Simulator):
    apple = new_token()
    sim.mark_dead(apple)
    assert (await send_push(server, **post_message(apple))).text == REMOVE
    android = sim.create_fcm_token(FCM_PROJECT)
    sim.mark_fcm_unregistered(android)
    body = post_message(android, platform="android_rn-v2")
    assert (await send_push(server, **body)).text == REMOVE


async def test_configuration_faults_fail_and_never_remove(server, sim: Simulator):
    other_project = sim.create_fcm_token("someone-elses-project")
    answer = (await send_push(server, **post_message(other_project, platform="android_rn"))).json()
    assert answer["status"] == "FAIL" and "SENDER_ID_MISMATCH" in answer["error"]
    no_credential = post_message(sim.create_fcm_token(FCM_PROJECT), platform="android")
    answer = (await send_push(server, **no_credential)).json()
    assert answer["status"] == "FAIL" and "credential" in answer["error"]


@pytest.mark.parametrize(
    ("body", "answer"),
    [
        (b"", '{"error":"Failed to read message body: EOF","status":"FAIL"}\n'),
        (
            go_marshal({"server_id": "s", "device_id": "d", "badge": "3"}),
            '{"error":"Failed to read message body: json: cannot unmarshal string into Go '
            'struct field PushNotification.badge of type int","status":"FAIL"}\n',
        ),
        (
            go_marshal({"device_id": "d", "platform": "apple_rn"}),
            '{"error":"Failed because of missing server Id","status":"FAIL"}\n',
        ),
        (
            go_marshal({"server_id": "srv1", "platform": "apple_rn"}),
            '{"error":"Failed because of missing device Id serverId=srv1","status":"FAIL"}\n',
        ),
        (
            go_marshal({"Server_ID": "srv1", "DEVICE_ID": "d", "platform": "windows-v3"}),
            '{"error":"Did not send message because of missing platform property '
            'type=windows serverId=srv1","status":"FAIL"}\n',
        ),
    ],
)
async def test_bad_requests_get_the_proxys_fail_texts(server, sim, body: bytes, answer: str):
    response = await server.post("/api/v1/send_push", content=body)
    assert response.status_code == 200 and response.text == answer
    assert sim.inbox.query() == [] and sim.fcm_inbox.query() == []


async def test_ack_is_validated_and_counted(server):
    ack = {"id": "a" * 26, "received_at": 1767225600000, "platform": "ios", "type": "message"}
    response = await server.post("/api/v1/ack", content=go_marshal(ack))
    assert response.text == OK  # an ack_id pushgate never sent: OK, as the proxy answers
    missing = await server.post("/api/v1/ack", content=go_marshal({**ack, "type": ""}))
    assert missing.text == '{"error":"Failed because of missing ack type","status":"FAIL"}\n'
    metrics = (await server.get("/../../metrics")).text  # the main listener's /metrics
    assert 'pushgate_mattermost_acks_total{platform="ios",recorded="no",type="message"}' in metrics


async def only_notification(gw: RunningGateway) -> dict[str, Any]:
    async with gw.client(gw.api_key) as api:
        (logged,) = (await api.get("/v1/notifications")).json()["notifications"]
        report = await api.get(f"/v1/notifications/{logged['id']}")
    assert report.status_code == 200
    return {**report.json(), "logged_acknowledged_at": logged["acknowledged_at"]}


@pytest.mark.parametrize("backend", BACKENDS)
async def test_an_ack_is_recorded_on_the_notification_it_acknowledges(
    tmp_path: Path, sim: Simulator, backend: str
):
    """The app acks an ID-only push to its server, which forwards the ack (its ``id`` is the
    push's ``ack_id``); the notification the push became shows when."""
    token = new_token()
    push = post_message(token, is_id_loaded=True, message="You have a new message.")
    async with (
        store_settings(backend, tmp_path) as store,
        gateway_with_doors(tmp_path, sim, store=store, mattermost=[DOOR]) as gw,
        httpx.AsyncClient(base_url=f"{gw.url}/mm/{URL_SECRET}", timeout=30) as server,
    ):
        assert (await send_push(server, **push)).text == OK
        (received,) = sim.inbox.query(token=token)
        assert received.payload["ack_id"] == push["ack_id"]
        before = await only_notification(gw)
        assert before["acknowledged_at"] is None
        ack = {"id": push["ack_id"], "received_at": 1767225600000, "platform": "ios",
               "type": "message", "post_id": "post1", "is_id_loaded": True}  # fmt: skip
        started = time.time()
        assert (await server.post("/api/v1/ack", content=go_marshal(ack))).text == OK
        after = await only_notification(gw)
        assert started <= after["acknowledged_at"] <= time.time()
        assert after["logged_acknowledged_at"] == after["acknowledged_at"]
        # iOS retries the ack on network errors: the first one stays.
        assert (await server.post("/api/v1/ack", content=go_marshal(ack))).text == OK
        assert (await only_notification(gw))["acknowledged_at"] == after["acknowledged_at"]
        metrics = (await server.get("/../../metrics")).text
        assert 'acks_total{platform="ios",recorded="yes",type="message"}' in metrics


async def test_root_version_and_wrong_secret(gw: RunningGateway, server):
    assert (await server.get("/")).text == "<html><body>Mattermost Push Proxy</body></html>"
    assert set((await server.get("/version")).json()) == {"hash", "version"}
    async with httpx.AsyncClient(base_url=gw.url) as plain:
        wrong = await plain.post(f"/mm/{'y' * 30}/api/v1/send_push", content=b"{}")
        assert wrong.status_code == 404 and wrong.json()["error"]["code"] == "not_found"
        not_post = await server.get("/api/v1/send_push")
        assert not_post.status_code == 405 and not_post.headers["allow"] == "POST"
        on_main = await plain.post("/api/v1/send_push", content=b"{}")
        assert on_main.text == '{"error":"Failed because of missing server Id","status":"FAIL"}\n'


async def test_a_listener_of_its_own_over_tls(tmp_path: Path, sim: Simulator):
    certs = tmp_path / "listener-certs"
    SimulatorCA.load_or_create(certs)
    listener = {
        "host": "127.0.0.1",
        "port": 0,
        "tls_cert_file": str(certs / "server.pem"),
        "tls_key_file": str(certs / "server.key"),
    }
    door = {**DOOR, "main_listener": False, "listener": listener}
    async with gateway_with_doors(tmp_path / "gw", sim, mattermost=[door]) as gw:
        (server,) = door_listeners(gw.gateway.settings, gw.gateway)
        task = asyncio.create_task(server.serve())
        try:
            async with asyncio.timeout(10):
                while not server.started:  # noqa: ASYNC110 - uvicorn has no started event
                    await asyncio.sleep(0.01)
            port = server.servers[0].sockets[0].getsockname()[1]
            context = ssl.create_default_context(cafile=str(certs / "ca.pem"))
            async with httpx.AsyncClient(
                base_url=f"https://127.0.0.1:{port}", verify=context
            ) as mm:
                token = new_token()
                assert (await send_push(mm, **post_message(token))).text == OK
                assert (await mm.get("/")).text == "<html><body>Mattermost Push Proxy</body></html>"
            assert len(sim.inbox.query(token=token)) == 1
        finally:
            server.should_exit = True
            await task
