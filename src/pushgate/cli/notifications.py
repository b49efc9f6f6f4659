"""`pushgate notifications`: what happened to a notification, and the recent ones."""

from __future__ import annotations

import re
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
from pushgate.errors import PushgateError

app = typer.Typer(help="Read notifications' per-device results.", no_args_is_help=True)

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
NEXT_STEPS = {
    "unregistered": "the push service says the token is dead: the device is now inactive "
    "and its app must register a new token",
    "rejected": "the push service refused this push for good: fix what the reason names (a "
    "credential's last fault shows in 'pushgate push list')",
    "failed": "the push service kept failing until the retries ran out: check that the "
    "gateway reaches it, then send again",
    "unknown": "the push went out and no answer came, so it may have been delivered; it was "
    "not sent again (give the notification a collapse_id to let pushgate repeat it)",
    "pending": "still being retried",
}


def results_table(report: dict[str, Any]) -> Table:
    """One row per device of a notification report."""
    table = Table("user", "platform", "token", "status", "reason", "attempts")
    for r in report["results"]:
        table.add_row(
            str(r["user_id"]),
            r["platform"],
            r["token"][:16] + "…",
            r["status"],
            str(r["reason"] or ""),
            str(r["attempts"]),
        )
    return table


def print_report(report: dict[str, Any]) -> None:
    """The per-device table, the skipped targets and what to do about each problem."""
    console.print(f"Notification {report['id']}:", highlight=False)
    console.print(results_table(report))
    for skipped in report.get("skipped", []):
        console.print(f"Skipped {skipped}", highlight=False)
    for status in sorted({r["status"] for r in report["results"]} - {"delivered"}):
        console.print(f"{status}: {NEXT_STEPS.get(status, status)}.", highlight=False)
    if not report["complete"]:
        console.print(
            f"Check again later: pushgate notifications show {report['id']}", highlight=False
        )


@app.command("show")
def show_notification(
    notification_id: Annotated[str, typer.Argument(help="The id 'send' printed (ntf_...).")],
    url: UrlOption = DEFAULT_URL,
    api_key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Per-device results of one notification."""
    with user_errors():
        report = client(url, api_key).call("GET", f"/v1/notifications/{notification_id}")
    show(report, as_json, print_report)


def since_epoch(value: str) -> float:
    """``30s``, ``10m``, ``2h``, ``1d`` ago, or epoch seconds."""
    match = _DURATION.match(value.strip())
    if match:
        return time.time() - float(match.group(1)) * _SECONDS[match.group(2)]
    try:
        return float(value)
    except ValueError:
        raise PushgateError(
            f"--since takes a duration like 30s, 10m, 2h, 1d or epoch seconds; got '{value}'."
        ) from None


@app.command("list")
def list_notifications(
    user: Annotated[str | None, typer.Option("-u", "--user", help="Only to this user.")] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Only newer: 30s, 10m, 2h, 1d or epoch seconds.")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 20,
    url: UrlOption = DEFAULT_URL,
    api_key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """The app's recent notifications with their per-device counts."""
    with user_errors():
        params: dict[str, Any] = {"limit": limit}
        if user:
            params["user_id"] = user
        if since:
            params["since"] = since_epoch(since)
        found = client(url, api_key).call("GET", "/v1/notifications", params=params)

    def render(data: dict[str, Any]) -> None:
        table = Table("id", "accepted", "devices", "outcomes")
        for n in data["notifications"]:
            outcomes = ", ".join(f"{k} {v}" for k, v in sorted(n["counts"].items()))
            accepted = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(n["created_at"]))
            table.add_row(n["id"], accepted, str(n["total"]), outcomes)
        console.print(table)

    show(found, as_json, render)
