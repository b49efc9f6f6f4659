"""``pushgate store``: move the store between backends."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from pydantic import SecretStr

from pushgate.cli.serve import ConfigOption
from pushgate.config import StoreSettings, load_settings
from pushgate.errors import ConfigurationError
from pushgate.store.copy import TargetNotEmpty, copy_to_postgresql

app = typer.Typer(help="Move the store between backends.", no_args_is_help=True)


@app.command("migrate")
def migrate(
    to: Annotated[
        str, typer.Option("--to", help="The PostgreSQL database: postgresql://user@host:port/db")
    ],
    schema: Annotated[
        str, typer.Option(help="The schema to create the tables in (empty or new).")
    ] = "public",
    config: ConfigOption = None,
    data_dir: Annotated[Path | None, typer.Option(help="Where the SQLite store lives.")] = None,
) -> None:
    """Copy this installation's SQLite store into an empty PostgreSQL database. Stop the
    gateway first; afterwards set store.backend = "postgresql" and store.url."""
    try:
        settings = load_settings(config, {"data_dir": data_dir} if data_dir else None)
        target = StoreSettings(
            backend="postgresql", url=SecretStr(to), schema_name=schema, pool_size=2
        )
    except (ConfigurationError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    source = settings.database_path
    if not source.is_file():
        typer.echo(f"error: there is no SQLite store at {source} (see --data-dir)", err=True)
        raise typer.Exit(2)

    def progress(table: str, rows: int) -> None:
        typer.echo(f"  {table}: {rows} rows")

    typer.echo(f"Copying {source} to PostgreSQL (schema {schema}) ...")
    try:
        copied = asyncio.run(copy_to_postgresql(source, target, progress=progress))
    except TargetNotEmpty as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except OSError as exc:
        typer.echo(f"error: cannot reach PostgreSQL ({exc.strerror or exc})", err=True)
        raise typer.Exit(2) from None
    typer.echo(
        f"Done: {sum(copied.rows.values())} rows. Now configure every gateway with\n"
        f'  [store]\n  backend = "postgresql"\n  url = "<the URL>"\n  schema_name = "{schema}"\n'
        "and the same secret_key (or secret.key file) as this installation."
    )
