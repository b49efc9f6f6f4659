"""gorush's feedback webhook (``core.feedback_hook_url``): each failed push's log entry POSTed.

As gorush does: one POST per ``failed-push`` entry (the shape ``logs`` has), JSON, with the
configured headers, no retry; a failed POST is logged (without the URL, which may carry a
token). Unlike gorush, the entries also come in async mode after a retried push finally
fails: the door watches its notifications in the background until the push services decided
(as a sync answer waits, then every ``WATCH_POLL`` seconds up to ``dispatch.retry_deadline``),
so an operator learns about dead tokens either way.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from pushgate.api.compat._deliver import ERASED, verdicts
from pushgate.config import GorushDoor
from pushgate.gateway import Gateway
from pushgate.store import Verdict

log = logging.getLogger(__name__)

WATCH_POLL = 5.0
"""Seconds between two looks at a push that is still being retried after ``wait_timeout``."""
FailedEntry = Callable[[Verdict], dict[str, Any] | None]
"""A delivery's verdict -> its ``failed-push`` entry, or None when the push did not fail."""


class Feedback:
    """The door's background feedback tasks (kept so they are not collected mid-way)."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def report(
        self,
        gw: Gateway,
        door: GorushDoor,
        app_id: str,
        refused: Sequence[dict[str, Any]],
        waiting: Sequence[tuple[str, FailedEntry]],
    ) -> None:
        """POST ``refused`` now and each of ``waiting`` (notification id, its entry maker)
        once its push failed, in the background."""
        if door.feedback_hook_url is None or not (refused or waiting):
            return
        task = asyncio.create_task(_report(gw, door, app_id, list(refused), list(waiting)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        """Stop watching (the gateway is stopping)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def _report(
    gw: Gateway,
    door: GorushDoor,
    app_id: str,
    refused: list[dict[str, Any]],
    waiting: list[tuple[str, FailedEntry]],
) -> None:
    await _post_all(door, refused)
    found = await asyncio.gather(*(_decided(gw, door, app_id, nid) for nid, _ in waiting))
    failed = [entry_of(result) for (_, entry_of), result in zip(waiting, found, strict=True)]
    await _post_all(door, [entry for entry in failed if entry is not None])


async def _decided(gw: Gateway, door: GorushDoor, app_id: str, notification_id: str) -> Verdict:
    """The push's result once decided: waited for as a sync answer is, then, for a push still
    being retried, looked up every ``WATCH_POLL`` seconds until its retry deadline."""
    (result,) = await verdicts(gw, [(app_id, notification_id)], door.wait_timeout)
    until = time.monotonic() + gw.settings.dispatch.retry_deadline
    while result.status == "pending" and time.monotonic() < until:
        await asyncio.sleep(WATCH_POLL)
        report = await gw.acceptor.report(app_id, notification_id)
        result = Verdict.of(report["results"][0]) if report is not None else ERASED
    return result


async def _post_all(door: GorushDoor, entries: list[dict[str, Any]]) -> None:
    if not entries:
        return
    assert door.feedback_hook_url is not None
    headers = {"content-type": "application/json; charset=utf-8"}
    for header in door.feedback_header:
        name, _, value = header.get_secret_value().partition(":")
        headers[name.strip()] = value.strip()
    async with httpx.AsyncClient(timeout=door.feedback_timeout, headers=headers) as client:
        await asyncio.gather(*(_post(client, door.feedback_hook_url, entry) for entry in entries))


async def _post(client: httpx.AsyncClient, url: str, entry: dict[str, Any]) -> None:
    try:
        response = await client.post(url, json=entry)
    except httpx.HTTPError as exc:
        log.warning("gorush feedback POST failed: %s", type(exc).__name__)
        return
    if response.status_code != 200:
        log.warning("gorush feedback POST answered HTTP %d", response.status_code)
