"""Retention: what was sent is erased after ``retention.days``; devices and credentials stay.

A notification holds the message text and its renders; once every delivery of it is finished
and it is older than the retention time, it goes with its deliveries. Feedback rows and
finished webhook calls (the delivery log) older than that go too; a pending call stays. Pending work is never
purged, however old. The purge walks the notification ids (time-ordered) in pages, so one run
never holds the store's writer for long.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from pushgate.config import RetentionSettings
from pushgate.logs import get_logger
from pushgate.notification_ids import first_id_at
from pushgate.queue.base import Outbox
from pushgate.store.base import FeedbackRepository

PAGE = 2000
"""Notifications erased per statement."""
events = get_logger("pushgate.retention")


class Retention:
    """Runs the purge every ``interval_seconds`` in the background."""

    def __init__(
        self,
        outbox: Outbox,
        feedback: FeedbackRepository,
        settings: RetentionSettings,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._outbox = outbox
        self._feedback = feedback
        self._settings = settings
        self._clock = clock
        self._task: asyncio.Task[None] | None = None

    async def purge(self) -> int:
        """Erase every finished notification older than the retention time (and old
        feedback and webhook calls); how many notifications."""
        cutoff = self._clock() - self._settings.days * 86_400
        await self._feedback.purge_feedback(cutoff)
        before = first_id_at(cutoff)
        total = 0
        while True:
            erased = await self._outbox.purge_finished(before, PAGE)
            total += erased
            if erased < PAGE:
                return total

    def start(self) -> None:
        """Start purging in the background."""
        self._task = asyncio.create_task(self._run(), name="pushgate-retention")

    async def stop(self) -> None:
        """Stop (a purge under way is abandoned; its finished statements stay)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                erased = await self.purge()
            except Exception as exc:  # a failed purge is retried next interval
                events.warning("retention_failed", error=type(exc).__name__)
            else:
                if erased:
                    events.info("retention_purged", notifications=erased)
            await asyncio.sleep(self._settings.interval_seconds)
