"""`pushgate simulator`: run the local push-service simulator and inspect or steer it."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.table import Table

from pushgate.cli.client import ApiError, checked_url, describe_details
from pushgate.cli.common import JsonOption, console, show, user_errors
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
        envvar="PUSHGATE_SIMULATOR_URL",
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
    )
    serve(settings, out=lambda line: console.print(line, highlight=False))


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


@app.command("inbox")
def inbox(
    token: Annotated[str | None, typer.Option("--token", help="Only this device token.")] = None,
    limit: Annotated[int, typer.Option(help="Newest N.")] = 20,
    control_url: ControlOption = DEFAULT_CONTROL,
    as_json: JsonOption = False,
) -> None:
    """Show the notifications the simulated APNs accepted."""
    params: dict[str, Any] = {"limit": limit, **({"token": token} if token else {})}
    with user_errors():
        found = _control(control_url, "GET", "/inbox", params=params)

    def render(data: dict[str, Any]) -> None:
        table = Table("env", "token", "topic", "type", "auth", "payload")
        for n in data["notifications"]:
            table.add_row(
                n["environment"],
                n["token"][:16] + "…",
                n["topic"],
                str(n["push_type"]),
                n["auth"]["kind"],
                json.dumps(n["payload"]),
            )
        console.print(table)

    show(found, as_json, render)


@app.command("stats")
def stats(control_url: ControlOption = DEFAULT_CONTROL) -> None:
    """Requests accepted and rejected, by reason."""
    with user_errors():
        show(_control(control_url, "GET", "/stats"), True)


@app.command("add-key")
def add_key(
    key_file: Annotated[Path, typer.Option("-a", "--auth-key", help="The .p8 (or public) key.")],
    key_id: Annotated[str, typer.Option("-k", "--key-id")],
    team_id: Annotated[str, typer.Option("-t", "--team-id")],
    control_url: ControlOption = DEFAULT_CONTROL,
) -> None:
    """Trust a signing key for provider tokens (only its public half is kept)."""
    with user_errors():
        try:
            pem = key_file.read_text()
        except OSError as exc:
            raise PushgateError(f"Cannot read {key_file}: {exc.strerror}.") from None
        _control(
            control_url,
            "POST",
            "/apns/keys",
            json={"key_id": key_id, "team_id": team_id, "public_key_pem": pem},
        )
    console.print(f"The simulator now trusts key {key_id} of team {team_id}.")


@app.command("dead-token")
def dead_token(
    token: Annotated[str, typer.Argument(help="Device token to answer 410 Unregistered for.")],
    control_url: ControlOption = DEFAULT_CONTROL,
) -> None:
    """Make the simulator report a device token as unregistered."""
    with user_errors():
        answer = _control(control_url, "POST", "/apns/dead-tokens", json={"token": token})
    console.print(f"Token marked dead since {answer['timestamp_ms']} ms.")


@app.command("faults")
def faults(
    plan: Annotated[
        str | None,
        typer.Argument(help='Fault plan as JSON, e.g. \'{"service_unavailable": {"every": 3}}\'.'),
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Back to no faults.")] = False,
    control_url: ControlOption = DEFAULT_CONTROL,
) -> None:
    """Show, set or clear the injected faults."""
    with user_errors():
        if clear:
            answer = _control(control_url, "DELETE", "/apns/faults")
        elif plan:
            try:
                body = json.loads(plan)
            except json.JSONDecodeError as exc:
                raise PushgateError(f"The fault plan is not valid JSON: {exc.msg}.") from None
            answer = _control(control_url, "PUT", "/apns/faults", json=body)
        else:
            answer = _control(control_url, "GET", "/apns/faults")
    show(answer, True)


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
