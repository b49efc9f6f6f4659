"""Settings precedence and validation errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from pushgate.config import load_settings
from pushgate.errors import ConfigurationError


def test_defaults_listen_on_8086_with_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PUSHGATE_CONFIG", raising=False)
    settings = load_settings()
    assert (settings.server.host, settings.server.port) == ("127.0.0.1", 8086)
    assert settings.store.backend == "sqlite"
    assert settings.database_path == Path("pushgate-data/pushgate.db")


def test_environment_beats_file_and_overrides_beat_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "pushgate.toml"
    config.write_text('[server]\nport = 9000\nhost = "0.0.0.0"\n[apns]\nsandbox_port = 2197\n')
    monkeypatch.setenv("PUSHGATE_SERVER__PORT", "9100")
    settings = load_settings(config, {"apns": {"sandbox_port": 8444}})
    assert settings.server.port == 9100
    assert settings.server.host == "0.0.0.0"
    assert settings.apns.sandbox_port == 8444


def test_unknown_keys_are_refused_with_their_path(tmp_path: Path) -> None:
    config = tmp_path / "pushgate.toml"
    config.write_text("[apns]\nsandbox_prot = 1\n")
    with pytest.raises(ConfigurationError, match=r"apns\.sandbox_prot"):
        load_settings(config)


def test_bad_environment_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUSHGATE_SERVER__PORT", "not-a-port")
    with pytest.raises(ConfigurationError, match=r"server\.port"):
        load_settings()


def test_secrets_are_masked_in_reprs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUSHGATE_ADMIN_API_KEY", "pgadm_supersecret")
    settings = load_settings()
    assert "supersecret" not in repr(settings)
    assert settings.admin_api_key is not None
    assert settings.admin_api_key.get_secret_value() == "pgadm_supersecret"


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


def test_a_gorush_feedback_header_needs_a_name_and_stays_secret(tmp_path: Path) -> None:
    config = tmp_path / "pushgate.toml"
    config.write_text('[gorush]\napp = "chat"\nfeedback_header = ["no colon here"]\n')
    with pytest.raises(ConfigurationError, match=r'feedback_header is "Name: value"'):
        load_settings(config)
    config.write_text('[gorush]\napp = "chat"\nfeedback_header = ["Authorization: Bearer s3"]\n')
    settings = load_settings(config)
    assert settings.gorush is not None and "s3" not in repr(settings.gorush)
