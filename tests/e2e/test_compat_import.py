"""`pushgate import` of each peer's configuration file, against a running gateway."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from harness import ADMIN_KEY, TOPIC, RunningGateway, new_signing_key
from test_cli import cli

from pushgate.config import load_settings
from pushgate.simulator import Simulator


def _files(tmp_path: Path, sim: Simulator) -> tuple[dict, Path, Path]:
    """A .p8 key and a service-account file the simulator trusts."""
    upload = new_signing_key(sim)
    key = tmp_path / "AuthKey_KEYID12345.p8"
    key.write_text(upload["key_p8"])
    account = tmp_path / "service-account.json"
    account.write_text(json.dumps(sim.create_service_account("chat-android")))
    return upload, key, account


async def _credentials(gw: RunningGateway, out: str) -> list[dict]:
    app_key = re.search(r"\(shown once\): (\S+)", out).group(1)  # type: ignore[union-attr]
    async with gw.client(app_key) as api:
        return (await api.get("/v1/credentials")).json()


async def test_mattermost_proxy_config(gw: RunningGateway, sim: Simulator, tmp_path: Path):
    upload, key, account = _files(tmp_path, sim)
    config = tmp_path / "mattermost-push-proxy.json"
    config.write_text(
        json.dumps(
            {
                "ListenAddress": ":8066",
                "ApplePushSettings": [
                    {
                        "Type": "apple_rn",
                        "ApplePushUseDevelopment": False,
                        "ApplePushTopic": TOPIC,
                        "AppleAuthKeyFile": key.name,
                        "AppleAuthKeyID": upload["key_id"],
                        "AppleTeamID": upload["team_id"],
                    }
                ],
                "AndroidPushSettings": [
                    {"Type": "android_rn", "AndroidApiKey": "", "ServiceFileLocation": str(account)}
                ],
            }
        )
    )
    code, out = await cli("import", str(config), "--dry-run", api_key=ADMIN_KEY, url=gw.url)
    assert code == 0, out
    assert "would create app 'chat'" in out and "APNs token credential, production" in out
    assert "BEGIN PRIVATE KEY" not in out
    async with gw.client(ADMIN_KEY) as admin:
        assert (await admin.get("/v1/apps")).json() == []
    toml_file = tmp_path / "pushgate.toml"
    code, out = await cli(
        "import", str(config), "--write-config", str(toml_file), api_key=ADMIN_KEY, url=gw.url
    )
    assert code == 0, out
    stored = {(c["platform"], c["name"]) for c in await _credentials(gw, out)}
    assert stored == {("apns", "production"), ("fcm", "android_rn")}
    (door,) = load_settings(toml_file).mattermost
    assert door.app == "chat" and len(door.url_secret.get_secret_value()) >= 16
    assert door.platforms["apple_rn"].apns_environment == "production"
    assert door.platforms["android_rn"].fcm_credential == "android_rn"


async def test_sygnal_config(gw: RunningGateway, sim: Simulator, tmp_path: Path):
    upload, key, account = _files(tmp_path, sim)
    config = tmp_path / "sygnal.yaml"
    apps = {
        "com.example.chat.ios": {
            "type": "apns",
            "keyfile": str(key),
            "key_id": upload["key_id"],
            "team_id": upload["team_id"],
            "topic": TOPIC,
            "platform": "sandbox",
        },
        "com.example.chat.android": {
            "type": "gcm",
            "api_version": "v1",
            "project_id": "chat-android",
            "service_account_file": account.name,
        },
        "com.example.legacy": {"type": "gcm", "api_key": "AIza..."},
    }
    config.write_text(yaml.safe_dump({"apps": apps}))
    toml_file = tmp_path / "pushgate.toml"
    code, out = await cli(
        "import", str(config), "--write-config", str(toml_file), api_key=ADMIN_KEY, url=gw.url
    )
    assert code == 0, out
    assert "not imported: apps.com.example.legacy" in out
    stored = {(c["platform"], c["name"]) for c in await _credentials(gw, out)}
    assert stored == {("apns", "sandbox"), ("fcm", "com.example.chat.android")}
    app_ids = load_settings(toml_file).matrix.app_ids  # type: ignore[union-attr]
    assert app_ids["com.example.chat.ios"].apns_environment == "sandbox"
    assert app_ids["com.example.chat.android"].platform == "fcm"


async def test_gorush_config(gw: RunningGateway, sim: Simulator, tmp_path: Path):
    upload, key, account = _files(tmp_path, sim)
    config = tmp_path / "config.yml"
    gorush = {
        "core": {"port": "8088", "sync": True, "max_notification": 50},
        "ios": {
            "enabled": True,
            "key_path": str(key),
            "key_type": "p8",
            "key_id": upload["key_id"],
            "team_id": upload["team_id"],
            "production": False,
        },
        "android": {"enabled": True, "key_path": str(account)},
    }
    config.write_text(yaml.safe_dump(gorush))
    code, out = await cli("import", str(config), "--dry-run", api_key=ADMIN_KEY, url=gw.url)
    assert code == 1 and "--topic" in out  # a .p8 key names no bundle id
    toml_file = tmp_path / "pushgate.toml"
    args = ("import", str(config), "--topic", TOPIC, "--write-config", str(toml_file))
    code, out = await cli(*args, api_key=ADMIN_KEY, url=gw.url)
    assert code == 0, out
    stored = {(c["platform"], c["name"]) for c in await _credentials(gw, out)}
    assert stored == {("apns", "sandbox"), ("fcm", "default")}
    door = load_settings(toml_file).gorush
    assert door is not None and door.sync and door.max_notification == 50
    assert door.ios_production is False


async def test_a_bad_key_is_refused_before_anything_is_created(
    gw: RunningGateway, sim: Simulator, tmp_path: Path
):
    _, key, _ = _files(tmp_path, sim)
    key.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    config = tmp_path / "sygnal.yaml"
    apps = {"ios": {"type": "apns", "keyfile": str(key), "key_id": "ABC1234567", "team_id": "T1"}}
    config.write_text(yaml.safe_dump({"apps": {**apps, "x": {"type": "apns", "topic": "t"}}}))
    code, out = await cli("import", str(config), api_key=ADMIN_KEY, url=gw.url)
    assert code == 1 and "error:" in out
    async with gw.client(ADMIN_KEY) as admin:
        assert (await admin.get("/v1/apps")).json() == []
