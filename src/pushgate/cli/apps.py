"""`pushgate apps`: create and list apps (admin key)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from pushgate.cli.common import (
    DEFAULT_URL,
    JsonOption,
    KeyOption,
    UrlOption,
    client,
    console,
    show,
    user_errors,
)

app = typer.Typer(help="Manage apps (needs the admin API key).", no_args_is_help=True)


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="A unique name for the app.")],
    url: UrlOption = DEFAULT_URL,
    api_key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create an app and print its API key (shown only this once)."""
    with user_errors():
        created = client(url, api_key).call("POST", "/v1/apps", json={"name": name})

    def render(data: dict[str, Any]) -> None:
        console.print(f"Created app [bold]{data['name']}[/bold] ({data['id']}).")
        console.print(
            f"API key (store it now, it is not shown again): {data['api_key']}",
            highlight=False,
            soft_wrap=True,
        )

    show(created, as_json, render)


@app.command("list")
def list_apps(
    url: UrlOption = DEFAULT_URL, api_key: KeyOption = None, as_json: JsonOption = False
) -> None:
    """List every app."""
    with user_errors():
        found = client(url, api_key).call("GET", "/v1/apps")

    def render(rows: list[dict[str, Any]]) -> None:
        table = Table("id", "name", "key prefix")
        for row in rows:
            table.add_row(row["id"], row["name"], row["api_key_prefix"])
        console.print(table)

    show(found, as_json, render)
