"""Issue 14 item 4: structured logs. A real ``pushgate serve --simulator`` (the dispatcher in
its own process) with ``log_format = json`` and the access log on: each rejection,
deactivation, credential fault, retry exhaustion and API request is one JSON event on the
one stderr, and no line holds a device token, message text, key or API key."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from pathlib import Path

import httpx
from test_simulator_mode import own_p8

ADMIN_KEY = "pgadm_logs-test-admin-key-0123456789"
TEXT = "meet-at-the-secret-place"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _wait_up(url: str, process: asyncio.subprocess.Process) -> None:
    async with httpx.AsyncClient() as http, asyncio.timeout(60):
        while True:
            if process.returncode is not None:
                raise AssertionError("the gateway exited")
            try:
                if (await http.get(f"{url}/health")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)


async def test_events_reach_one_json_log_without_secrets(tmp_path: Path) -> None:
    port, control_port = _free_port(), _free_port()
    url, control = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{control_port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUSHGATE_")} | {
        "PUSHGATE_DATA_DIR": str(tmp_path / "data"),
        "PUSHGATE_ADMIN_API_KEY": ADMIN_KEY,
        "PUSHGATE_SERVER__PORT": str(port),
        "PUSHGATE_SIMULATOR__CONTROL_URL": control,
        "PUSHGATE_LOG_FORMAT": "json",
        "PUSHGATE_ACCESS_LOG": "true",
        "PUSHGATE_DISPATCH__MAX_ATTEMPTS": "2",
        "PUSHGATE_DISPATCH__BACKOFF_INITIAL": "0.05",
        "PUSHGATE_DISPATCH__BACKOFF_MAX": "0.1",
    }
    log_file = tmp_path / "stderr.log"
    with log_file.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pushgate", "serve", "--simulator",
            env=env, stdout=asyncio.subprocess.DEVNULL, stderr=stderr,
        )  # fmt: skip
        try:
            await _wait_up(url, process)
            secrets_used = await _cause_every_event(url, control)
        finally:
            process.terminate()
            await asyncio.wait_for(process.wait(), 30)
    lines = log_file.read_text().splitlines()
    events = [json.loads(line) for line in lines if line.startswith("{")]
    assert len(events) == len(lines), [line for line in lines if not line.startswith("{")]
    by_name: dict[str, list[dict]] = {}
    for event in events:
        by_name.setdefault(event["event"], []).append(event)
    for name in ("delivery_rejected", "device_deactivated", "credential_fault", "delivery_failed"):
        assert name in by_name, (name, sorted(by_name))
    assert by_name["delivery_failed"][0]["reason"].startswith("retries exhausted")
    assert by_name["credential_fault"][0]["reason"].startswith("SENDER_ID_MISMATCH")
    assert all(len(e["token_ref"]) == 12 for e in by_name["device_deactivated"])
    requests = by_name["http_request"]
    assert {"method": "POST", "route": "/v1/notifications", "status": 202}.items() <= requests[
        -1
    ].items()
    assert any(r["route"] == "/v1/devices/{token:path}" for r in requests)
    refused = by_name["request_refused"][0]
    assert (refused["status"], refused["code"]) == (422, "validation_error")
    text = log_file.read_text()
    for secret in [*secrets_used, TEXT, ADMIN_KEY]:
        assert secret not in text, secret


async def _cause_every_event(url: str, control: str) -> list[str]:
    """Drive the gateway into each event; the secrets and tokens it was given."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        admin = {"authorization": f"Bearer {ADMIN_KEY}"}
        app_key = (await http.post("/v1/apps", json={"name": "logs"}, headers=admin)).json()[
            "api_key"
        ]
        http.headers["authorization"] = f"Bearer {app_key}"
        p8 = own_p8()
        apns = {"kind": "token", "key_p8": p8, "key_id": "LOGKEY1234", "team_id": "LOGTEAM123",
                "topic": "com.example.chat", "environment": "sandbox"}  # fmt: skip
        assert (await http.put("/v1/credentials/apns", json=apns)).status_code == 201
        account = (
            await http.post(f"{control}/fcm/service-accounts", json={"project_id": "mine"})
        ).json()
        assert (
            await http.put("/v1/credentials/fcm", json={"service_account": account})
        ).status_code == 201
        other = (await http.post(f"{control}/fcm/tokens", json={"project_id": "not-mine"})).json()[
            "token"
        ]
        subscription = (await http.post(f"{control}/webpush/subscriptions", json={})).json()
        alive, dead = "ab" * 32, "cd" * 32
        await http.post(f"{control}/apns/dead-tokens", json={"token": dead})
        devices = [
            {"platform": "apns", "token": alive, "environment": "sandbox"},
            {"platform": "apns", "token": dead, "environment": "sandbox"},
            {"platform": "fcm", "token": other},  # SENDER_ID_MISMATCH: a credential fault
            {"platform": "webpush", "subscription": subscription},  # no VAPID key: rejected
        ]
        for device in devices:
            answer = await http.post("/v1/devices", json={"user_id": "u", **device})
            assert answer.status_code == 201, answer.text
        assert (await http.post("/v1/devices", json={})).status_code == 422
        send = {"user_ids": ["u"], "alert": {"title": TEXT, "body": TEXT}}
        report = (await http.post("/v1/notifications", params={"wait": "true"}, json=send)).json()
        assert sorted(r["status"] for r in report["results"]) == [
            "delivered", "rejected", "rejected", "unregistered"
        ], report  # fmt: skip
        await http.put(f"{control}/apns/faults", json={"service_unavailable": {"every": 1}})
        send = {"tokens": [alive], "alert": {"body": TEXT}}
        report = (await http.post("/v1/notifications", params={"wait": "true"}, json=send)).json()
        assert report["results"][0]["status"] == "failed", report
        await http.delete(f"/v1/devices/{alive}")
        await http.post("/v1/notifications", json={"user_ids": ["u"], "alert": {"body": TEXT}})
    return [app_key, p8.splitlines()[1], alive, dead, other, subscription["endpoint"],
            subscription["keys"]["auth"], account["private_key"].splitlines()[1]]  # fmt: skip
