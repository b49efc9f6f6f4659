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


@app.command("rotate-master-key")
def rotate_master_key(
    config: ConfigOption = None,
    data_dir: Annotated[Path | None, typer.Option(help="Where the store lives.")] = None,
    new_key_file: Annotated[
        Path | None,
        typer.Option(
            "--new-key-file",
            help="Put the new key in this file (made when missing) instead of replacing the "
            "key file in place; needed when the key is the secret_key passphrase.",
        ),
    ] = None,
) -> None:
    """Re-encrypt every stored credential under a new master key; the old key is then no
    longer needed. Safe to run again if it was interrupted."""
    from pushgate.master_key import rotate_master_key as rotate

    with startup_errors():
        settings = load_settings(config, overrides(None, None, data_dir))
        check_data_dir(settings.data_dir)
        done = asyncio.run(rotate(settings, new_key_file))
    console.print(
        f"Re-encrypted {done.credentials} credential(s) under the new master key in "
        f"{done.key_file}.",
        highlight=False,
        soft_wrap=True,
    )
    if not done.replaced_in_place:
        console.print(
            f'Now set secret_key_file = "{done.key_file}" (PUSHGATE_SECRET_KEY_FILE) in place '
            "of secret_key and restart the gateways; the old key is no longer needed.",
            highlight=False,
            soft_wrap=True,
        )
