"""`pushgate simulator`: run the local push-service simulator and inspect or steer it."""

from __future__ import annotations

import base64
import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.table import Table

from pushgate.cli.client import ApiError, checked_url, describe_details
from pushgate.cli.common import JsonOption, console, show, user_errors
from pushgate.cli.startup import simulator_cannot_start, startup_errors
from pushgate.errors import PushgateError
from pushgate.simulator.settings import CLI_PORTS

app = typer.Typer(
    help="Local APNs/FCM/Web Push simulator: run it (no subcommand), read its inbox, steer faults.",
    invoke_without_command=True,
)
ControlOption = Annotated[
    str,
    typer.Option(
        "--control-url",
        envvar=["PUSHGATE_SIMULATOR_URL", "PUSHGATE_SIMULATOR__CONTROL_URL"],
        help="The running simulator's control API.",
    ),
]
DEFAULT_CONTROL = f"http://127.0.0.1:{CLI_PORTS['control_port']}"


@app.callback()
def run(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Listen address.")] = "127.0.0.1",
    production_port: Annotated[int, typer.Option(help="APNs production port.")] = CLI_PORTS[
        "apns_production_port"
    ],
    sandbox_port: Annotated[int, typer.Option(help="APNs sandbox port.")] = CLI_PORTS[
        "apns_sandbox_port"
    ],
    control_port: Annotated[int, typer.Option(help="Control API port.")] = CLI_PORTS[
        "control_port"
    ],
    fcm_port: Annotated[int, typer.Option(help="FCM HTTP v1 port.")] = CLI_PORTS["fcm_port"],
    webpush_port: Annotated[int, typer.Option(help="Web Push service port.")] = CLI_PORTS[
        "webpush_port"
    ],
    state_dir: Annotated[Path, typer.Option(help="Keeps the CA between runs.")] = Path(
        "pushgate-data/simulator"
    ),
    hostnames: Annotated[
        list[str] | None,
        typer.Option(
            "--hostname",
            help="Another name for the server certificate (repeatable), e.g. api.push.apple.com "
            "for clients that hard-code it, pointed here through /etc/hosts.",
        ),
    ] = None,
) -> None:
    """Run the simulator until Ctrl+C (when no subcommand is given)."""
    if ctx.invoked_subcommand is not None:
        return
    from pushgate.simulator import SimulatorSettings
    from pushgate.simulator.app import serve

    settings = SimulatorSettings(
        host=host,
        apns_production_port=production_port,
        apns_sandbox_port=sandbox_port,
        control_port=control_port,
        fcm_port=fcm_port,
        webpush_port=webpush_port,
        state_dir=state_dir,
        server_hostnames=("localhost", *(hostnames or ())),
    )
    with startup_errors():
        try:
            serve(settings, out=lambda line: console.print(line, highlight=False))
        except OSError as exc:
            raise simulator_cannot_start(
                exc, "Stop the other simulator or pick free ports with the --*-port options."
            ) from None


def _control(url: str, method: str, path: str, **kwargs: Any) -> Any:
    url = checked_url(url, "--control-url")
    try:
        response = httpx.request(method, url + path, timeout=10, **kwargs)
    except httpx.HTTPError:
        raise ApiError(
            f"Cannot reach the simulator at {url}; is 'pushgate simulator' running?",
            code="unreachable",
        ) from None
    if response.status_code >= 400:
        try:
            answer = response.json()
            message = answer.get("message", response.text) + describe_details(answer.get("details"))
        except (ValueError, AttributeError):
            message = response.text
        raise ApiError(f"The simulator refused: {message}", code="simulator_error")
    return response.json() if response.content else None


class Service(StrEnum):
    """The simulated push service a command is about."""

    apns = "apns"
    fcm = "fcm"
    webpush = "webpush"


ServiceOption = Annotated[
    Service, typer.Option("--service", "-s", help="apns, fcm or webpush.", case_sensitive=False)
]
_PREFIX = {Service.apns: "", Service.fcm: "/fcm", Service.webpush: "/webpush"}
"""Where each service's inbox and stats live in the control API (APNs' are at the root)."""
_FAULTS = {
    Service.apns: "/apns/faults",
    Service.fcm: "/fcm/faults",
    Service.webpush: "/webpush/faults",
}


@app.command("inbox")
def inbox(
    service: ServiceOption = Service.apns,
    token: Annotated[
        str | None,
        typer.Option("--token", help="Only this device token, FCM token or subscription endpoint."),
    ] = None,
    limit: Annotated[int, typer.Option(help="Newest N.")] = 20,
    control_url: ControlOption = DEFAULT_CONTROL,
    as_json: JsonOption = False,
) -> None:
    """Show what the simulated service accepted."""
    params: dict[str, Any] = {"limit": limit}
    if token:
        params[_target_parameter(service, token)] = token
    with user_errors():
        found = _control(control_url, "GET", f"{_PREFIX[service]}/inbox", params=params)
    show(found, as_json, _INBOX_TABLES[service])


def _target_parameter(service: Service, token: str) -> str:
    """The inbox query parameter that selects one recipient."""
    if service is Service.webpush:
        return "endpoint" if token.startswith(("https://", "http://")) else "subscription_id"
    return "token"


def _apns_table(data: dict[str, Any]) -> None:
    table = Table("env", "token", "topic", "type", "auth", "payload")
    for n in data["notifications"]:
        table.add_row(
            n["environment"], n["token"][:16] + "…", n["topic"], str(n["push_type"]),
            n["auth"]["kind"], json.dumps(n["payload"]),
        )  # fmt: skip
    console.print(table)


def _fcm_table(data: dict[str, Any]) -> None:
    table = Table("project", "target", "account", "message")
    for m in data["messages"]:
        target = f"{m['target_kind']}:{m['target'][:16]}…"
        table.add_row(m["project_id"], target, m["service_account"], json.dumps(m["message"]))
    console.print(table)


def _webpush_table(data: dict[str, Any]) -> None:
    table = Table("subscription", "ttl", "urgency", "vapid subject", "text")
    for m in data["messages"]:
        table.add_row(
            m["subscription_id"][:16] + "…", str(m["ttl"]), m["urgency"],
            str(m["vapid_subject"]), str(m["text"]),
        )  # fmt: skip
    console.print(table)


_INBOX_TABLES = {
    Service.apns: _apns_table,
    Service.fcm: _fcm_table,
    Service.webpush: _webpush_table,
}


@app.command("stats")
def stats(
    service: ServiceOption = Service.apns, control_url: ControlOption = DEFAULT_CONTROL
) -> None:
    """Requests accepted and rejected (by reason), and what the clients did: connections,
    requests, distinct credentials, token refreshes, deliveries per recipient."""
    with user_errors():
        show(_control(control_url, "GET", f"{_PREFIX[service]}/stats"), True)


@app.command("add-key")
def add_key(
    key_file: Annotated[Path, typer.Option("-a", "--auth-key", help="The .p8 (or public) key.")],
    key_id: Annotated[str, typer.Option("-k", "--key-id")],
    team_id: Annotated[str, typer.Option("-t", "--team-id")],
    topics: Annotated[
        list[str],
        typer.Option("--topic", "-b", help="A bundle id of the team's apps (repeat for each)."),
    ],
    topic_specific: Annotated[
        bool, typer.Option(help="A topic-specific key: only these bundle ids, not the team's.")
    ] = False,
    control_url: ControlOption = DEFAULT_CONTROL,
) -> None:
    """Trust a signing key for provider tokens (only its public half is kept).

    Like Apple, the simulator lets a key push only to its team's apps: a topic of another
    bundle id is answered 400 TopicDisallowed.
    """
    with user_errors():
        pem = _read(key_file)
        body: dict[str, Any] = {"key_id": key_id, "team_id": team_id, "public_key_pem": pem}
        body["topics" if topic_specific else "bundle_ids"] = topics
        _control(control_url, "POST", "/apns/keys", json=body)
    console.print(
        f"The simulator now trusts key {key_id} of team {team_id} for {', '.join(topics)}."
    )


@app.command("add-service-account")
def add_service_account(
    project_id: Annotated[
        str | None, typer.Option("--project", "-p", help="Firebase project id of a new account.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write a new service-account JSON file here.")
    ] = None,
    existing: Annotated[
        Path | None,
        typer.Option("--file", help="Trust this service-account JSON file instead of a new one."),
    ] = None,
    project_number: Annotated[
        str | None, typer.Option(help="The project number (sender id), also accepted in URLs.")
    ] = None,
    control_url: ControlOption = DEFAULT_CONTROL,
) -> None:
    """Make a service account the FCM simulator trusts (its token_uri points at the
    simulator), or trust an existing file's account (only its public key is kept)."""
    with user_errors():
        if (out is None) == (existing is None) or (out is not None and project_id is None):
            raise PushgateError(
                "Give --project and --out for a new service account, or --file for an existing one."
            )
        if existing is not None:
            info = json.loads(_read(existing))
            summary = _control(
                control_url, "POST", "/fcm/service-accounts", json={"service_account": info}
            )
            console.print(f"The simulator now trusts {summary['client_email']}.")
            return
        assert out is not None
        body = {
            "project_id": project_id,
            **({"project_number": project_number} if project_number else {}),
        }
        info = _control(control_url, "POST", "/fcm/service-accounts", json=body)
        out.write_text(json.dumps(info, indent=2))
        out.chmod(0o600)
    console.print(f"Wrote {out} for {info['client_email']} (token_uri {info['token_uri']}).")


@app.command("add-token")
def add_token(
    project_id: Annotated[str, typer.Option("--project", "-p", help="Firebase project id.")],
    control_url: ControlOption = DEFAULT_CONTROL,
) -> None:
    """Print a new FCM registration token, bound to the project (like an app install)."""
    with user_errors():
        answer = _control(control_url, "POST", "/fcm/tokens", json={"project_id": project_id})
    console.print(answer["token"], highlight=False, soft_wrap=True)


@app.command("add-subscription")
def add_subscription(
    vapid_key: Annotated[
        str | None,
        typer.Option(
            "--vapid-key", help="The VAPID public key (base64url) the subscription is bound to."
        ),
    ] = None,
    control_url: ControlOption = DEFAULT_CONTROL,
) -> None:
    """Subscribe like a browser; print the PushSubscription JSON (endpoint and keys)."""
    body = {"application_server_key": vapid_key} if vapid_key else {}
    with user_errors():
        show(_control(control_url, "POST", "/webpush/subscriptions", json=body), True)


@app.command("dead-token")
def dead_token(
    token: Annotated[
        str, typer.Argument(help="Device token, FCM registration token or subscription endpoint.")
    ],
    service: ServiceOption = Service.apns,
    control_url: ControlOption = DEFAULT_CONTROL,
) -> None:
    """Make the simulator report a recipient as gone: APNs 410 Unregistered, FCM 404
    UNREGISTERED, Web Push 410."""
    with user_errors():
        if service is Service.apns:
            answer = _control(control_url, "POST", "/apns/dead-tokens", json={"token": token})
            console.print(f"Token marked dead since {answer['timestamp_ms']} ms.")
        elif service is Service.fcm:
            _control(control_url, "POST", "/fcm/unregistered-tokens", json={"token": token})
            console.print("Token marked unregistered.")
        else:
            _control(control_url, "POST", "/webpush/expired", json={"endpoint": token})
            console.print("Subscription marked expired.")


@app.command("faults")
def faults(
    plan: Annotated[
        str | None,
        typer.Argument(help='Fault plan as JSON, e.g. \'{"service_unavailable": {"every": 3}}\'.'),
    ] = None,
    service: ServiceOption = Service.apns,
    clear: Annotated[bool, typer.Option("--clear", help="Back to no faults.")] = False,
    control_url: ControlOption = DEFAULT_CONTROL,
) -> None:
    """Show, set or clear the injected faults of one service."""
    path = _FAULTS[service]
    with user_errors():
        if clear:
            answer = _control(control_url, "DELETE", path)
        elif plan:
            try:
                body = json.loads(plan)
            except json.JSONDecodeError as exc:
                raise PushgateError(f"The fault plan is not valid JSON: {exc.msg}.") from None
            answer = _control(control_url, "PUT", path, json=body)
        else:
            answer = _control(control_url, "GET", path)
    show(answer, True)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise PushgateError(f"Cannot read {path}: {exc.strerror}.") from None


@app.command("certificate")
def certificate(
    topic: Annotated[str, typer.Option("-b", "--bundle", help="Bundle id (certificate UID).")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the .p12.")],
    password: Annotated[str, typer.Option("--password", help="Password of the .p12.")],
    sandbox: Annotated[bool, typer.Option("--sandbox", help="Development only.")] = False,
    control_url: ControlOption = DEFAULT_CONTROL,
) -> None:
    """Issue an APNs client certificate (.p12) that the simulator accepts."""
    from pushgate.simulator.certs import to_p12

    environment = "sandbox" if sandbox else "universal"
    with user_errors():
        pair = _control(
            control_url,
            "POST",
            "/apns/certificates",
            json={"topic": topic, "environment": environment},
        )
        p12 = to_p12(pair["cert_pem"].encode(), pair["key_pem"].encode(), password.encode())
        out.write_bytes(p12)
        out.chmod(0o600)
    console.print(f"Wrote {out} ({len(base64.b64encode(p12))} base64 bytes) for topic {topic}.")
