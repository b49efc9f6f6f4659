"""Fixtures for driving real client libraries, unchanged, against the simulator.

Client libraries that hard-code Apple's and Google's host names (aioapns, firebase-admin) are
pointed at the simulator the way a team would do it with /etc/hosts: the ``real_hosts``
fixture makes this test process resolve those names to the simulator's listeners (the port
too, since they listen on ephemeral ports), and the simulator's server certificate names
them (``SimulatorSettings.server_hostnames``, ``pushgate simulator --hostname``). TLS is
verified end to end against the simulator's CA, which each test hands to the client itself.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from pushgate.simulator import Simulator, SimulatorSettings

APNS_SANDBOX_HOST = "api.development.push.apple.com"  # aioapns' sandbox host
APNS_PRODUCTION_HOST = "api.push.apple.com"
FCM_HOST = "fcm.googleapis.com"


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[Simulator]:
    hostnames = ("localhost", APNS_SANDBOX_HOST, APNS_PRODUCTION_HOST, FCM_HOST)
    settings = SimulatorSettings(state_dir=tmp_path / "simulator", server_hostnames=hostnames)
    async with Simulator(settings) as simulator:
        yield simulator


@pytest.fixture
def real_hosts(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Resolve the services' real host names (port 443) to the simulator, in this process."""
    ports = {
        APNS_SANDBOX_HOST: sim.apns_sandbox_port,
        APNS_PRODUCTION_HOST: sim.apns_production_port,
        FCM_HOST: sim.fcm_port,
    }
    resolve: Callable[..., Any] = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name in ports and str(port) == "443":
            return resolve("127.0.0.1", ports[name], *args, **kwargs)
        return resolve(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return ports
