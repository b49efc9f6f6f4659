"""FinishWatch: several waiters on one watch, each with its own time limit."""

from __future__ import annotations

import asyncio

from pushgate.dispatch.jobs import FinishWatch
from pushgate.store import Verdict


def test_every_waiter_gets_the_verdicts_when_the_watch_finishes() -> None:
    async def main() -> list[list[Verdict] | None]:
        watch = FinishWatch()
        waiters = [asyncio.create_task(watch.wait(5.0)) for _ in range(3)]
        await asyncio.sleep(0)
        watch.verdicts.append(Verdict("delivered"))
        watch.finish(seen=True)
        return await asyncio.wait_for(asyncio.gather(*waiters), 1.0)

    assert asyncio.run(main()) == [[Verdict("delivered")]] * 3


def test_a_waiter_that_times_out_gets_none_and_leaves_the_others_waiting() -> None:
    async def main() -> tuple[list[Verdict] | None, list[Verdict] | None]:
        watch = FinishWatch()
        patient = asyncio.create_task(watch.wait(5.0))
        hasty = await watch.wait(0.01)
        assert not patient.done()
        watch.finish(seen=True)
        return hasty, await asyncio.wait_for(patient, 1.0)

    assert asyncio.run(main()) == (None, [])


def test_a_watch_finished_unseen_gives_none_and_a_late_waiter_returns_at_once() -> None:
    async def main() -> tuple[list[Verdict] | None, list[Verdict] | None]:
        watch = FinishWatch()
        waiting = asyncio.create_task(watch.wait(5.0))
        await asyncio.sleep(0)
        watch.finish(seen=False)
        return await asyncio.wait_for(waiting, 1.0), await asyncio.wait_for(watch.wait(5.0), 0.1)

    assert asyncio.run(main()) == (None, None)


def test_a_cancelled_waiter_stops_its_timer_and_the_watch_still_serves_others() -> None:
    async def main() -> list[Verdict] | None:
        loop = asyncio.get_running_loop()

        def live_timers() -> int:
            far = loop.time() + 20
            return sum(  # the stock loop's heap of timer handles
                1
                for h in loop._scheduled
                if not h.cancelled() and h.when() > far  # type: ignore[attr-defined]
            )

        watch = FinishWatch()
        cancelled = asyncio.create_task(watch.wait(30.0))
        other = asyncio.create_task(watch.wait(30.0))
        await asyncio.sleep(0)
        assert live_timers() == 2
        cancelled.cancel()
        await asyncio.sleep(0)
        assert cancelled.cancelled()
        assert live_timers() == 1
        watch.finish(seen=True)
        return await asyncio.wait_for(other, 1.0)

    assert asyncio.run(main()) == []
