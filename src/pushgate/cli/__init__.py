"""The ``pushgate`` command line: run the gateway and the simulator, manage apps and devices."""

from __future__ import annotations

import typer

from pushgate import __version__
from pushgate.cli import admin, apps, audit, chat, devices, notifications, push, simulator, store
from pushgate.cli.health import health
from pushgate.cli.import_config import import_config
from pushgate.cli.send import send
from pushgate.cli.serve import serve
from pushgate.cli.test_push import test_push

app = typer.Typer(
    name="pushgate",
    help="Self-hosted push gateway for chat apps (APNs, FCM, Web Push).",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode="rich",
)
app.command("serve")(serve)
app.command("send")(send)
app.command("health")(health)
app.command("import")(import_config)
app.command("test")(test_push)
app.add_typer(apps.app, name="apps")
app.add_typer(audit.app, name="audit")
app.add_typer(push.app, name="push")
app.add_typer(devices.app, name="devices")
app.add_typer(notifications.app, name="notifications")
app.add_typer(simulator.app, name="simulator")
app.add_typer(chat.app, name="chat")
app.add_typer(admin.app, name="admin")
app.add_typer(store.app, name="store")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pushgate {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """pushgate."""


def main() -> None:
    """Console-script entry point."""
    app()
