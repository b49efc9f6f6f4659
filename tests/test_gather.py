"""Gatherer: concurrent calls become one batch call per key, each caller getting its part."""

from __future__ import annotations

import asyncio

import pytest

from pushgate.engine.gather import Gatherer


class Recorder:
    """A batch function that records its batches and answers each item doubled."""

    def __init__(self, pause: float = 0.0) -> None:
        self.batches: list[tuple[str, list[int]]] = []
        self.pause = pause

    async def __call__(self, key: str, items: list[int]) -> list[int]:
        self.batches.append((key, list(items)))
        await asyncio.sleep(self.pause)
        if -1 in items:
            raise ValueError("refused")
        return [item * 2 for item in items]


async def test_calls_of_one_loop_turn_go_as_one_batch():
    run = Recorder()
    gather = Gatherer(run, max_items=100)
    answers = await asyncio.gather(gather("a", [1, 2]), gather("a", [3]), gather("a", []))
    assert answers == [[2, 4], [6], []]
    assert run.batches == [("a", [1, 2, 3])]


async def test_calls_made_while_a_batch_runs_go_together_next():
    run = Recorder(pause=0.05)
    gather = Gatherer(run, max_items=100)
    first = asyncio.ensure_future(gather("a", [1]))
    await asyncio.sleep(0.01)  # the first batch is running
    later = [asyncio.ensure_future(gather("a", [n])) for n in (2, 3, 4)]
    assert await first == [2] and [await f for f in later] == [[4], [6], [8]]
    assert run.batches == [("a", [1]), ("a", [2, 3, 4])]


async def test_batches_are_bounded_and_a_large_call_goes_alone():
    run = Recorder()
    gather = Gatherer(run, max_items=3)
    answers = await asyncio.gather(
        gather("a", [1, 2]), gather("a", [3, 4]), gather("a", [5, 6, 7, 8]), gather("a", [9])
    )
    assert answers == [[2, 4], [6, 8], [10, 12, 14, 16], [18]]
    assert [items for _, items in run.batches] == [[1, 2], [3, 4], [5, 6, 7, 8], [9]]


async def test_keys_are_batched_apart():
    run = Recorder()
    gather = Gatherer(run, max_items=100)
    assert await asyncio.gather(gather("a", [1]), gather("b", [2]), gather("a", [3])) == [
        [2],
        [4],
        [6],
    ]
    assert sorted(run.batches) == [("a", [1, 3]), ("b", [2])]


async def test_a_failed_batch_fails_its_callers_only():
    run = Recorder(pause=0.02)
    gather = Gatherer(run, max_items=100)
    failing = [asyncio.ensure_future(gather("a", [n])) for n in (1, -1)]
    await asyncio.sleep(0.01)
    next_batch = asyncio.ensure_future(gather("a", [5]))
    for call in failing:
        with pytest.raises(ValueError, match="refused"):
            await call
    assert await next_batch == [10]


async def test_a_cancelled_caller_leaves_the_others_their_answers():
    run = Recorder(pause=0.02)
    gather = Gatherer(run, max_items=100)
    calls = [asyncio.ensure_future(gather("a", [n])) for n in (1, 2)]
    await asyncio.sleep(0)
    calls[0].cancel()
    assert await calls[1] == [4]
    assert calls[0].cancelled() and run.batches == [("a", [1, 2])]
