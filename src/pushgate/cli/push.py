"""`pushgate push`: upload and inspect platform credentials of an app."""

from __future__ import annotations

import base64
import re
import sys
from collections.abc import Callable
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

app = typer.Typer(help="Configure push credentials of an app.", no_args_is_help=True)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise PushgateError(f"Cannot read the {what} {path}: {exc.strerror}.") from None


def _apn_body(
    key: Path | None,
    bundle: str | None,
    key_id: str | None,
    team_id: str | None,
    p12: Path | None,
    password: str | None,
    environment: str,
) -> dict[str, Any]:
    if key is not None:
        missing = [
            flag
            for flag, value in (
                ("-b/--bundle", bundle),
                ("-k/--key-id", key_id),
                ("-t/--team-id", team_id),
            )
            if not value
        ]
        if missing:
            raise PushgateError(f"Token auth needs {', '.join(missing)} with -a/--auth-key.")
        return {
            "kind": "token",
            "key_p8": _read(key, ".p8 key").decode("utf-8", "replace"),
            "key_id": key_id,
            "team_id": team_id,
            "topic": bundle,
            "environment": environment,
        }
    if p12 is not None:
        body: dict[str, Any] = {
            "kind": "certificate",
            "p12_base64": base64.b64encode(_read(p12, ".p12")).decode(),
            "password": password,
            "environment": environment,
        }
        if bundle:
            body["topic"] = bundle
        return body
    raise PushgateError("Give -a/--auth-key (token auth, .p8) or --p12 (certificate auth).")


_APPLE_ID = re.compile(r"^[A-Za-z0-9]{10}$")


def _ask(question: str, check: Callable[[str], str | None]) -> str:
    """Prompt until ``check`` (which returns a complaint, or None) accepts the answer."""
    while True:
        answer = typer.prompt(question).strip()
        complaint = check(answer)
        if complaint is None:
            return answer
        console.print(f"[red]{complaint}[/red]")


def _apple_id(what: str) -> Callable[[str], str | None]:
    return lambda value: None if _APPLE_ID.match(value) else f"A {what} is 10 letters or digits."


def _key_file(value: str) -> str | None:
    return None if Path(value).expanduser().is_file() else f"No file at {value}."


def _apn_wizard() -> tuple[str, str, Path, str]:
    """Stream's ``chat:push:apn`` wizard: (team id, key id, .p8 file, bundle id)."""
    console.print("Token-based APNs credentials (Apple Developer account > Keys).")
    team_id = _ask("Team ID", _apple_id("Team ID"))
    key_id = _ask("Key ID", _apple_id("Key ID"))
    key_file = Path(_ask("Key file (.p8)", _key_file)).expanduser()
    bundle = _ask(
        "Bundle ID", lambda v: None if "." in v else "A bundle id looks like com.example.chat."
    )
    return team_id, key_id, key_file, bundle


@app.command("apn")
def apn(
    auth_key: Annotated[
        Path | None, typer.Option("-a", "--auth-key", help="The .p8 key file.")
    ] = None,
    bundle: Annotated[str | None, typer.Option("-b", "--bundle", help="Bundle id (topic).")] = None,
    key_id: Annotated[
        str | None, typer.Option("-k", "--key-id", help="10-character Key ID.")
    ] = None,
    team_id: Annotated[
        str | None, typer.Option("-t", "--team-id", help="10-character Team ID.")
    ] = None,
    p12: Annotated[Path | None, typer.Option("--p12", help="Certificate (.p12) file.")] = None,
    password: Annotated[
        str | None,
        typer.Option("--password", envvar="PUSHGATE_P12_PASSWORD", help="Password of the .p12."),
    ] = None,
    sandbox: Annotated[bool, typer.Option("--sandbox", help="Development (sandbox) APNs.")] = False,
    url: UrlOption = DEFAULT_URL,
    api_key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Upload APNs credentials: a .p8 key (token auth) or a .p12 certificate.

    With no arguments on a terminal it asks for Team ID, Key ID, key file and bundle id.
    """
    if auth_key is p12 is bundle is key_id is team_id is None and sys.stdin.isatty():
        team_id, key_id, auth_key, bundle = _apn_wizard()
        sandbox = typer.confirm("Sandbox (development) APNs?", default=sandbox)
    environment = "sandbox" if sandbox else "production"
    with user_errors():
        body = _apn_body(auth_key, bundle, key_id, team_id, p12, password, environment)
        stored = client(url, api_key).call("PUT", "/v1/credentials/apns", json=body)

    def render(data: dict[str, Any]) -> None:
        console.print(
            f"APNs {data['kind']} credential stored for topic "
            f"[bold]{data['topic']}[/bold] ({data['environment']})."
        )

    show(stored, as_json, render)


@app.command("fcm")
def fcm(
    service_account: Annotated[
        Path, typer.Option("--service-account", "-s", help="Service-account JSON file.")
    ],
    name: Annotated[str, typer.Option("--name", "-n", help="Name devices refer to.")] = "default",
    url: UrlOption = DEFAULT_URL,
    api_key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Upload an FCM service account (one per name; an app may have several projects)."""
    with user_errors():
        raw = _read(service_account, "service-account file").decode("utf-8", "replace")
        stored = client(url, api_key).call(
            "PUT", "/v1/credentials/fcm", json={"service_account": raw, "name": name}
        )

    def render(data: dict[str, Any]) -> None:
        console.print(
            f"FCM service account {data['client_email']} stored as '{data['name']}' "
            f"(project {data['project_id']}).",
            highlight=False,
        )

    show(stored, as_json, render)


@app.command("webpush")
def webpush(
    subject: Annotated[
        str | None,
        typer.Option("--subject", help="mailto: or https: contact (Safari requires one)."),
    ] = None,
    generate: Annotated[bool, typer.Option("--generate", help="Create a new VAPID key.")] = False,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace",
            help="Replace an existing VAPID key: every subscription made with the old one "
            "fails until its browser subscribes again.",
        ),
    ] = False,
    key_only: Annotated[
        bool, typer.Option("--key-only", help="Print only the public key (for scripts).")
    ] = False,
    private_key: Annotated[
        Path | None, typer.Option("--private-key", help="Existing VAPID private key (PEM).")
    ] = None,
    url: UrlOption = DEFAULT_URL,
    api_key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Set the app's VAPID key; prints the public key the web app subscribes with."""
    with user_errors():
        body: dict[str, Any] = {"generate": generate, "replace": replace}
        if subject is not None:
            body["subject"] = subject
        if private_key is not None:
            body["private_key"] = _read(private_key, "VAPID key").decode("utf-8", "replace")
        stored = client(url, api_key).call("PUT", "/v1/credentials/webpush", json=body)
    if key_only:
        console.print(stored["public_key"], highlight=False, soft_wrap=True)
        return

    def render(data: dict[str, Any]) -> None:
        console.print("VAPID key stored. Public key (applicationServerKey for the web app):")
        console.print(data["public_key"], highlight=False, soft_wrap=True)
        if not data.get("subject"):
            console.print(
                "Note: no --subject given; Apple's push service refuses VAPID tokens "
                "without a mailto:/https: contact."
            )

    show(stored, as_json, render)


@app.command("list")
def list_credentials(
    url: UrlOption = DEFAULT_URL, api_key: KeyOption = None, as_json: JsonOption = False
) -> None:
    """List the app's credentials (never the keys themselves)."""
    with user_errors():
        found = client(url, api_key).call("GET", "/v1/credentials")

    def render(rows: list[dict[str, Any]]) -> None:
        table = Table("platform", "name", "kind", "topic", "environment")
        for row in rows:
            table.add_row(
                row["platform"],
                row["name"],
                str(row.get("kind", "")),
                str(row.get("topic", "")),
                str(row.get("environment", "")),
            )
        console.print(table)

    show(found, as_json, render)


@app.command("delete")
def delete(
    platform: Annotated[str, typer.Argument(help="apns, fcm or webpush")],
    name: Annotated[
        str, typer.Argument(help="APNs: sandbox or production; FCM: its name; Web Push: default.")
    ],
    url: UrlOption = DEFAULT_URL,
    api_key: KeyOption = None,
) -> None:
    """Remove a credential."""
    with user_errors():
        client(url, api_key).call("DELETE", f"/v1/credentials/{platform}/{name}")
    console.print(f"Deleted the {platform} credential '{name}'.")
