"""`pushgate audit`: who changed apps, keys and credentials (admin key: all; app key: its app)."""

from __future__ import annotations

import time
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

app = typer.Typer(help="Read the audit log.", no_args_is_help=True)


@app.command("list")
def list_entries(
    app_id: Annotated[
        str | None, typer.Option("--app", help="Only this app's entries (admin key).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="Newest N.")] = 50,
    url: UrlOption = DEFAULT_URL,
    api_key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """The newest audit log entries: when, which key, what, on what."""
    params: dict[str, Any] = {"limit": limit}
    if app_id:
        params["app_id"] = app_id
    with user_errors():
        page = client(url, api_key).call("GET", "/v1/audit", params=params)

    def render(data: dict[str, Any]) -> None:
        table = Table("time", "key", "action", "app", "target")
        for entry in data["entries"]:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry["at"]))
            table.add_row(
                when, entry["actor"], entry["action"], entry["app_id"] or "", entry["target"]
            )
        console.print(table)

    show(page, as_json, render)
