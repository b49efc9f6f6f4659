"""Options and output helpers shared by the CLI commands."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from pushgate.cli.client import GatewayClient
from pushgate.errors import PushgateError

console = Console()
errors = Console(stderr=True)

UrlOption = Annotated[
    str, typer.Option("--url", envvar="PUSHGATE_URL", help="Gateway API address.")
]
KeyOption = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar="PUSHGATE_API_KEY",
        help="App API key (or admin key).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the raw JSON answer.")]
DEFAULT_URL = "http://127.0.0.1:8086"


@contextmanager
def user_errors(exit_code: int = 1) -> Iterator[None]:
    """Print a pushgate error as one line and exit ``exit_code``, without a traceback."""
    try:
        yield
    except PushgateError as exc:
        errors.print(f"[red]error:[/red] {escape(exc.message)}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=exit_code) from None


def client(url: str, api_key: str | None) -> GatewayClient:
    """A client for the API at ``url``."""
    return GatewayClient(url, api_key)


def show(data: Any, as_json: bool, render: Callable[[Any], None] | None = None) -> None:
    """Print an answer as JSON, or through ``render`` for people."""
    if as_json or render is None:
        console.print_json(json.dumps(data))
    else:
        render(data)
