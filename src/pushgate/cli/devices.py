"""`pushgate devices`: register, list and delete devices of an app."""

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

app = typer.Typer(help="Manage the devices registered for push.", no_args_is_help=True)


@app.command("add")
def add(
    user: Annotated[str, typer.Option("-u", "--user", help="The user the device belongs to.")],
    token: Annotated[str, typer.Option("-d", "--token", help="Device token (hex for APNs).")],
    platform: Annotated[str, typer.Option("-p", "--platform", help="apns")] = "apns",
    sandbox: Annotated[
        bool, typer.Option("--sandbox", help="A development build's token.")
    ] = False,
    url: UrlOption = DEFAULT_URL,
    api_key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register a device token for a user."""
    body = {
        "user_id": user,
        "platform": platform,
        "token": token,
        "environment": "sandbox" if sandbox else "production",
    }
    with user_errors():
        registered = client(url, api_key).call("POST", "/v1/devices", json=body)

    def render(data: dict[str, Any]) -> None:
        console.print(f"Registered device {data['device']['id']} for user {user}.")
        for dropped in data["dropped"]:
            console.print(f"Dropped the oldest device {dropped['id']} (per-user limit).")

    show(registered, as_json, render)


@app.command("list")
def list_devices(
    user: Annotated[str | None, typer.Option("-u", "--user", help="Only this user's.")] = None,
    url: UrlOption = DEFAULT_URL,
    api_key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """List devices (of one user, or all)."""
    params = {"user_id": user} if user else {}
    with user_errors():
        found = client(url, api_key).call("GET", "/v1/devices", params=params)

    def render(rows: list[dict[str, Any]]) -> None:
        table = Table("id", "user", "platform", "token", "env", "active")
        for r in rows:
            state = "yes" if r["active"] else f"no ({r['inactive_reason']})"
            table.add_row(
                str(r["id"]), r["user_id"], r["platform"], r["token"], str(r["environment"]), state
            )
        console.print(table)

    show(found, as_json, render)


@app.command("delete")
def delete(
    token: Annotated[str, typer.Argument(help="The device token to forget.")],
    url: UrlOption = DEFAULT_URL,
    api_key: KeyOption = None,
) -> None:
    """Delete a device."""
    with user_errors():
        client(url, api_key).call("DELETE", f"/v1/devices/{token}")
    console.print("Deleted the device.")
