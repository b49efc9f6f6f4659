"""`pushgate apps keys`: an app's API keys (manage or send), and admin keys."""

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

app = typer.Typer(
    help="API keys: several per app (manage or send), rotation, revocation (admin key, or "
    "the app's manage key).",
    no_args_is_help=True,
)


def _when(at: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at)) if at else ""


@app.command("create")
def create(
    app_id: Annotated[
        str | None, typer.Argument(help="The app (none for --scope admin; a manage key: its own).")
    ] = None,
    name: Annotated[str, typer.Option("--name", help="What the key is for, e.g. ci.")] = "key",
    scope: Annotated[
        str, typer.Option("--scope", help="send (sends only), manage (everything) or admin.")
    ] = "send",
    rate_limit: Annotated[
        int | None, typer.Option("--rate-limit", min=1, help="Requests per minute.")
    ] = None,
    key_only: Annotated[
        bool, typer.Option("--key-only", help="Print only the key (for $(...) in scripts).")
    ] = False,
    url: UrlOption = DEFAULT_URL,
    api_key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a key and print it (shown only this once)."""
    body: dict[str, Any] = {"name": name, "scope": scope, "app_id": app_id}
    if rate_limit is not None:
        body["rate_limit"] = rate_limit
    with user_errors():
        created = client(url, api_key).call("POST", "/v1/keys", json=body)
    if key_only:
        console.print(created["api_key"], highlight=False, soft_wrap=True)
        return

    def render(data: dict[str, Any]) -> None:
        console.print(
            f"Created {data['scope']} key [bold]{data['name']}[/bold] ({data['id']}).\n"
            f"Key (store it now, it is not shown again): {data['api_key']}",
            highlight=False,
            soft_wrap=True,
        )

    show(created, as_json, render)


@app.command("list")
def list_keys(
    app_id: Annotated[str | None, typer.Argument(help="One app's keys (admin key).")] = None,
    url: UrlOption = DEFAULT_URL,
    api_key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """List keys: scope, prefix, limit, last use, expiry and revocation."""
    params = {"app_id": app_id} if app_id else {}
    with user_errors():
        found = client(url, api_key).call("GET", "/v1/keys", params=params)

    def render(rows: list[dict[str, Any]]) -> None:
        table = Table("id", "app", "scope", "name", "prefix", "limit/min", "last used", "until")
        for row in rows:
            until = "revoked " + _when(row["revoked_at"]) if row["revoked_at"] else ""
            table.add_row(
                row["id"], row["app_id"] or "", row["scope"], row["name"], row["key_prefix"],
                str(row["rate_limit"] or ""), _when(row["last_used_at"]),
                until or _when(row["expires_at"]),
            )  # fmt: skip
        console.print(table)

    show(found, as_json, render)


@app.command("rotate")
def rotate(
    key_id: Annotated[str, typer.Argument(help="The key's id (see 'pushgate apps keys list').")],
    overlap: Annotated[
        float, typer.Option("--overlap", help="Hours the old key keeps working (0: it stops now).")
    ] = 24.0,
    url: UrlOption = DEFAULT_URL,
    api_key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """A new key like this one; the old one works for --overlap hours more."""
    with user_errors():
        rotated = client(url, api_key).call(
            "POST", f"/v1/keys/{key_id}/rotate", json={"overlap_seconds": overlap * 3600}
        )

    def render(data: dict[str, Any]) -> None:
        console.print(
            f"New key {data['id']} (store it now, it is not shown again): {data['api_key']}\n"
            f"{key_id} stops working at {_when(data['previous_key_valid_until'])}.",
            highlight=False,
            soft_wrap=True,
        )

    show(rotated, as_json, render)


@app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (see 'pushgate apps keys list').")],
    url: UrlOption = DEFAULT_URL,
    api_key: KeyOption = None,
) -> None:
    """Revoke a key: it stops working at once."""
    with user_errors():
        client(url, api_key).call("DELETE", f"/v1/keys/{key_id}")
    console.print(f"Revoked {key_id}.", highlight=False)
