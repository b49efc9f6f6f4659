"""`pushgate send`: send a notification through a running gateway."""

from __future__ import annotations

import json
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


def _data(pairs: list[str]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise PushgateError(f"--data takes KEY=VALUE, got '{pair}'.")
        data[key] = value
    return data


def send(
    user: Annotated[
        list[str] | None, typer.Option("-u", "--user", help="User id (repeatable).")
    ] = None,
    token: Annotated[
        list[str] | None, typer.Option("-d", "--token", help="Device token (repeatable).")
    ] = None,
    title: Annotated[str | None, typer.Option("--title")] = None,
    subtitle: Annotated[str | None, typer.Option("--subtitle")] = None,
    body: Annotated[str | None, typer.Option("--body")] = None,
    badge: Annotated[int | None, typer.Option("--badge")] = None,
    sound: Annotated[str | None, typer.Option("--sound")] = None,
    push_type: Annotated[str, typer.Option("--push-type")] = "alert",
    data: Annotated[
        list[str] | None, typer.Option("--data", help="KEY=VALUE (repeatable).")
    ] = None,
    message_json: Annotated[
        str | None, typer.Option("--message", help="Full message as JSON.")
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Wait for per-device results.")
    ] = True,
    url: UrlOption = DEFAULT_URL,
    api_key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Send a notification to users and/or device tokens."""
    with user_errors():
        request = _request(
            user, token, title, subtitle, body, badge, sound, push_type, data, message_json
        )
        answer = client(url, api_key).call(
            "POST", "/v1/notifications", params={"wait": str(wait).lower()}, json=request
        )
    show(answer, as_json, _render)


def _request(
    users: list[str] | None,
    tokens: list[str] | None,
    title: str | None,
    subtitle: str | None,
    body: str | None,
    badge: int | None,
    sound: str | None,
    push_type: str,
    data: list[str] | None,
    message_json: str | None,
) -> dict[str, Any]:
    if message_json:
        try:
            request: dict[str, Any] = json.loads(message_json)
        except json.JSONDecodeError as exc:
            raise PushgateError(f"--message is not valid JSON: {exc.msg}.") from None
    else:
        alert = {k: v for k, v in (("title", title), ("subtitle", subtitle), ("body", body)) if v}
        request = {"push_type": push_type, "data": _data(data or [])}
        if alert:
            request["alert"] = alert
        if badge is not None:
            request["badge"] = badge
        if sound:
            request["sound"] = sound
    request["user_ids"] = request.get("user_ids", []) + (users or [])
    request["tokens"] = request.get("tokens", []) + (tokens or [])
    return request


def _render(answer: dict[str, Any]) -> None:
    if "results" not in answer:
        console.print(f"Accepted notification {answer['id']} for {answer['deliveries']} device(s).")
    else:
        table = Table("user", "platform", "token", "status", "reason", "attempts")
        for r in answer["results"]:
            table.add_row(
                str(r["user_id"]),
                r["platform"],
                r["token"][:16] + "…",
                r["status"],
                str(r["reason"] or ""),
                str(r["attempts"]),
            )
        console.print(f"Notification {answer['id']}:")
        console.print(table)
    for skipped in answer.get("skipped", []):
        console.print(f"Skipped {skipped}")
