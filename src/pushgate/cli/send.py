"""`pushgate send`: send a notification through a running gateway."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer

from pushgate.cli.client import GatewayClient
from pushgate.cli.common import (
    DEFAULT_URL,
    JsonOption,
    KeyOption,
    UrlOption,
    client,
    console,
    errors,
    show,
    user_errors,
)
from pushgate.cli.notifications import print_report
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
    timeout: Annotated[
        float, typer.Option("--timeout", help="Longest wait for results, in seconds.")
    ] = 30.0,
    url: UrlOption = DEFAULT_URL,
    api_key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Send a notification to users and/or device tokens.

    Waits for every device's result, showing progress. Exit code 0: every device delivered;
    1: refused, or some device not delivered; 3: still pending when --timeout ran out.
    """
    with user_errors():
        request = _request(
            user, token, title, subtitle, body, badge, sound, push_type, data, message_json
        )
        gateway = client(url, api_key)
        accepted = gateway.call("POST", "/v1/notifications", json=request)
        if not wait:
            show(accepted, as_json, _render_accepted)
            return
        report = _wait(gateway, accepted, timeout, quiet=as_json)
    show(report, as_json, print_report)
    if not report["complete"]:
        raise typer.Exit(code=STILL_PENDING)
    if not report["results"] or any(r["status"] != "delivered" for r in report["results"]):
        raise typer.Exit(code=1)


STILL_PENDING = 3
"""Exit code of a send whose results were not all in when the wait ended."""
POLL_INTERVAL = 0.25


def _wait(gateway: GatewayClient, accepted: dict[str, Any], timeout: float, *, quiet: bool) -> Any:
    """Poll the report until complete or ``timeout``; a progress line on stderr per change."""
    path = f"/v1/notifications/{accepted['id']}"
    started = time.monotonic()
    shown = ""
    while True:
        report = gateway.call("GET", path)
        waited = time.monotonic() - started
        if report["complete"] or waited >= timeout:
            return report
        line = _progress(report)
        if line != shown and not quiet:
            errors.print(f"waiting ({waited:.0f} s): {line}", highlight=False, soft_wrap=True)
            shown = line
        time.sleep(POLL_INTERVAL)


def _progress(report: dict[str, Any]) -> str:
    """``1 delivered, 2 pending (attempt 3, last: 503 ServiceUnavailable)``."""
    counts = ", ".join(f"{n} {state}" for state, n in sorted(report["counts"].items()))
    pending = [r for r in report["results"] if r["status"] == "pending"]
    retried = max(pending, key=lambda r: r["attempts"], default=None)
    if retried is None or not retried["attempts"]:
        return counts
    return f"{counts} (attempt {retried['attempts']}, last: {retried['reason']})"


def _render_accepted(answer: dict[str, Any]) -> None:
    console.print(
        f"Accepted notification {answer['id']} for {answer['deliveries']} device(s). "
        f"Results: pushgate notifications show {answer['id']}",
        highlight=False,
    )
    for skipped in answer.get("skipped", []):
        console.print(f"Skipped {skipped}", highlight=False)


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
