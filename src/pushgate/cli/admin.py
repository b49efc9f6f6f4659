"""`pushgate admin`: operator tasks run against the data dir, without an API key."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from pushgate.cli.common import console
from pushgate.cli.serve import ConfigOption, overrides
from pushgate.cli.startup import check_data_dir, startup_errors
from pushgate.config import Settings, load_settings

app = typer.Typer(help="Operator tasks on the gateway's data dir.", no_args_is_help=True)


@app.command("reset-key")
def reset_key(
    config: ConfigOption = None,
    data_dir: Annotated[Path | None, typer.Option(help="Where the store lives.")] = None,
) -> None:
    """Replace a lost admin key: prints a new one (only the key, for scripts); the old one
    stops working. Works while the gateway runs, or before its first start."""
    with startup_errors():
        settings = load_settings(config, overrides(None, None, data_dir))
        check_data_dir(settings.data_dir)
        key = asyncio.run(_reset(settings))
    console.print(key, highlight=False, soft_wrap=True)


async def _reset(settings: Settings) -> str:
    from pushgate.gateway import Gateway

    gateway = Gateway(settings)
    await gateway.backend.open()
    try:
        return await gateway.reset_admin_key()
    finally:
        await gateway.backend.close()
