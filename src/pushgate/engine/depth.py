"""The outbox depth that the accept path checks, read from the store at most every
``DEPTH_FRESH`` seconds per app.

The check is back-pressure, not an exact bound (gateways sharing a PostgreSQL outbox never
saw each other's accepts in flight either). A reading stands in for ``DEPTH_FRESH`` seconds
with what this gateway accepted since added, so it can only overstate the depth: deliveries
finished since are not subtracted. Reading the counters had been a store round trip ahead of
every accept (the Mattermost door at 1,000/s: p50 0.9 ms of the accept's 4.5 ms).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pushgate.queue.base import OutboxDepth

DEPTH_FRESH = 0.1
"""Seconds a depth reading is used before the counters are read again."""


@dataclass(slots=True)
class _Reading:
    app: int
    total: int
    read_at: float


class DepthGauge:
    """``await gauge.depth(app_id)``: the latest reading plus what was accepted since."""

    def __init__(
        self,
        read: Callable[[str], Awaitable[OutboxDepth]],
        *,
        fresh: float = DEPTH_FRESH,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self._fresh = fresh
        self._clock = clock
        self._readings: dict[str, _Reading] = {}

    async def depth(self, app_id: str) -> OutboxDepth:
        reading = self._readings.get(app_id)
        if reading is None or self._clock() - reading.read_at >= self._fresh:
            read_at = self._clock()
            found = await self._read(app_id)
            reading = self._readings[app_id] = _Reading(found.app, found.total, read_at)
        return OutboxDepth(app=reading.app, total=reading.total)

    def added(self, app_id: str, deliveries: int) -> None:
        """The app's accept of ``deliveries`` committed (other apps' readings of the total
        catch up at their next read)."""
        reading = self._readings.get(app_id)
        if reading is not None:
            reading.app += deliveries
            reading.total += deliveries
