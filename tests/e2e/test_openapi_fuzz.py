"""Schemathesis against the gateway's own ``/openapi.json``: every operation, bounded.

A real gateway (uvicorn, every middleware) on PostgreSQL, the stricter store (32-bit INTEGER
columns, no NUL in text; its BIGINT is SQLite's INTEGER), serves an app with credentials for
all three platforms, a user's device, a chat channel, a delivered notification and a posted
message. Schemathesis's own runner (its CLI: its pytest plugin does not run on pytest 9)
calls each operation with a key that may call it (the admin key for apps, keys and the audit
log, the app's key for the rest), so requests reach the handlers instead of stopping at 401.
Every answer must be no 5xx, a status the operation documents, a documented content type,
and a body and headers that match the documented schema.

The peers' front doors (Mattermost, Matrix, gorush) are left out of the document on purpose:
they answer in their peers' formats, which the peers' own documentation describes, and a user
of pushgate's document expects pushgate's API in it.

Deterministic: Schemathesis's deterministic generation and no example database, so a run
repeats the same requests.
"""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import pytest
import tomli_w
from chat_helpers import all_platforms, channel, iphone, ok
from harness import ADMIN_KEY, create_app, gateway_settings, running_gateway

from backends import store_settings
from pushgate.simulator import Simulator

pytestmark = pytest.mark.slow

ADMIN_TAGS = ["apps", "audit", "keys"]
"""Fuzzed with the admin key, after everything else: the fuzzer reuses ids it has seen in
answers, so these would delete the app or revoke the key the other operations are called
with. The app's key calls every other operation."""
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
]
MAX_EXAMPLES = 20
"""Per operation and phase: the ~50 operations take about a minute on two cores."""
RUN_TIMEOUT = 240
DISPATCH = {"wait_timeout": 2.0}
"""``wait=true`` sends and test pushes answer within 2 s."""


def fuzz_config(key: str) -> dict[str, object]:
    """Schemathesis's configuration (its ``schemathesis.toml``) for a run with ``key``."""
    return {
        "headers": {"Authorization": f"Bearer {key}"},
        "request-timeout": 10,
        "generation": {
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            "database": "none",
            "with-security-parameters": False,
        },
        "phases": {"stateful": {"enabled": False}},
        "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
    }


def write_config(folder: Path, key: str) -> Path:
    """A new folder for a run, holding its ``schemathesis.toml``."""
    folder.mkdir()
    config_file = folder / "schemathesis.toml"
    config_file.write_bytes(tomli_w.dumps(fuzz_config(key)).encode())
    return config_file


async def run_schemathesis(url: str, key: str, folder: Path, *selection: str) -> tuple[int, str]:
    """Schemathesis's CLI against ``url``'s document, on the operations ``selection`` (its
    options) picks; its exit code and output."""
    config_file = write_config(folder, key)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(config_file), "--no-color",
        "run", f"{url}/openapi.json", "--report-dir", str(folder / "reports"), *selection,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=folder,
    )  # fmt: skip
    try:
        output, _ = await asyncio.wait_for(process.communicate(), RUN_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    return process.returncode or 0, output.decode(errors="replace")


@pytest.mark.timeout(2 * RUN_TIMEOUT + 60)  # the suite's 120 s is too tight on a busy machine
async def test_every_operation_answers_as_documented(tmp_path: Path, sim: Simulator) -> None:
    async with (
        store_settings("postgresql", tmp_path) as store,
        running_gateway(gateway_settings(tmp_path, sim, store=store, dispatch=DISPATCH)) as gw,
    ):
        async with gw.client(await create_app(gw, "fuzzed")) as api:
            # A key of its own: the fuzzer may well revoke the app's key named "default".
            body = {"name": "fuzzer", "scope": "manage"}
            key = (await ok(await api.post("/v1/keys", json=body), 201))["api_key"]
            # Something for reads and sends to find.
            await all_platforms(api, sim)
            await iphone(api, "alice")
            users = {"users": [{"id": "alice"}, {"id": "bob"}]}
            await ok(await api.post("/v1/chat/users", json=users))
            await channel(api, "general", ["alice", "bob"])
            # Answers with results in them: a delivered notification and a posted message.
            sent = {"user_ids": ["alice"], "alert": {"body": "hi"}}
            await ok(await api.post("/v1/notifications?wait=true", json=sent))
            posted = {"id": "m1", "channel_id": "general", "sender_id": "bob", "text": "hi"}
            await ok(await api.post("/v1/chat/messages", json=posted), 202)
        app_run = [f"--exclude-tag={tag}" for tag in ADMIN_TAGS]
        admin_run = [f"--include-tag={tag}" for tag in ADMIN_TAGS]
        runs = {
            "app": await run_schemathesis(gw.url, key, tmp_path / "app", *app_run),
            "admin": await run_schemathesis(gw.url, ADMIN_KEY, tmp_path / "admin", *admin_run),
        }
    tested = 0
    for name, (code, output) in runs.items():
        assert code == 0, f"{name} run:\n{output}"
        assert "Authentication failed" not in output, f"{name} run:\n{output}"
        selected = re.search(r"Selected: (\d+)/(\d+)\s+Tested: (\d+)", output)
        assert selected is not None, output
        assert selected[1] == selected[3], f"{name} run left operations untested:\n{output}"
        tested += int(selected[3])
    assert tested == int(selected[2]), "the two runs together test every operation"
