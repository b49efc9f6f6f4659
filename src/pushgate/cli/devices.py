"""`pushgate devices`: register, list and delete devices of an app."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

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
from pushgate.errors import PushgateError

app = typer.Typer(help="Manage the devices registered for push.", no_args_is_help=True)


@app.command("add")
def add(
    user: Annotated[str, typer.Option("-u", "--user", help="The user the device belongs to.")],
    token: Annotated[
        str | None, typer.Option("-d", "--token", help="Device token (APNs hex, FCM token).")
    ] = None,
    platform: Annotated[
        str, typer.Option("-p", "--platform", help="apns, fcm or webpush")
    ] = "apns",
    sandbox: Annotated[bool, typer.Option("--sandbox", help="APNs: a development token.")] = False,
    credential: Annotated[
        str, typer.Option("--credential", help="FCM: the credential (project) name.")
    ] = "default",
    subscription: Annotated[
        str | None, typer.Option("--subscription", help="Web Push: PushSubscription JSON or file.")
    ] = None,
    url: UrlOption = DEFAULT_URL,
    api_key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register a device for a user."""
    with user_errors():
        body = _registration(user, platform, token, sandbox, credential, subscription)
        registered = client(url, api_key).call("POST", "/v1/devices", json=body)

    def render(data: dict[str, Any]) -> None:
        console.print(f"Registered {platform} device {data['device']['id']} for user {user}.")
        for dropped in data["dropped"]:
            console.print(f"Dropped the oldest device {dropped['id']} (per-user limit).")

    show(registered, as_json, render)


def _registration(
    user: str,
    platform: str,
    token: str | None,
    sandbox: bool,
    credential: str,
    subscription: str | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"user_id": user, "platform": platform}
    if platform == "webpush":
        if subscription is None:
            raise PushgateError("A webpush device needs --subscription (JSON or a file of it).")
        body["subscription"] = _subscription(subscription)
        return body
    if token is None:
        raise PushgateError(f"A {platform} device needs --token.")
    body["token"] = token
    if platform == "apns":
        body["environment"] = "sandbox" if sandbox else "production"
    elif platform == "fcm":
        body["credential"] = credential
    return body


def _subscription(value: str) -> Any:
    text = value
    if not value.lstrip().startswith("{"):
        try:
            text = Path(value).read_text()
        except OSError as exc:
            raise PushgateError(
                f"Cannot read the subscription file {value}: {exc.strerror}."
            ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PushgateError(f"The subscription is not valid JSON: {exc.msg}.") from None


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
        table = Table("id", "user", "platform", "token", "environment / credential", "active")
        for r in rows:
            state = "yes" if r["active"] else f"no ({r['inactive_reason']})"
            route = r["environment"] or r["credential"] or ""
            table.add_row(str(r["id"]), r["user_id"], r["platform"], r["token"], route, state)
        console.print(table)

    show(found, as_json, render)


@app.command("delete")
def delete(
    token: Annotated[str, typer.Argument(help="Device token (Web Push: the endpoint URL).")],
    url: UrlOption = DEFAULT_URL,
    api_key: KeyOption = None,
) -> None:
    """Delete a device."""
    with user_errors():
        client(url, api_key).call("DELETE", f"/v1/devices/{quote(token, safe='')}")
    console.print("Deleted the device.")
