"""``pushgate simulator`` commands against a running simulator: the same commands for APNs,
FCM and Web Push (``--service``), keys with their team's bundle ids, new service accounts,
tokens and subscriptions."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
from sim_services import PROJECT, access_token, send, to_token
from sim_support import Connect, FakeClock, SigningKey, push
from typer.testing import CliRunner, Result

from pushgate.cli.simulator import app
from pushgate.simulator import Simulator, SimulatorSettings


async def _cli(sim: Simulator, *args: str) -> Result:
    """Run a command in a thread (it calls the control API synchronously)."""
    runner = CliRunner()
    argv = [*args, "--control-url", sim.control_url]
    return await asyncio.to_thread(runner.invoke, app, argv, catch_exceptions=False)


async def test_add_key_takes_the_teams_bundle_ids(
    sim: Simulator, connect: Connect, clock: FakeClock, tmp_path: Path
) -> None:
    signing = SigningKey.generate(key_id="CLIKEY1234", team_id="CLITEAM123")
    key_file = tmp_path / "AuthKey.p8"
    key_file.write_text(signing.public_pem)

    without = await _cli(
        sim, "add-key", "-a", str(key_file), "-k", "CLIKEY1234", "-t", "CLITEAM123"
    )
    added = await _cli(sim, "add-key", "-a", str(key_file), "-k", "CLIKEY1234",
                       "-t", "CLITEAM123", "--topic", "com.cli.app", "--topic", "com.cli.other")  # fmt: skip
    client = await connect("sandbox")
    token = signing.token(clock())

    assert without.exit_code == 2 and "--topic" in without.output
    assert added.exit_code == 0, added.output
    assert (await push(client, token, topic="com.cli.other")).status == 200
    assert (await push(client, token, topic="com.example.chat")).reason == "TopicDisallowed"


async def test_fcm_from_the_cli(
    sim: Simulator, client: httpx.AsyncClient, clock: FakeClock, tmp_path: Path
) -> None:
    account_file = tmp_path / "sa.json"
    made = await _cli(sim, "add-service-account", "--project", PROJECT, "--out", str(account_file))
    token = (await _cli(sim, "add-token", "--project", PROJECT)).output.strip()
    account = json.loads(account_file.read_text())
    bearer = await access_token(client, account, clock)
    delivered = await send(client, sim, bearer, to_token({"data": {"k": "v"}}, token=token))

    inbox = await _cli(sim, "inbox", "--service", "fcm", "--token", token, "--json")
    dead = await _cli(sim, "dead-token", token, "--service", "fcm")
    after = await send(client, sim, bearer, to_token({}, token=token))
    faults = await _cli(sim, "faults", '{"internal": {"every": 1}}', "--service", "fcm")
    failed = await send(client, sim, bearer, to_token({}, token=sim.create_fcm_token(PROJECT)))
    stats = await _cli(sim, "stats", "--service", "fcm")

    assert made.exit_code == 0 and account_file.stat().st_mode & 0o077 == 0
    assert account["token_uri"] == sim.fcm_token_url and ":APA91b" in token
    assert delivered.status_code == 200
    assert [m["message"]["data"] for m in json.loads(inbox.output)["messages"]] == [{"k": "v"}]
    assert dead.exit_code == 0 and after.status_code == 404
    assert json.loads(faults.output)["internal"]["every"] == 1 and failed.status_code == 500
    clients = json.loads(stats.output)["clients"]
    assert clients["deliveries"] == {token: 1} and clients["token_refreshes"] == 1


async def test_webpush_from_the_cli(sim: Simulator) -> None:
    made = await _cli(sim, "add-subscription")
    subscription = json.loads(made.output)
    dead = await _cli(sim, "dead-token", subscription["endpoint"], "--service", "webpush")
    inbox = await _cli(sim, "inbox", "--service", "webpush", "--json")
    unknown = await _cli(
        sim, "dead-token", "https://nowhere.example/push/x", "--service", "webpush"
    )

    assert subscription["endpoint"].startswith(sim.webpush_base_url)
    assert set(subscription["keys"]) == {"p256dh", "auth"}
    assert dead.exit_code == 0
    assert sim.webpush_registry.expired == {subscription["endpoint"].rpartition("/")[2]}
    assert json.loads(inbox.output)["count"] == 0
    assert unknown.exit_code == 1 and "no such subscription" in unknown.output


def test_hostname_names_the_server_certificate(monkeypatch) -> None:
    """``--hostname`` (repeatable) reaches the settings that issue the server certificate."""
    seen: list[SimulatorSettings] = []
    monkeypatch.setattr("pushgate.simulator.app.serve", lambda settings, out: seen.append(settings))

    result = CliRunner().invoke(
        app, ["--hostname", "api.push.apple.com", "--hostname", "fcm.googleapis.com"]
    )

    assert result.exit_code == 0, result.output
    assert seen[0].server_hostnames == ("localhost", "api.push.apple.com", "fcm.googleapis.com")
