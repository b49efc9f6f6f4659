"""The accept use case every way in shares: write notifications durably, hand them to dispatch.

``/v1/notifications`` and the front doors (Mattermost, Matrix, gorush) call ``accept`` with
notifications whose targets are resolved and whose renders are checked; it answers only once
the store has committed them, then gives them to the dispatcher. ``wait_for_results`` is how
a caller that must answer with the push services' verdicts waits for them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from pushgate.engine.render import render_checked
from pushgate.gateway import Gateway
from pushgate.message import Message
from pushgate.metrics import NOTIFICATIONS_ACCEPTED
from pushgate.notification_ids import new_notification_id
from pushgate.store import NewDelivery, PendingDelivery

WAIT_POLL = 0.05
"""Pause between checks when a waited-for notification is partly still on disk."""


@dataclass(slots=True)
class Submission:
    """One notification ready to be written: its message, deliveries and checked renders."""

    message: Message
    deliveries: list[NewDelivery]
    skipped: list[dict[str, Any]] = field(default_factory=list)
    renders_json: str | None = None
    """What :func:`checked_renders` returned for the message and the deliveries' platforms."""
    message_json: str | None = None
    """The message as stored; computed when not given."""


def checked_renders(message: Message, platforms: Iterable[str]) -> str | None:
    """Check the message against each platform (RequestError if one would refuse it); the
    renders to store with it, as JSON."""
    renders = render_checked(message, platforms)
    return orjson.dumps(renders).decode() if renders else None


async def accept(
    gw: Gateway, app_id: str, submissions: Sequence[Submission]
) -> tuple[list[str], Sequence[PendingDelivery]]:
    """Write the notifications in one durable transaction and submit them for dispatch.

    Returns their ids (in order) and the outbox rows written.
    """
    ids = [new_notification_id() for _ in submissions]
    deadline = gw.deadline_from_now()
    rows = await gw.store.accept_notifications(
        [
            (
                nid,
                app_id,
                s.message_json or s.message.model_dump_json(exclude_defaults=True),
                deadline,
                s.deliveries,
                s.skipped,
                s.renders_json,
            )
            for nid, s in zip(ids, submissions, strict=True)
        ]
    )
    gw.dispatcher.submit(rows, {nid: s.message for nid, s in zip(ids, submissions, strict=True)})
    NOTIFICATIONS_ACCEPTED.inc(len(ids))
    return ids, rows


async def wait_for_results(
    gw: Gateway, app_id: str, notification_id: str, budget: float | None = None
) -> dict[str, Any]:
    """The report once every delivery is final, or as it stands after ``budget`` seconds
    (default ``dispatch.wait_timeout``)."""
    if budget is None:
        budget = gw.settings.dispatch.wait_timeout
    deadline = time.monotonic() + budget
    while True:
        await gw.dispatcher.wait_finished(notification_id, max(0.0, deadline - time.monotonic()))
        report = await gw.store.notification_report(app_id, notification_id)
        assert report is not None
        if report["complete"] or time.monotonic() >= deadline:
            return report
        await asyncio.sleep(WAIT_POLL)
