"""The gorush front door, sent gorush's documented request shapes, end to end."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import yaml
from compat_harness import FCM_PROJECT, gateway_with_doors
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI, Request
from harness import TOPIC, RunningGateway, new_token

from pushgate.simulator import Simulator

GORUSH = {"app": "chat", "ios_production": False, "sync": True, "wait_timeout": 10.0}


@pytest.fixture
async def gw(tmp_path: Path, sim: Simulator) -> AsyncIterator[RunningGateway]:
    async with gateway_with_doors(tmp_path, sim, gorush=GORUSH) as running:
        yield running


@pytest.fixture
async def client(gw: RunningGateway) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gw.url, timeout=30) as http:
        yield http


async def push(client: httpx.AsyncClient, *notifications: dict[str, Any]) -> httpx.Response:
    return await client.post("/api/push", json={"notifications": list(notifications)})


async def test_ios_and_android_notifications_are_delivered(client, sim: Simulator):
    ios, android = new_token(), sim.create_fcm_token(FCM_PROJECT)
    response = await push(
        client,
        {
            "tokens": [ios],
            "platform": 1,
            "title": "Alice",
            "message": "lunch?",
            "badge": 0,
            "sound": "default",
            "priority": "normal",
            "thread-id": "room-7",
            "data": {"room": "7"},
        },
        {
            "tokens": [android],
            "platform": 2,
            "title": "Alice",
            "message": "lunch?",
            "priority": "high",
            "data": {"room": 7},
            "android": {"collapse_key": "room-7"},
        },
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert "x-gorush-version" in response.headers
    body = response.json()
    assert body["counts"] == 2 and body["logs"] == [] and body["success"] == "ok"
    assert {r["status"] for r in body["results"]} == {"delivered"}
    (apns,) = sim.inbox.query(token=ios)
    assert apns.topic == TOPIC and apns.priority == 5 and apns.environment == "sandbox"
    assert apns.payload == {
        "aps": {
            "alert": {"title": "Alice", "body": "lunch?"},
            "badge": 0,
            "sound": "default",
            "thread-id": "room-7",
        },
        "room": "7",
    }
    (fcm,) = sim.fcm_inbox.query(token=android)
    assert fcm.message["notification"] == {"title": "Alice", "body": "lunch?"}
    assert fcm.message["data"] == {"room": "7"}
    assert fcm.message["android"]["priority"] == "HIGH"
    assert fcm.message["android"]["collapse_key"] == "room-7"


async def test_async_mode_answers_at_once_and_counts_as_gorush(tmp_path: Path, sim: Simulator):
    """gorush's default: the answer does not wait for the push services, and ``counts`` is
    gorush's count of what it queued (router/server.go: tokens plus one per topic, taken
    before ``to`` joins the tokens, for the enabled platforms, before any check)."""
    sim.set_faults(response_delay=3.0)
    gorush = {"app": "chat", "ios_production": False}
    async with (
        gateway_with_doors(tmp_path, sim, gorush=gorush) as gw,
        httpx.AsyncClient(base_url=gw.url, timeout=30) as client,
    ):
        first, second, legacy = new_token(), new_token(), new_token()
        android = sim.create_fcm_token(FCM_PROJECT)
        started = time.monotonic()
        response = await push(
            client,
            {"tokens": [first, second], "to": legacy, "platform": 1, "message": "x"},  # 2
            {"tokens": [android], "platform": 2, "message": "y", "topic": "news"},  # 2
            {"tokens": [android], "platform": 2, "message": "y", "condition": "'a' in topics"},
            {"tokens": ["t"] * 501, "platform": 2, "message": "too many"},  # 501, refused
            {"tokens": ["hms-token-1234567890abcdef"], "platform": 3, "message": "z"},  # 0
            {"tokens": ["t"], "platform": 4, "message": "?"},  # no such platform: 0
        )
        answered = time.monotonic() - started
        body = response.json()
        assert response.status_code == 200 and body["success"] == "ok"
        assert body["counts"] == 2 + 2 + 1 + 501 and "results" not in body
        assert answered < 3.0  # before the push service answered
        # Unlike gorush, what pushgate will not send is in logs at once.
        refused = Counter(log["platform"] for log in body["logs"])
        assert refused == {"android": 501, "huawei": 1, "4": 1}
        sent = (first, second, legacy)  # ``to`` is sent, though not counted
        for _ in range(500):
            if all(sim.inbox.query(token=token) for token in sent):
                break
            await asyncio.sleep(0.02)
        assert [len(sim.inbox.query(token=token)) for token in sent] == [1, 1, 1]


async def test_message_without_title_is_an_alert_string(client, sim: Simulator):
    token = new_token()
    await push(client, {"tokens": [token], "platform": 1, "message": "hi", "topic": TOPIC})
    (apns,) = sim.inbox.query(token=token)
    assert apns.payload == {"aps": {"alert": "hi"}}


async def test_sync_mode_reports_failures_and_dead_tokens(client, sim: Simulator):
    dead, live = new_token(), new_token()
    sim.mark_dead(dead)
    unregistered = sim.create_fcm_token(FCM_PROJECT)
    sim.mark_fcm_unregistered(unregistered)
    response = await push(
        client,
        {"notif_id": "n1", "tokens": [dead, live], "platform": 1, "message": "x"},
        {"tokens": [unregistered], "platform": 2, "message": "y"},
        {"tokens": ["hms-token-1234567890abcdef"], "platform": 3, "message": "z"},
    )
    body = response.json()
    assert response.status_code == 200 and body["counts"] == 3
    errors = sorted((log["platform"], log["error"]) for log in body["logs"])
    assert errors[0] == ("android", "UNREGISTERED")
    assert errors[1][0] == "huawei" and "Huawei" in errors[1][1]
    assert errors[2] == ("ios", "Unregistered")
    ios_log = next(log for log in body["logs"] if log["platform"] == "ios")
    assert ios_log["notif_id"] == "n1" and ios_log["type"] == "failed-push"
    assert ios_log["token"] == "*" * 10 + dead[10:-10] + "*" * 10
    dead_tokens = {r["token"] for r in body["results"] if r["dead"]}
    assert dead_tokens == {dead, unregistered}
    assert len(sim.inbox.query(token=live)) == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "Missing notifications field."),
        ({"notifications": "x"}, "Missing notifications field."),
        ({"notifications": [{"platform": "1", "tokens": ["t"]}]}, "Missing notifications field."),
        ({"notifications": []}, "Notifications field is empty."),
        (
            {"notifications": [{"platform": 2, "tokens": ["t"]}] * 101},
            "Number of notifications(101) over limit(100)",
        ),
    ],
)
async def test_bad_requests_get_gorush_400_texts(client, body, message: str):
    response = await client.post("/api/push", json=body)
    assert response.status_code == 400
    assert response.json() == {"code": 400, "message": message}


async def test_health_stats_and_version(client, sim: Simulator):
    await push(client, {"tokens": [new_token()], "platform": 1, "message": "x"})
    assert (await client.get("/healthz")).status_code == 200
    app = (await client.get("/api/stat/app")).json()
    assert app["submitted_tasks"] == 1 and app["ios"] == {"push_success": 1, "push_error": 0}
    runtime = (await client.get("/api/stat/go")).json()
    assert runtime["goroutine_num"] >= 1 and runtime["cpu_num"] >= 1
    assert set((await client.get("/version")).json()) == {"source", "version"}
    assert (await client.get("/")).json() == {"text": "Welcome to notification server."}
    metrics = (await client.get("/metrics")).text  # gorush's names beside pushgate's
    assert "# TYPE gorush_ios_success gauge" in metrics
    found = {
        line.split()[0]: float(line.split()[1])
        for line in metrics.splitlines()
        if line.startswith("gorush_")
    }
    assert found["gorush_ios_success"] >= 1 and found["gorush_total_push_count"] >= 1
    assert {"gorush_android_fail", "gorush_huawei_fail", "gorush_busy_workers"} <= set(found)


OTHER_APP = "com.example.chat.beta"


def trust_other_app_of_the_team(sim: Simulator) -> None:
    """The team of the harness's key also ships OTHER_APP: its token key may push there."""
    public = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    sim.register_key("OTHERKEY01", "TEAMID1234", public, bundle_ids=[OTHER_APP])


async def test_ios_topic_and_apns_id_are_sent_as_given(client, sim: Simulator):
    trust_other_app_of_the_team(sim)
    first, second, plain = new_token(), new_token(), new_token()
    apns_id = str(uuid.uuid4())
    body = (
        await push(
            client,
            {"tokens": [first, second], "platform": 1, "message": "beta build",
             "topic": OTHER_APP, "apns_id": apns_id},
            {"tokens": [plain], "platform": 1, "message": "no topic"},
        )
    ).json()  # fmt: skip
    assert body["counts"] == 4  # gorush counts an iOS topic too
    assert {r["status"] for r in body["results"]} == {"delivered"}
    for token in (first, second):
        (received,) = sim.inbox.query(token=token)
        assert received.topic == OTHER_APP and received.apns_id == apns_id
    (received,) = sim.inbox.query(token=plain)
    assert received.topic == TOPIC and received.apns_id != apns_id


async def test_a_bad_apns_id_is_a_failed_push(client, sim: Simulator):
    token = new_token()
    body = (
        await push(
            client, {"tokens": [token], "platform": 1, "message": "x", "apns_id": "not-a-uuid"}
        )
    ).json()
    (log,) = body["logs"]
    assert log["type"] == "failed-push" and "apns_id" in log["error"]
    assert sim.inbox.query(token=token) == []


async def test_retry_caps_the_attempts(client, sim: Simulator):
    capped, uncapped = new_token(), new_token()
    sim.set_faults(service_unavailable={"first": 2})
    body = await push(client, {"tokens": [capped], "platform": 1, "message": "x", "retry": 1})
    (result,) = body.json()["results"]
    assert result["status"] == "failed"  # 2 tries (1 retry), both 503
    sim.set_faults(service_unavailable={"first": 2})
    body = await push(client, {"tokens": [uncapped], "platform": 1, "message": "x"})
    assert body.json()["results"][0]["status"] == "delivered"  # the third try got through
    assert sim.inbox.query(token=capped) == [] and len(sim.inbox.query(token=uncapped)) == 1


async def test_fcm_options_reach_fcm(client, sim: Simulator):
    token = sim.create_fcm_token(FCM_PROJECT)
    notification = {"tokens": [token], "platform": 2, "message": "sale",
                    "fcm_options": {"analytics_label": "spring-sale"}}  # fmt: skip
    assert (await push(client, notification)).json()["results"][0]["status"] == "delivered"
    (received,) = sim.fcm_inbox.query(token=token)
    assert received.message["fcm_options"] == {"analytics_label": "spring-sale"}


class FeedbackReceiver:
    """The operator's feedback endpoint: records each POST's headers and JSON body."""

    def __init__(self) -> None:
        self.posts: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.arrived = asyncio.Event()
        app = FastAPI()

        @app.post("/gorush-feedback")
        async def receive(request: Request) -> dict[str, str]:
            self.posts.append((dict(request.headers), await request.json()))
            self.arrived.set()
            return {"ok": "yes"}

        self.app = app

    async def wait_for(self, count: int) -> list[dict[str, Any]]:
        async with asyncio.timeout(15):
            while len(self.posts) < count:
                self.arrived.clear()
                await self.arrived.wait()
        await asyncio.sleep(0.3)  # and no more than that
        return [body for _, body in self.posts]


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[FeedbackReceiver, str]]:
    found = FeedbackReceiver()
    config = uvicorn.Config(found.app, host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(10):
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield found, f"http://127.0.0.1:{port}/gorush-feedback"
    finally:
        server.should_exit = True
        await task


async def test_failed_pushes_are_posted_to_the_feedback_hook(
    tmp_path: Path, sim: Simulator, receiver
):
    found, url = receiver
    door = {**GORUSH, "sync": False, "feedback_hook_url": url,
            "feedback_header": ["Authorization: Bearer hook-secret"]}  # fmt: skip
    dead, live = new_token(), new_token()
    sim.mark_dead(dead)
    async with (
        gateway_with_doors(tmp_path, sim, gorush=door) as gw,
        httpx.AsyncClient(base_url=gw.url, timeout=30) as client,
    ):
        answer = await push(
            client,
            {"notif_id": "n7", "tokens": [dead, live], "platform": 1, "message": "x"},
            {"tokens": ["hms-token-1234567890abcdef"], "platform": 3, "message": "z"},
        )
        assert answer.json()["success"] == "ok"  # async: answered before the verdicts
        bodies = sorted(await found.wait_for(2), key=lambda body: body["platform"])
        config = await client.get("/api/config")
    assert len(bodies) == 2
    assert bodies[0]["platform"] == "huawei" and "Huawei" in bodies[0]["error"]
    assert bodies[1] == {"notif_id": "n7", "type": "failed-push", "platform": "ios",
                         "token": "*" * 10 + dead[10:-10] + "*" * 10, "message": "x",
                         "error": "Unregistered"}  # fmt: skip
    for headers, _ in found.posts:
        assert headers["authorization"] == "Bearer hook-secret"
        assert headers["content-type"].startswith("application/json")
    assert len(sim.inbox.query(token=live)) == 1
    # /api/config shows the hook but never the header's value.
    assert config.status_code == 200 and "hook-secret" not in config.text
    shown = yaml.safe_load(config.text)
    assert shown["core"]["feedback_hook_url"] == url and shown["core"]["sync"] is False
    assert shown["core"]["feedback_header"] == ["Authorization: (hidden)"]
    assert shown["api"]["push_uri"] == "/api/push" and shown["huawei"]["enabled"] is False


async def test_sys_stats_counts_the_doors_requests(client, sim: Simulator):
    for _ in range(3):
        await push(client, {"tokens": [new_token()], "platform": 1, "message": "x"})
    await client.post("/api/push", json={})
    stats = (await client.get("/sys/stats")).json()
    assert stats["pid"] > 0 and stats["uptime_sec"] > 0 and stats["uptime"].endswith("s")
    assert stats["total_status_code_count"]["200"] >= 3
    assert stats["total_status_code_count"]["400"] == 1
    assert stats["total_count"] >= 4 and stats["average_response_time_sec"] > 0
    assert set(stats) >= {"time", "unixtime", "status_code_count", "count",
                          "total_response_time", "average_response_time"}  # fmt: skip


async def test_a_push_that_fails_after_the_wait_is_still_posted(
    tmp_path: Path, sim: Simulator, receiver, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr("pushgate.api.compat.gorush_feedback.WATCH_POLL", 0.1)
    found, url = receiver
    door = {**GORUSH, "sync": False, "wait_timeout": 0.2, "feedback_hook_url": url,
            "hide_token": False}  # fmt: skip
    token = new_token()
    sim.set_faults(service_unavailable={"first": 2}, response_delay=0.3)
    async with (
        gateway_with_doors(tmp_path, sim, gorush=door) as gw,
        httpx.AsyncClient(base_url=gw.url, timeout=30) as client,
    ):
        notification = {"tokens": [token], "platform": 1, "message": "x", "retry": 1}
        assert (await push(client, notification)).json()["logs"] == []
        (body,) = await found.wait_for(1)
    assert body["token"] == token  # hide_token = false: the receiver can delete it
    assert body["error"].startswith("retries exhausted")
