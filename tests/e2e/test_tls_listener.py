"""Issue 12 item 12: the API over TLS with the certificate and key from the configuration,
read again on SIGHUP (new connections get the new certificate); /metrics and /docs open,
behind the operator key, or closed."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import ssl
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import tomli_w
from harness import ADMIN_KEY, gateway_settings, running_gateway
from test_readme import free_port

from pushgate.simulator import Simulator
from pushgate.simulator.certs import SimulatorCA


async def _served_names(port: int, ca_file: Path) -> list[str]:
    """The DNS names of the certificate a new connection to ``port`` is shown."""
    context = ssl.create_default_context(cafile=str(ca_file))
    _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    try:
        peer = writer.get_extra_info("peercert")
    finally:
        writer.close()
    return sorted(value for kind, value in peer["subjectAltName"] if kind == "DNS")


@pytest.mark.parametrize("listener", ["api", "mattermost door"])
async def test_serve_over_tls_reloads_the_certificate_on_sighup(
    tmp_path: Path, listener: str
) -> None:
    ca = SimulatorCA.create("test listener CA")
    ca_file, cert_file, key_file = tmp_path / "ca.pem", tmp_path / "tls.pem", tmp_path / "tls.key"
    ca_file.write_bytes(ca.ca_cert_pem)

    def install(hostname: str) -> None:
        cert, key = ca.server_credentials((hostname,), ("127.0.0.1",))
        cert_file.write_bytes(cert)
        key_file.write_bytes(key)

    install("first.pushgate.test")
    port = free_port()
    tls = {"tls_cert_file": str(cert_file), "tls_key_file": str(key_file)}
    settings: dict[str, Any] = {
        "data_dir": str(tmp_path / "data"),
        "admin_api_key": ADMIN_KEY,
        "server": {"port": port, **tls},
    }
    probe = "/health"
    if listener == "mattermost door":  # the API in plain HTTP, the door's own over TLS
        probe = "/"  # the proxy's welcome page
        api_port, port = port, free_port()
        settings["server"] = {"port": api_port}
        door_listener = {"host": "127.0.0.1", "port": port, **tls}
        platforms = {"apple_rn": {"platform": "apns"}}
        settings["mattermost"] = [
            {"app": "chat", "listener": door_listener, "platforms": platforms}
        ]
    config = tmp_path / "pushgate.toml"
    config.write_text(tomli_w.dumps(settings))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUSHGATE_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pushgate", "serve", "--config", str(config), env=env
    )
    url = f"https://127.0.0.1:{port}"
    try:
        trust = ssl.create_default_context(cafile=str(ca_file))
        async with httpx.AsyncClient(base_url=url, verify=trust) as client:
            async with asyncio.timeout(60):
                while True:
                    try:
                        if (await client.get(probe)).status_code == 200:
                            break
                    except httpx.TransportError:
                        await asyncio.sleep(0.2)
            assert await _served_names(port, ca_file) == ["first.pushgate.test"]
            install("second.pushgate.test")
            assert await _served_names(port, ca_file) == ["first.pushgate.test"]  # until SIGHUP
            process.send_signal(signal.SIGHUP)
            async with asyncio.timeout(20):
                while await _served_names(port, ca_file) != ["second.pushgate.test"]:  # noqa: ASYNC110
                    await asyncio.sleep(0.1)
            cert_file.write_text("not a certificate")  # a broken pair keeps the served one
            process.send_signal(signal.SIGHUP)
            await asyncio.sleep(0.5)
            assert await _served_names(port, ca_file) == ["second.pushgate.test"]
            async with httpx.AsyncClient(base_url=url, verify=trust) as fresh:
                assert (await fresh.get(probe)).status_code == 200
            assert process.returncode is None
    finally:
        process.terminate()
        await process.wait()


async def test_metrics_and_docs_open_behind_the_operator_key_or_closed(
    tmp_path: Path, sim: Simulator
) -> None:
    operator = "operator-key-0123456789"
    server = {"metrics": "key", "docs": "closed", "operator_key": operator}
    async with (
        running_gateway(gateway_settings(tmp_path, sim, server=server)) as gw,
        httpx.AsyncClient(base_url=gw.url) as http,
    ):
        refused = await http.get("/metrics")
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
        assert refused.headers["www-authenticate"].startswith("Basic")
        wrong = await http.get("/metrics", headers={"authorization": f"Bearer {ADMIN_KEY}"})
        assert wrong.status_code == 401
        bearer = await http.get("/metrics", headers={"authorization": f"Bearer {operator}"})
        assert bearer.status_code == 200 and "pushgate" in bearer.text
        basic = base64.b64encode(f"prometheus:{operator}".encode()).decode()
        by_browser = await http.get("/metrics", headers={"authorization": f"Basic {basic}"})
        assert by_browser.status_code == 200
        for path in ("/docs", "/redoc", "/openapi.json", "/docs-assets/swagger-ui.css"):
            closed = await http.get(path, headers={"authorization": f"Bearer {operator}"})
            assert closed.status_code == 404, path
        assert (await http.get("/health")).status_code == 200
    async with (
        running_gateway(gateway_settings(tmp_path, sim)) as gw,  # the defaults: open
        httpx.AsyncClient(base_url=gw.url) as http,
    ):
        assert (await http.get("/metrics")).status_code == 200
        assert (await http.get("/openapi.json")).status_code == 200
