"""`pushgate serve`: run the gateway (API + dispatch) until interrupted."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated, Any

import typer

from pushgate.cli.common import user_errors
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
    demo: Annotated[
        bool, typer.Option("--demo", help="Also run the simulator and deliver a demo notification.")
    ] = False,
) -> None:
    """Run the gateway: HTTP API on 127.0.0.1:8086 and delivery workers."""
    with user_errors():
        settings = load_settings(config, overrides(host, port, data_dir))
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if demo:
        from pushgate.cli.demo import run_demo

        asyncio.run(run_demo(settings))
        return
    from pushgate.cli.runner import serve_all
    from pushgate.gateway import Gateway

    asyncio.run(serve_all(settings, Gateway(settings)))
