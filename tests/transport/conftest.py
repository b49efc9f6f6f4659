"""Fixtures for transport tests: a throwaway test PKI and helpers to run local servers."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from transport_testkit import PKI, make_pki

from pushgate.transport import Origin, client_context


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    """A fresh CA, server certificate (localhost, 127.0.0.1) and client certificate."""
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(autouse=True)
def _no_ambient_trust(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests must pass because they trust the test CA explicitly, not via the environment."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


def require_program(name: str) -> str:
    """The program's path; skip the test locally if it is missing, fail it in CI."""
    found = shutil.which(name)
    if found is None:
        message = f"{name} is not installed"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (required in CI)")
        pytest.skip(message)
    return found


def free_port() -> int:
    """An ephemeral TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Block until 127.0.0.1:port accepts TCP connections (or the server died)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server on port {port} did not start") from None
            time.sleep(0.02)


def _lifetime_bound() -> list[str]:
    """A ``timeout`` prefix so a server outlives a crashed test run by 10 minutes at most."""
    program = shutil.which("timeout")
    return [program, "600"] if program else []


@pytest.fixture
def make_origin(pki: PKI) -> Callable[..., Origin]:
    """Build an Origin for 127.0.0.1:port that trusts only the test CA."""

    def build(port: int, *, context: ssl.SSLContext | None = None, **kwargs: object) -> Origin:
        context = context or client_context(ca_file=pki.ca_file)
        return Origin("127.0.0.1", port, context, **kwargs)  # type: ignore[arg-type]

    return build


@pytest.fixture
def nghttpd(pki: PKI, tmp_path: Path) -> Iterator[Callable[..., tuple[int, Path]]]:
    """Start nghttpd (C HTTP/2 server) with extra options; returns (port, htdocs)."""
    program = require_program("nghttpd")
    processes: list[subprocess.Popen[bytes]] = []
    htdocs = tmp_path / "htdocs"
    htdocs.mkdir()

    def start(*options: str) -> tuple[int, Path]:
        port = free_port()
        command = [*_lifetime_bound(), program, "-a", "127.0.0.1", "-d", str(htdocs), *options]
        command.append(str(port))
        command += [pki.server_key, pki.server_cert]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        processes.append(process)
        wait_for_port(port, process)
        return port, htdocs

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def node_server(pki: PKI) -> Iterator[int]:
    """Run tests/transport/node_server.js (Node http2, APNs-like); yields its port."""
    program = require_program("node")
    script = Path(__file__).with_name("node_server.js")
    process = subprocess.Popen(
        [program, str(script), pki.server_key, pki.server_cert],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().decode().strip()
        if not line.isdigit():
            raise RuntimeError(f"node server did not start: {line!r}")
        yield int(line)
    finally:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.close()
        process.stdout.close()
        process.terminate()
        process.wait(timeout=10)
