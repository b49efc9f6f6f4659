"""The test push (API and `pushgate test`), the chat CLI and the `push apn` wizard."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import sys
from pathlib import Path

import httpx
from chat_helpers import all_platforms, android, channel, iphone, ok, post, wait_all
from harness import TOPIC, RunningGateway, new_signing_key
from test_cli import cli

from pushgate.simulator import Simulator


async def two_platform_user(api: httpx.AsyncClient, sim: Simulator) -> tuple[str, str]:
    await all_platforms(api, sim)
    await ok(await api.post("/v1/chat/users", json={"users": [{"id": "alice", "name": "Alice"}]}))
    apns_token, fcm_token = await iphone(api, "bob"), await android(api, sim, "bob")
    await channel(api, "general", ["alice", "bob"], name="general")
    sent = await post(api, id="m1", channel_id="general", sender_id="alice", text="hello bob")
    await wait_all(api, [n["id"] for n in sent["notifications"]])
    return apns_token, fcm_token


async def test_test_push_api_dry_run_explains_without_sending(
    api: httpx.AsyncClient, sim: Simulator
) -> None:
    apns_token, fcm_token = await two_platform_user(api, sim)
    before = len(sim.inbox.query(token=apns_token)), len(sim.fcm_inbox.query(token=fcm_token))
    await ok(
        await api.post("/v1/chat/presence", json={"presence": [{"user_id": "bob", "online": True}]})
    )
    dry = await ok(await api.post("/v1/chat/test", json={"user_id": "bob", "dry_run": True}))
    assert dry["message_id"] == "m1" and dry["would_notify"] is False and dry["rule"] == "online"
    by_platform = {d["platform"]: d for d in dry["devices"]}
    assert by_platform["apns"]["payload"]["aps"]["alert"]["body"] == "hello bob"
    assert by_platform["fcm"]["payload"]["notification"]["body"] == "hello bob"
    assert all(d["outcome"] is None for d in dry["devices"])
    after = len(sim.inbox.query(token=apns_token)), len(sim.fcm_inbox.query(token=fcm_token))
    assert after == before
    bad = await api.post("/v1/chat/test", json={"user_id": "bob", "template": "{{ nope }}"})
    assert bad.status_code == 422 and bad.json()["error"]["stage"] == "render"
    none = await api.post("/v1/chat/test", json={"user_id": "nobody"})
    assert none.status_code == 404


async def test_pushgate_test_prints_payload_answer_and_outcome_per_device(
    gw: RunningGateway, app_key: str, api: httpx.AsyncClient, sim: Simulator, tmp_path: Path
) -> None:
    apns_token, fcm_token = await two_platform_user(api, sim)
    template = tmp_path / "t.j2"
    template.write_text('{"alert": {"title": "TEST", "body": {{ message.text | tojson }}}}')
    code, out = await cli(
        "test", "--user", "bob", "--template", str(template), api_key=app_key, url=gw.url
    )
    assert code == 0, out
    assert "Message m1 in general (full content): the user would be notified" in out
    assert "apns device" in out and "fcm device" in out
    assert out.count('"title": "TEST"') == 2
    assert out.count("outcome: delivered") == 2
    apns_id = sim.inbox.query(token=apns_token)[-1].apns_id
    fcm_name = sim.fcm_inbox.query(token=fcm_token)[-1].message_id
    assert f"provider_id={apns_id}" in out and f"provider_id={fcm_name}" in out
    assert sim.inbox.query(token=apns_token)[-1].payload["aps"]["alert"]["title"] == "TEST"
    # The template was not saved.
    assert (await ok(await api.get("/v1/chat/templates")))["templates"] == []
    code, out = await cli(
        "test", "--user", "bob", "--json", "--dry-run", api_key=app_key, url=gw.url
    )
    assert code == 0 and json.loads(out)["dry_run"] is True


async def test_chat_cli_upserts_posts_and_explains(
    gw: RunningGateway, app_key: str, api: httpx.AsyncClient, sim: Simulator, tmp_path: Path
) -> None:
    await all_platforms(api, sim)
    await iphone(api, "bob")
    records = {
        "channels": [{"id": "ops", "name": "ops"}],
        "members": [{"channel_id": "ops", "user_id": u} for u in ("alice", "bob", "carl")],
        "users": [{"id": "carl", "push": {"level": "none"}}],
    }
    for kind, rows in records.items():
        path = tmp_path / f"{kind}.json"
        path.write_text(json.dumps(rows))
        code, out = await cli("chat", "upsert", kind, str(path), api_key=app_key, url=gw.url)
        assert code == 0 and f"{len(rows)} {kind} upserted" in out, out
    code, out = await cli("chat", "post", "-c", "ops", "-s", "alice", "--text", "hi", "--id", "p1",
                          api_key=app_key, url=gw.url)  # fmt: skip
    assert code == 0 and "pushed to bob" in out and "carl: preference_none" in out, out
    code, out = await cli("chat", "recipients", "p1", api_key=app_key, url=gw.url)
    assert code == 0 and "carl" in out and "preference_none" in out and "notified" in out
    code, out = await cli(
        "chat", "settings", "--content-mode", "generic", api_key=app_key, url=gw.url
    )
    assert code == 0 and json.loads(out)["content_mode"] == "generic"
    bad = tmp_path / "bad.j2"
    bad.write_text('{\n"alert": {{ oops }}\n}')
    code, out = await cli("chat", "template", "apns", str(bad), api_key=app_key, url=gw.url)
    assert code == 1 and "line 2" in out and "invalid_template" in out


async def test_push_apn_without_arguments_on_a_terminal_asks(
    gw: RunningGateway, app_key: str, sim: Simulator, tmp_path: Path
) -> None:
    upload = new_signing_key(sim)
    key_file = tmp_path / "AuthKey.p8"
    key_file.write_text(upload["key_p8"])
    answers = ["short", upload["team_id"], upload["key_id"], str(tmp_path / "missing.p8"),
               str(key_file), TOPIC, "y"]  # fmt: skip
    code, out = await on_terminal(["push", "apn"], answers, app_key, gw.url)
    assert code == 0, out
    assert "Team ID" in out and "A Team ID is 10 letters or digits." in out
    assert "No file at" in out and f"topic {TOPIC} (sandbox)" in out.replace("\r", "")
    async with gw.client(app_key) as api:
        (stored,) = await ok(await api.get("/v1/credentials"))
    assert stored["kind"] == "token" and stored["key_id"] == upload["key_id"]


async def on_terminal(
    args: list[str], answers: list[str], api_key: str, url: str
) -> tuple[int, str]:
    """Run the CLI with a pseudo-terminal as stdin/stdout, typing one answer per prompt."""
    controller, terminal = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUSHGATE_")}
    env.update(PUSHGATE_API_KEY=api_key, PUSHGATE_URL=url, COLUMNS="200", TERM="dumb")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pushgate",
        *args,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=env,
    )
    os.close(terminal)
    output = b""
    loop = asyncio.get_running_loop()

    async def read() -> bytes:
        try:
            return await loop.run_in_executor(None, os.read, controller, 4096)
        except OSError:
            return b""

    async with asyncio.timeout(60):
        pending = list(answers)
        while True:
            chunk = await read()
            if not chunk:
                break
            output += chunk
            if pending and output.rstrip().endswith((b":", b"]:", b"[y/N]:")):
                os.write(controller, pending.pop(0).encode() + b"\n")
        code = await process.wait()
    os.close(controller)
    return code, output.decode(errors="replace")
