"""`pushgate import FILE`: move from the Mattermost push proxy, Sygnal or gorush.

Creates an app, uploads the credentials the peer's configuration names (validated as any
upload is), and prints the front-door section for pushgate.toml (or appends it with
``--write-config``). ``--dry-run`` validates and shows all of that, creating nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import tomli_w
import typer

from pushgate.cli.common import DEFAULT_URL, KeyOption, UrlOption, client, console, user_errors
from pushgate.cli.peer_config import FORMATS, Plan, read_plan


def import_config(
    file: Annotated[
        Path, typer.Argument(help="mattermost-push-proxy.json, sygnal.yaml or gorush config.yml.")
    ],
    app: Annotated[str, typer.Option("--app", help="Name of the pushgate app to create.")] = "chat",
    peer: Annotated[
        str | None, typer.Option("--format", help=f"One of {', '.join(FORMATS)}; else detected.")
    ] = None,
    topic: Annotated[
        str | None, typer.Option("--topic", help="The iOS bundle id (gorush .p8 keys need it).")
    ] = None,
    app_key: Annotated[
        str | None,
        typer.Option("--app-key", help="Add to this existing app instead of creating one."),
    ] = None,
    write_config: Annotated[
        Path | None,
        typer.Option("--write-config", help="Append the door's section to this TOML file."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and show; create nothing.")
    ] = False,
    url: UrlOption = DEFAULT_URL,
    api_key: KeyOption = None,
) -> None:
    """Import a peer gateway's apps, credentials and routing."""
    with user_errors():
        if peer is not None and peer not in FORMATS:
            raise typer.BadParameter(f"--format must be one of {', '.join(FORMATS)}")
        plan = read_plan(file, app, peer=peer, topic=topic)
        _show(plan, dry_run)
        if dry_run:
            return
        key = (
            app_key or client(url, api_key).call("POST", "/v1/apps", json={"name": app})["api_key"]
        )
        as_app = client(url, key)
        for upload in plan.uploads:
            as_app.call("PUT", f"/v1/credentials/{upload.platform}", json=upload.body)
            console.print(f"uploaded: {upload.summary()}", highlight=False)
        if write_config is not None:
            with write_config.open("a") as handle:
                handle.write("\n" + tomli_w.dumps(plan.config))
            console.print(f"appended the door's section to {write_config}", highlight=False)
        if app_key is None:
            console.print(f"app '{app}' created; its API key (shown once): {key}", highlight=False)


def _show(plan: Plan, dry_run: bool) -> None:
    verb = "would create" if dry_run else "creating"
    console.print(f"{verb} app '{plan.app}' with:", highlight=False)
    for upload in plan.uploads:
        console.print(f"  - {upload.summary()}  [dim](from {upload.source})[/dim]", highlight=False)
    for reason in plan.skipped:
        console.print(f"  not imported: {reason}", highlight=False)
    console.print("pushgate.toml section:", highlight=False)
    console.print(tomli_w.dumps(plan.config), highlight=False, markup=False)
