"""Run the gateway against the built-in simulator, with every setting that takes pointed at it.

One place knows what "against the simulator" means: both APNs environments' hosts and ports,
FCM's base and token URLs, the CA file of all three services, and the control API through
which uploaded credentials are registered with the simulator. ``pushgate serve --simulator``
and the demo both go through here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from pushgate.cli.common import console
from pushgate.cli.runner import GatewayServer, serve_all
from pushgate.cli.startup import simulator_cannot_start
from pushgate.config import Settings, deep_merge
from pushgate.gateway import Gateway
from pushgate.simulator import Simulator, SimulatorSettings
from pushgate.simulator.settings import CLI_PORTS

AfterStart = Callable[[Gateway, Simulator, str], Awaitable[None]]


def simulator_overrides(sim: Simulator) -> dict[str, Any]:
    """Settings that point APNs, FCM and Web Push at ``sim``, trusting its CA."""
    host = sim.settings.host
    return {
        "apns": {
            "production_host": host,
            "production_port": sim.apns_production_port,
            "sandbox_host": host,
            "sandbox_port": sim.apns_sandbox_port,
            "ca_file": sim.ca_file,
        },
        "fcm": {
            "base_url": sim.fcm_base_url,
            "token_url": sim.fcm_token_url,
            "ca_file": sim.ca_file,
        },
        "webpush": {"ca_file": sim.ca_file},
        "simulator": {"control_url": sim.control_url},
    }


def simulator_settings(settings: Settings, *, fixed_control_port: bool) -> SimulatorSettings:
    """The simulator's settings: its CA kept in the data dir, the services on free ports, and
    the control API (which the CLI's ``simulator`` commands call) on the port of
    ``simulator.control_url`` or 8440, else on a free port too."""
    control_port = 0
    if fixed_control_port:
        configured = settings.simulator.control_url
        control_port = urlsplit(configured).port if configured else None
        control_port = control_port or CLI_PORTS["control_port"]
    return SimulatorSettings(state_dir=settings.data_dir / "simulator", control_port=control_port)


async def serve_with_simulator(
    settings: Settings, *, fixed_control_port: bool, after_start: AfterStart | None = None
) -> None:
    """Start the simulator, then the gateway sending to it; serve until interrupted."""
    sim = Simulator(simulator_settings(settings, fixed_control_port=fixed_control_port))
    try:
        await sim.start()
    except OSError as exc:
        await sim.aclose()
        raise simulator_cannot_start(
            exc, "Stop the other simulator, or use 'pushgate serve --demo' (free ports)."
        ) from None
    try:
        merged = Settings.model_validate(
            deep_merge(settings.model_dump(exclude_unset=True), simulator_overrides(sim))
        )
        server = GatewayServer(merged)
        for line in sim.describe():
            console.print(f"simulator: {line}", highlight=False, soft_wrap=True)
        serving = asyncio.create_task(serve_all(server))
        while not server.started and not serving.done():  # noqa: ASYNC110 (uvicorn has a flag only)
            await asyncio.sleep(0.05)
        if server.started:
            url = f"http://{merged.server.host}:{server.port}"
            console.print(f"gateway: API at {url} (docs at {url}/docs)", highlight=False)
            if after_start is not None:
                await after_start(server.gateway, sim, url)
        await serving
    finally:
        await sim.aclose()
