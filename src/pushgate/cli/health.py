"""`pushgate health`: is the gateway up (optionally waiting until it is)."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from pushgate.cli.client import ApiError
from pushgate.cli.common import DEFAULT_URL, UrlOption, client, console, user_errors

POLL_INTERVAL = 0.2


def health(
    wait: Annotated[
        float, typer.Option("--wait", help="Keep trying this many seconds (after a start).")
    ] = 0.0,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Exit 0 when the gateway answers /health; else say why and exit 1."""
    deadline = time.monotonic() + wait
    with user_errors():
        gateway = client(url, None)
        while True:
            try:
                gateway.call("GET", "/health")
                break
            except ApiError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(POLL_INTERVAL)
    console.print(f"The gateway at {url} is up.", highlight=False)
