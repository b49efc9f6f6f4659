"""`pushgate test`: send a real chat message to one user's devices and show what happened.

Stream Chat's ``chat:push:test``: pick a recent message from a channel the user is in (or
the given one), render it with the app's templates (or a template file, not saved), send it
to every device of the user, and print per device the payload, the push service's answer
and the outcome. ``--dry-run`` renders and explains without sending.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.panel import Panel
from rich.syntax import Syntax

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


def test_push(
    user: Annotated[str, typer.Option("-u", "--user", help="The user whose devices get it.")],
    message_id: Annotated[
        str | None, typer.Option("-m", "--message-id", help="Else a random recent message.")
    ] = None,
    template: Annotated[
        Path | None, typer.Option("--template", help="Template file to use instead (not saved).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Render and explain; send nothing.")
    ] = False,
    url: UrlOption = DEFAULT_URL,
    api_key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Send a test push to a user's devices: per device the payload, answer and outcome."""
    with user_errors():
        body: dict[str, Any] = {"user_id": user, "dry_run": dry_run}
        if message_id is not None:
            body["message_id"] = message_id
        if template is not None:
            try:
                body["template"] = template.read_text(encoding="utf-8")
            except OSError as exc:
                raise PushgateError(
                    f"Cannot read the template {template}: {exc.strerror}."
                ) from None
        result = client(url, api_key).call("POST", "/v1/chat/test", json=body)
    show(result, as_json, _render)


def _render(data: dict[str, Any]) -> None:
    verdict = "would be notified" if data["would_notify"] else f"would be skipped ({data['rule']})"
    console.print(
        f"Message [bold]{data['message_id']}[/bold] in {data['channel_id']} "
        f"({data['content_mode']} content): the user {verdict} by the delivery rules.",
        highlight=False,
    )
    if not data["devices"]:
        console.print(data.get("note", "No devices."))
    for device in data["devices"]:
        title = f"{device['platform']} device {device['device_id']} ({device['token'][:16]}…)"
        payload = Syntax(json.dumps(device["payload"], indent=2, ensure_ascii=False), "json")
        console.print(Panel(payload, title=title, title_align="left"))
        if data["dry_run"]:
            console.print("  not sent (dry run)")
            continue
        answer = device["answer"] or {}
        parts = [f"{k}={v}" for k, v in answer.items() if v is not None]
        console.print(
            f"  outcome: [bold]{device['outcome']}[/bold]"
            + (f"  answer: {', '.join(parts)}" if parts else ""),
            highlight=False,
        )
