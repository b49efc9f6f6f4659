"""Issue 14 items 2, 3 and 10: a gateway sending to the simulator registers the app's own
credentials there, the user's own Web Push subscription stays active, the demo's hint runs as
typed, and the demo reuses its one app."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from harness import TOPIC, RunningGateway, create_app, gateway_settings, new_token, running_gateway
from test_cli import cli

from pushgate.cli.demo import DEMO_APP, demo_app_key, pushgate_command
from pushgate.cli.simulated import simulator_overrides
from pushgate.config import Settings, deep_merge
from pushgate.gateway import Gateway
from pushgate.simulator import Simulator
from pushgate.simulator.fcm_state import make_service_account


def linked_settings(data_dir: Path, sim: Simulator) -> Settings:
    """The harness's settings plus everything ``serve --simulator`` sets."""
    base = gateway_settings(data_dir, sim).model_dump(exclude_unset=True)
    return Settings.model_validate(deep_merge(base, simulator_overrides(sim)))


@pytest.fixture
async def linked(tmp_path: Path, sim: Simulator) -> AsyncIterator[RunningGateway]:
    async with running_gateway(linked_settings(tmp_path, sim)) as running:
        yield running


def own_apns_upload(key_id: str = "OWNKEY1234") -> dict:
    """A token credential with a key of its own, for the sandbox."""
    return {
        "kind": "token",
        "key_p8": own_p8(),
        "key_id": key_id,
        "team_id": "OWNTEAM123",
        "topic": TOPIC,
        "environment": "sandbox",
    }


def own_p8() -> str:
    """A signing key the simulator has never seen, like one downloaded from Apple."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


async def test_own_credentials_are_registered_with_the_simulator(
    linked: RunningGateway, sim: Simulator, tmp_path: Path
) -> None:
    key = await create_app(linked)
    async with linked.client(key) as api:
        apns = own_apns_upload(key_id="ownkey1234")
        assert (await api.put("/v1/credentials/apns", json=apns)).status_code == 201
        account = make_service_account("own-project", "https://oauth2.googleapis.com/token")
        stored = await api.put("/v1/credentials/fcm", json={"service_account": account})
        assert stored.status_code == 201, stored.text
        vapid = await api.put(
            "/v1/credentials/webpush", json={"generate": True, "subject": "mailto:o@example.com"}
        )
        apns_token, fcm_token = new_token(), sim.create_fcm_token("own-project")
        for device in (
            {"platform": "apns", "token": apns_token, "environment": "sandbox"},
            {"platform": "fcm", "token": fcm_token},
        ):
            answer = await api.post("/v1/devices", json={"user_id": "own", **device})
            assert answer.status_code == 201, answer.text
    # the user's own subscription, made the way the README says
    subscription_file = tmp_path / "subscription.json"
    code, out = await cli(
        "simulator", "add-subscription", "--vapid-key", vapid.json()["public_key"],
        "--control-url", sim.control_url,
    )  # fmt: skip
    assert code == 0, out
    subscription_file.write_text(out)
    code, out = await cli(
        "devices", "add", "--user", "own", "--platform", "webpush",
        "--subscription", str(subscription_file), url=linked.url, api_key=key,
    )  # fmt: skip
    assert code == 0, out
    code, out = await cli(
        "send", "--user", "own", "--body", "hi", "--timeout", "50", url=linked.url, api_key=key
    )
    assert code == 0, out
    assert out.count("delivered") == 3, out
    assert sim.inbox.query(token=apns_token) and sim.fcm_inbox.query(token=fcm_token)
    async with linked.client(key) as api:
        devices = (await api.get("/v1/devices", params={"user_id": "own"})).json()
    assert [d["active"] for d in devices] == [True, True, True]


async def test_an_unreachable_simulator_refuses_the_upload_and_stores_nothing(
    tmp_path: Path, sim: Simulator
) -> None:
    settings = linked_settings(tmp_path, sim)
    settings = settings.model_copy(
        update={
            "simulator": settings.simulator.model_copy(update={"control_url": "http://127.0.0.1:9"})
        }
    )
    async with running_gateway(settings) as gw:
        key = await create_app(gw)
        async with gw.client(key) as api:
            answer = await api.put("/v1/credentials/apns", json=own_apns_upload())
            assert answer.status_code == 502, answer.text
            assert answer.json()["error"]["code"] == "simulator_refused"
            assert "Nothing was stored" in answer.json()["error"]["message"]
            assert (await api.get("/v1/credentials")).json() == []


def test_the_demo_hint_names_a_pushgate_that_runs_as_typed(monkeypatch) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    command = pushgate_command()
    assert command != "pushgate" and Path(command).is_absolute()
    ran = subprocess.run([command, "--version"], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0 and ran.stdout.startswith("pushgate ")
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:/usr/bin:/bin")
    assert pushgate_command() == "pushgate"


async def test_the_demo_reuses_its_app(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, dispatch={"separate_process": False})
    gateway = Gateway(settings)
    await gateway.backend.open()
    try:
        first = await demo_app_key(gateway)
        second = await demo_app_key(gateway)
        apps = await gateway.store.list_apps()
        assert [a.name for a in apps] == [DEMO_APP]
        assert await gateway.identify(second) is not None
        assert await gateway.identify(first) is None
    finally:
        await gateway.backend.close()
