"""The accept path's depth reading: re-read after DEPTH_FRESH, accepts added meanwhile."""

from __future__ import annotations

from pushgate.engine.depth import DEPTH_FRESH, DepthGauge
from pushgate.queue.base import OutboxDepth


class Counters:
    """The store's depth counters as a test sets them; counts the reads."""

    def __init__(self) -> None:
        self.app = 0
        self.total = 0
        self.reads = 0

    async def read(self, app_id: str) -> OutboxDepth:
        self.reads += 1
        return OutboxDepth(app=self.app, total=self.total)


async def test_a_reading_stands_for_its_freshness_with_accepts_added() -> None:
    counters, now = Counters(), [100.0]
    gauge = DepthGauge(counters.read, clock=lambda: now[0])
    counters.app, counters.total = 5, 8
    assert await gauge.depth("a") == OutboxDepth(app=5, total=8)
    gauge.added("a", 3)
    counters.app = 0  # everything was sent meanwhile: not seen until the next read
    now[0] += DEPTH_FRESH / 2
    assert await gauge.depth("a") == OutboxDepth(app=8, total=11)
    assert counters.reads == 1
    now[0] += DEPTH_FRESH
    assert await gauge.depth("a") == OutboxDepth(app=0, total=8)
    assert counters.reads == 2


async def test_each_app_has_its_own_reading() -> None:
    counters = Counters()
    gauge = DepthGauge(counters.read)
    await gauge.depth("a")
    gauge.added("b", 4)  # no reading of b yet: nothing to add to
    counters.app = 2
    assert await gauge.depth("b") == OutboxDepth(app=2, total=0)
    assert counters.reads == 2
