"""`pushgate serve`: run the gateway (API + dispatch) until interrupted."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer

from pushgate.cli.startup import check_data_dir, startup_errors
from pushgate.config import load_settings

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        envvar="PUSHGATE_CONFIG",
        help="TOML configuration file.",
        show_default=False,
    ),
]


def overrides(host: str | None, port: int | None, data_dir: Path | None) -> dict[str, Any]:
    """Settings given on the command line."""
    found: dict[str, Any] = {}
    if host is not None or port is not None:
        found["server"] = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    if data_dir is not None:
        found["data_dir"] = data_dir
    return found


def serve(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="Listen address (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (default 8086).")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Where the store lives.")] = None,
    simulator: Annotated[
        bool,
        typer.Option(
            "--simulator",
            help="Also run the simulator (control API on 8440 or simulator.control_url's port) "
            "and send to it: APNs, FCM and Web Push hosts, ports, URLs and CA files are set, "
            "and uploaded keys are registered with it.",
        ),
    ] = False,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo", help="Run the simulator (free ports) and deliver a demo notification."
        ),
    ] = False,
) -> None:
    """Run the gateway: HTTP API on 127.0.0.1:8086 and delivery workers."""
    from pushgate.logs import configure_logging

    with startup_errors():
        settings = load_settings(config, overrides(host, port, data_dir))
        configure_logging(settings)
        if demo or simulator:
            from pushgate.cli.demo import run_demo
            from pushgate.cli.simulated import serve_with_simulator

            check_data_dir(settings.data_dir)
            running = (
                run_demo(settings)
                if demo
                else serve_with_simulator(settings, fixed_control_port=True)
            )
            asyncio.run(running)
            return
        from pushgate.cli.runner import serve_gateway
        from pushgate.tuning import run_event_loop

        run_event_loop(serve_gateway(settings))
