"""Live delivery rates: the Prometheus delivery counters sampled once a second, kept 5 minutes.

The counters live in the API process (the dispatcher process reports its counts to it), so
sampling them here covers both processes without a query to the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from itertools import pairwise
from typing import Any

from pushgate.metrics import RESULTS, delivery_totals
from pushgate.store.models import PLATFORMS

INTERVAL = 1.0
KEEP = 300


class DeliveryRates:
    """A ring of counter samples and the per-second rates between them."""

    def __init__(self, *, interval: float = INTERVAL, keep: int = KEEP) -> None:
        self.interval = interval
        self._samples: deque[tuple[float, dict[tuple[str, str], float]]] = deque(maxlen=keep + 1)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Sample in the background until ``stop``."""
        self.sample()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop sampling."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def sample(self, now: float | None = None) -> None:
        """Take one sample of every delivery counter."""
        self._samples.append((time.time() if now is None else now, delivery_totals()))

    def report(self) -> dict[str, Any]:
        """Per platform and outcome: the rate (per second) over each interval, and the total."""
        samples = list(self._samples)
        times = [t for t, _ in samples[1:]]
        series = []
        for platform in PLATFORMS:
            for result in RESULTS:
                key = (platform, result)
                rates = [
                    round((now[key] - before[key]) / max(t - t0, 1e-9), 3)
                    for (t0, before), (t, now) in pairwise(samples)
                ]
                total = samples[-1][1][key] if samples else 0.0
                series.append(
                    {"platform": platform, "result": result, "rates": rates, "total": total}
                )
        return {"interval": self.interval, "times": times, "series": series}

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.sample()
