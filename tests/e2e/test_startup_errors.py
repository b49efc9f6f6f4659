"""Issue 14 item 8: what stops a start (or would make every delivery fail) is refused at once:
one line saying what to fix, exit code 2, no traceback."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import tomli_w
from test_cli import cli


def one_line_error(code: int, out: str) -> str:
    assert code == 2, out
    assert "Traceback" not in out
    lines = out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out
    return lines[0]


@pytest.fixture
def busy_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


async def test_a_data_dir_that_cannot_be_written(tmp_path: Path) -> None:
    line = one_line_error(*await cli("serve", "--data-dir", "/proc/nope", "--port", "0"))
    assert "/proc/nope" in line and "--data-dir" in line


async def test_a_busy_port(tmp_path: Path, busy_port: int) -> None:
    line = one_line_error(
        *await cli("serve", "--data-dir", str(tmp_path), "--port", str(busy_port))
    )
    assert f"Port {busy_port}" in line and "already in use" in line


@pytest.mark.parametrize("option", ["APNS__CA_FILE", "FCM__CA_FILE", "WEBPUSH__CA_FILE"])
async def test_a_missing_ca_file(tmp_path: Path, option: str) -> None:
    env = {f"PUSHGATE_{option}": str(tmp_path / "missing.pem")}
    line = one_line_error(*await cli("serve", "--data-dir", str(tmp_path), "--port", "0", env=env))
    assert option.lower().replace("__", ".") in line and "does not exist" in line


async def test_a_ca_file_that_is_not_a_certificate(tmp_path: Path) -> None:
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate\n")
    env = {"PUSHGATE_APNS__CA_FILE": str(bogus)}
    line = one_line_error(*await cli("serve", "--data-dir", str(tmp_path), "--port", "0", env=env))
    assert "holds no PEM certificate" in line


async def test_a_simulator_on_a_busy_port(tmp_path: Path, busy_port: int) -> None:
    free = [f"--{name}-port=0" for name in ("production", "sandbox", "fcm", "webpush")]
    args = ["simulator", "--state-dir", str(tmp_path), "--control-port", str(busy_port), *free]
    line = one_line_error(*await cli(*args))
    assert "The simulator cannot start" in line and str(busy_port) in line


async def test_serve_simulator_on_a_busy_control_port(tmp_path: Path, busy_port: int) -> None:
    env = {"PUSHGATE_SIMULATOR__CONTROL_URL": f"http://127.0.0.1:{busy_port}"}
    line = one_line_error(
        *await cli("serve", "--simulator", "--data-dir", str(tmp_path), "--port", "0", env=env)
    )
    assert "The simulator cannot start" in line


async def test_bad_configuration_is_one_line_too(tmp_path: Path) -> None:
    config = tmp_path / "pushgate.toml"
    config.write_text("[server]\nport = 'eighty'\n")
    code, out = await cli("serve", "-c", str(config))
    assert code == 2 and "Traceback" not in out and "server.port" in out, out


def _door_config(tmp_path: Path, listener: dict[str, object]) -> Path:
    door = {"app": "chat", "listener": listener, "platforms": {"apple_rn": {"platform": "apns"}}}
    config = tmp_path / "pushgate.toml"
    config.write_text(tomli_w.dumps({"data_dir": str(tmp_path), "mattermost": [door]}))
    return config


async def test_a_door_listener_certificate_that_does_not_load(tmp_path: Path) -> None:
    bogus = tmp_path / "tls.pem"
    bogus.write_text("not a certificate\n")
    listener = {"port": 0, "tls_cert_file": str(bogus), "tls_key_file": str(bogus)}
    line = one_line_error(*await cli("serve", "-c", str(_door_config(tmp_path, listener))))
    assert "mattermost[0].listener.tls_cert_file" in line and "do not load" in line


async def test_a_door_listener_on_a_busy_port(tmp_path: Path, busy_port: int) -> None:
    config = _door_config(tmp_path, {"port": busy_port})
    line = one_line_error(*await cli("serve", "-c", str(config), "--port", "0"))
    assert f"Port {busy_port}" in line and "the Mattermost door of app chat" in line
