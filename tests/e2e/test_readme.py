"""Issue 14 item 1: the README's "Quick start by hand" runs as written and delivers to all three
platforms, with real processes (``pushgate serve --simulator`` in the background, the CLI for
every other line) in an empty directory.

Only the ports differ from a newcomer's run, through the environment the README's commands
read (``PUSHGATE_SERVER__PORT``, ``PUSHGATE_URL``, ``PUSHGATE_SIMULATOR__CONTROL_URL``), so
that suites running side by side never share a port.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).parents[2] / "README.md"
SECTION = "## Quick start by hand"
RUN_TIMEOUT = 240
"""Seconds for the whole section (a cold start takes about 20)."""


def by_hand_commands() -> list[str]:
    """The lines of the first ``sh`` block of the section, comments dropped."""
    text = README.read_text()
    section = text[text.index(SECTION) :]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None, "the by-hand section has no sh block"
    lines = [line.split("  #")[0].rstrip() for line in block.group(1).splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.timeout(RUN_TIMEOUT + 30)
def test_the_by_hand_section_runs_verbatim_and_delivers(tmp_path: Path) -> None:
    commands = by_hand_commands()
    assert commands[0].endswith("&") and "serve --simulator" in commands[0]
    gateway_port, control_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUSHGATE_")}
    env |= {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        "PUSHGATE_SERVER__PORT": str(gateway_port),
        "PUSHGATE_URL": f"http://127.0.0.1:{gateway_port}",
        "PUSHGATE_SIMULATOR__CONTROL_URL": f"http://127.0.0.1:{control_port}",
        "COLUMNS": "200",
    }
    # One shell runs the lines in order (exports carry over); a failing line stops it and
    # names itself. The whole run is bounded in time.
    script = ["set -uo pipefail", "trap 'kill $(jobs -p) 2>/dev/null; wait' EXIT"]
    for number, command in enumerate(commands, 1):
        if command.endswith("&"):
            script.append(f"{command[:-1].rstrip()} > background-{number}.log 2>&1 &")
            continue
        script.append(f"echo '$ line {number}'")
        script.append(
            f'{command} || {{ echo "line {number} failed: $?"; cat background-*.log; exit 1; }}'
        )
    done = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    send_line = next(n for n, c in enumerate(commands, 1) if c.startswith("pushgate send"))
    sent = out.split(f"$ line {send_line}\n")[1].split("$ line ")[0]
    for platform in ("apns", "fcm", "webpush"):
        assert re.search(rf"\b{platform}\b[^\n]*\bdelivered\b", sent), (platform, out)
    assert "Notification ntf_" in sent and "inactive" not in out
