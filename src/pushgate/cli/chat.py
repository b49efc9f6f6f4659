"""`pushgate chat`: mirror chat state, post messages and explain who got a push."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
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
from pushgate.errors import PushgateError

app = typer.Typer(help="Chat state, messages and their pushes.", no_args_is_help=True)

KINDS = {
    "users": "users",
    "channels": "channels",
    "members": "members",
    "mutes": "mutes",
    "presence": "presence",
}


def _json_file(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PushgateError(f"Cannot read {path}: {exc.strerror}.") from None
    except json.JSONDecodeError as exc:
        raise PushgateError(f"{path} is not JSON: {exc.msg} at line {exc.lineno}.") from None


@app.command("upsert")
def upsert(
    kind: Annotated[str, typer.Argument(help="users, channels, members, mutes or presence")],
    file: Annotated[Path, typer.Argument(help="JSON: a list of records, or the request body.")],
    url: UrlOption = DEFAULT_URL,
    api_key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create or update many records in one request (see the HTTP API for their fields)."""
    with user_errors():
        if kind not in KINDS:
            raise PushgateError(f"Unknown kind '{kind}'; use one of {', '.join(KINDS)}.")
        records = _json_file(file)
        body = {KINDS[kind]: records} if isinstance(records, list) else records
        result = client(url, api_key).call("POST", f"/v1/chat/{kind}", json=body)
    show(result, as_json, lambda data: console.print(f"{data['upserted']} {kind} upserted."))


@app.command("post")
def post(
    channel: Annotated[str, typer.Option("-c", "--channel")],
    sender: Annotated[str, typer.Option("-s", "--sender")],
    text: Annotated[str, typer.Option("--text")] = "",
    message_id: Annotated[str | None, typer.Option("--id", help="Else a random id.")] = None,
    parent: Annotated[str | None, typer.Option("--parent", help="Thread reply to.")] = None,
    mention: Annotated[
        list[str] | None, typer.Option("--mention", help="Mentioned user (repeatable).")
    ] = None,
    skip_push: Annotated[bool, typer.Option("--skip-push")] = False,
    url: UrlOption = DEFAULT_URL,
    api_key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Post a message: pushes go to the members the rules allow; prints who and why not."""
    body: dict[str, Any] = {
        "id": message_id or "msg_" + secrets.token_hex(8),
        "channel_id": channel,
        "sender_id": sender,
        "text": text,
        "mentioned_user_ids": mention or [],
        "skip_push": skip_push,
    }
    if parent is not None:
        body["parent_id"] = parent
    with user_errors():
        result = client(url, api_key).call("POST", "/v1/chat/messages", json=body)

    def render(data: dict[str, Any]) -> None:
        console.print(
            f"Message {data['message_id']}: pushed to {', '.join(data['recipients']) or 'nobody'}."
        )
        for skip in data["skipped"]:
            console.print(f"  {skip['user_id']}: {skip['reason']}", highlight=False)

    show(result, as_json, render)


@app.command("recipients")
def recipients(
    message_id: Annotated[str, typer.Argument()],
    url: UrlOption = DEFAULT_URL,
    api_key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Every member of a posted message's channel and why they were or were not notified."""
    with user_errors():
        result = client(url, api_key).call("GET", f"/v1/chat/messages/{message_id}/recipients")

    def render(data: dict[str, Any]) -> None:
        table = Table("member", "reason", "notifications")
        for member in data["members"]:
            counts = ", ".join(
                " ".join(f"{state}:{n}" for state, n in note["counts"].items())
                for note in member["notifications"]
            )
            table.add_row(member["user_id"], member["reason"], counts)
        console.print(table)

    show(result, as_json, render)


@app.command("template")
def template(
    provider_type: Annotated[str, typer.Argument(help="apns, fcm or webpush")],
    file: Annotated[Path, typer.Argument(help="The Jinja2 template.")],
    event_type: Annotated[str, typer.Option("--event-type", help="Else every event.")] = "",
    url: UrlOption = DEFAULT_URL,
    api_key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Save a template; refused (with the line) if it fails with sample data."""
    with user_errors():
        try:
            source = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise PushgateError(f"Cannot read {file}: {exc.strerror}.") from None
        result = client(url, api_key).call(
            "PUT",
            f"/v1/chat/templates/{provider_type}",
            params={"event_type": event_type},
            json={"template": source},
        )
    show(result, as_json, lambda data: console.print_json(json.dumps(data["sample"])))


@app.command("settings")
def settings(
    content_mode: Annotated[
        str | None, typer.Option(help="full, generic, generic_no_channel or id_only")
    ] = None,
    skip_online: Annotated[bool | None, typer.Option("--skip-online/--deliver-online")] = None,
    max_recipients: Annotated[int | None, typer.Option()] = None,
    content_ttl: Annotated[float | None, typer.Option(help="Seconds text is kept.")] = None,
    url: UrlOption = DEFAULT_URL,
    api_key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show the app's chat settings, changing those given."""
    changes = {
        "content_mode": content_mode,
        "skip_online": skip_online,
        "max_recipients": max_recipients,
        "content_ttl_seconds": content_ttl,
    }
    with user_errors():
        api = client(url, api_key)
        current = api.call("GET", "/v1/chat/settings")
        wanted = {k: v for k, v in changes.items() if v is not None}
        if wanted:
            current = api.call("PUT", "/v1/chat/settings", json={**current, **wanted})
    show(current, True)
