"""`pushgate apps`: create and list apps (admin key)."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.table import Table

from pushgate.cli import keys
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
app.add_typer(keys.app, name="keys")


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="A unique name for the app.")],
    key_only: Annotated[
        bool, typer.Option("--key-only", help="Print only the API key (for $(...) in scripts).")
    ] = False,
    url: UrlOption = DEFAULT_URL,
    api_key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create an app and print its API key (shown only this once)."""
    with user_errors():
        created = client(url, api_key).call("POST", "/v1/apps", json={"name": name})
    if key_only:
        console.print(created["api_key"], highlight=False, soft_wrap=True)
        return

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


@app.command("delete")
def delete(
    app_id: Annotated[str, typer.Argument(help="The app's id (see 'pushgate apps list').")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    url: UrlOption = DEFAULT_URL,
    api_key: KeyOption = None,
) -> None:
    """Delete an app with its credentials, devices and notifications (pending ones too)."""
    if not yes:
        typer.confirm(f"Delete app {app_id} and everything it holds?", abort=True)
    with user_errors():
        client(url, api_key).call("DELETE", f"/v1/apps/{app_id}")
    console.print(f"Deleted app {app_id}.", highlight=False)


@app.command("rotate-key")
def rotate_key(
    app_id: Annotated[str, typer.Argument(help="The app's id (see 'pushgate apps list').")],
    overlap: Annotated[
        float,
        typer.Option("--overlap", help="Hours the old key keeps working (0: it stops now)."),
    ] = 24.0,
    url: UrlOption = DEFAULT_URL,
    api_key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Give an app a new API key; the old one works for --overlap hours more."""
    with user_errors():
        rotated = client(url, api_key).call(
            "POST", f"/v1/apps/{app_id}/rotate-key", json={"overlap_seconds": overlap * 3600}
        )

    def render(data: dict[str, Any]) -> None:
        until = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(data["previous_key_valid_until"]))
        console.print(
            f"New API key of {data['name']} (store it now, it is not shown again): "
            f"{data['api_key']}\nThe previous key stops working at {until}.",
            highlight=False,
            soft_wrap=True,
        )

    show(rotated, as_json, render)
