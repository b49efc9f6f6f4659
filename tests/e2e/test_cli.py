"""The ``pushgate`` CLI against a running gateway and simulator (the seed's flags)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from harness import ADMIN_KEY, TOPIC, RunningGateway, new_signing_key, new_token

from pushgate.simulator import Simulator
from pushgate.simulator.certs import to_p12


async def cli(
    *args: str,
    api_key: str | None = None,
    url: str | None = None,
    env: dict[str, str] | None = None,
) -> tuple[int, str]:
    """Run ``python -m pushgate ARGS`` (``env`` added to a PUSHGATE_-free environment);
    (exit code, stdout + stderr)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUSHGATE_")} | (env or {})
    env["COLUMNS"] = "250"
    if api_key:
        env["PUSHGATE_API_KEY"] = api_key
    if url:
        env["PUSHGATE_URL"] = url
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pushgate",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    async with asyncio.timeout(60):
        out, _ = await process.communicate()
    return process.returncode or 0, out.decode()


async def test_admin_creates_and_lists_apps(gw: RunningGateway) -> None:
    code, out = await cli("apps", "create", "team-chat", "--json", api_key=ADMIN_KEY, url=gw.url)
    assert code == 0, out
    created = json.loads(out)
    assert created["name"] == "team-chat" and created["api_key"].startswith("pgapp_")
    code, out = await cli("apps", "list", api_key=ADMIN_KEY, url=gw.url)
    assert code == 0 and "team-chat" in out and created["api_key"] not in out


async def test_token_auth_upload_devices_and_send(
    gw: RunningGateway, app_key: str, sim: Simulator, tmp_path: Path
) -> None:
    upload = new_signing_key(sim)
    key_file = tmp_path / "AuthKey_KEYID12345.p8"
    key_file.write_text(upload["key_p8"])
    code, out = await cli(
        "push",
        "apn",
        "-a",
        str(key_file),
        "-b",
        TOPIC,
        "-k",
        "KEYID12345",
        "-t",
        "TEAMID1234",
        "--sandbox",
        api_key=app_key,
        url=gw.url,
    )
    assert code == 0, out
    assert "token credential stored" in out and "PRIVATE KEY" not in out
    token = new_token()
    code, out = await cli(
        "devices",
        "add",
        "--user",
        "alice",
        "--token",
        token,
        "--sandbox",
        api_key=app_key,
        url=gw.url,
    )
    assert code == 0, out
    code, out = await cli("devices", "list", "--user", "alice", api_key=app_key, url=gw.url)
    assert code == 0 and token in out
    code, out = await cli(
        "send",
        "--user",
        "alice",
        "--title",
        "Hi",
        "--body",
        "from the CLI",
        "--data",
        "channel=general",
        "--json",
        api_key=app_key,
        url=gw.url,
    )
    assert code == 0, out
    assert json.loads(out)["results"][0]["status"] == "delivered"
    (received,) = sim.inbox.query(token=token)
    assert received.payload == {
        "aps": {"alert": {"title": "Hi", "body": "from the CLI"}},
        "channel": "general",
    }
    code, out = await cli("devices", "delete", token, api_key=app_key, url=gw.url)
    assert code == 0, out
    code, out = await cli("devices", "delete", token, api_key=app_key, url=gw.url)
    assert code == 1 and "not_found" in out


async def test_certificate_upload_with_p12_and_password(
    gw: RunningGateway, app_key: str, sim: Simulator, tmp_path: Path
) -> None:
    cert, key = sim.issue_client_certificate(TOPIC, "sandbox")
    p12 = tmp_path / "cert.p12"
    p12.write_bytes(to_p12(cert, key, b"pass-1234"))
    code, out = await cli(
        "push",
        "apn",
        "--p12",
        str(p12),
        "--password",
        "wrong-guess",
        "--sandbox",
        api_key=app_key,
        url=gw.url,
    )
    assert code == 1 and "wrong_password" in out and "wrong-guess" not in out
    assert "Traceback" not in out
    code, out = await cli(
        "push",
        "apn",
        "--p12",
        str(p12),
        "--password",
        "pass-1234",
        "--sandbox",
        api_key=app_key,
        url=gw.url,
    )
    assert code == 0 and "certificate credential stored" in out and TOPIC in out
    code, out = await cli("push", "list", "--json", api_key=app_key, url=gw.url)
    (listed,) = json.loads(out)
    assert listed["kind"] == "certificate" and "key_pem" not in listed


async def test_user_errors_are_one_line_without_traceback(
    gw: RunningGateway, tmp_path: Path
) -> None:
    code, out = await cli("devices", "list", api_key="pgapp_not-a-key", url=gw.url)
    assert code == 1 and out.startswith("error:") and "unauthorized" in out
    code, out = await cli(
        "push",
        "apn",
        "-a",
        str(tmp_path / "missing.p8"),
        "-b",
        TOPIC,
        "-k",
        "KEYID12345",
        "-t",
        "TEAMID1234",
        api_key="k",
        url=gw.url,
    )
    assert code == 1 and "Cannot read" in out
    code, out = await cli("push", "apn", "-a", str(tmp_path / "x.p8"), api_key="k", url=gw.url)
    assert code == 1 and "-b/--bundle" in out
    code, out = await cli("apps", "list", api_key=ADMIN_KEY, url="http://127.0.0.1:9")
    assert code == 1 and "Cannot reach the gateway" in out
    assert "Traceback" not in out


async def test_simulator_cli_reads_the_inbox(token_app, sim: Simulator, gw: RunningGateway) -> None:
    token = new_token()
    await token_app.post(
        "/v1/devices",
        json={"user_id": "u", "platform": "apns", "token": token, "environment": "sandbox"},
    )
    await token_app.post(
        "/v1/notifications",
        params={"wait": "true"},
        json={"tokens": [token], "alert": {"body": "seen by the CLI"}},
    )
    code, out = await cli(
        "simulator", "inbox", "--token", token, "--json", "--control-url", sim.control_url
    )
    assert code == 0, out
    (notification,) = json.loads(out)["notifications"]
    assert notification["payload"]["aps"]["alert"] == {"body": "seen by the CLI"}
    code, out = await cli("simulator", "dead-token", token, "--control-url", sim.control_url)
    assert code == 0 and "marked dead" in out


async def test_fcm_and_webpush_from_the_cli(
    gw: RunningGateway, app_key: str, sim: Simulator, tmp_path: Path
) -> None:
    sa_file = tmp_path / "sa.json"
    sa_file.write_text(json.dumps(sim.create_service_account("cli-project")))
    code, out = await cli(
        "push",
        "fcm",
        "--service-account",
        str(sa_file),
        "--name",
        "main",
        api_key=app_key,
        url=gw.url,
    )
    assert code == 0 and "cli-project" in out and "PRIVATE KEY" not in out, out
    fcm_token = sim.create_fcm_token("cli-project")
    code, out = await cli(
        "devices",
        "add",
        "--user",
        "zed",
        "--platform",
        "fcm",
        "--token",
        fcm_token,
        "--credential",
        "main",
        api_key=app_key,
        url=gw.url,
    )
    assert code == 0, out
    code, out = await cli(
        "push",
        "webpush",
        "--generate",
        "--subject",
        "mailto:ops@example.com",
        "--json",
        api_key=app_key,
        url=gw.url,
    )
    assert code == 0, out
    public_key = json.loads(out)["public_key"]
    subscription = sim.create_webpush_subscription(public_key)
    code, out = await cli(
        "devices",
        "add",
        "--user",
        "zed",
        "--platform",
        "webpush",
        "--subscription",
        json.dumps(subscription),
        api_key=app_key,
        url=gw.url,
    )
    assert code == 0, out
    code, out = await cli(
        "send",
        "--user",
        "zed",
        "--title",
        "Hi",
        "--body",
        "both",
        "--json",
        api_key=app_key,
        url=gw.url,
    )
    assert code == 0, out
    statuses = {r["platform"]: r["status"] for r in json.loads(out)["results"]}
    assert statuses == {"fcm": "delivered", "webpush": "delivered"}
    (web,) = sim.webpush_inbox.query(endpoint=subscription["endpoint"])
    assert json.loads(web.plaintext)["body"] == "both"
    code, out = await cli(
        "devices", "delete", subscription["endpoint"], api_key=app_key, url=gw.url
    )
    assert code == 0, out
