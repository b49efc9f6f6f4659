"""Concurrent small calls gathered into one batch call per key.

A front door's sender posts one push per request (Synapse, Mattermost): 64 concurrent
requests each doing their own outbox depth read, transaction and report read spent most of
their time on those round trips. ``Gatherer`` lets such callers ask together: calls made for
a key while a batch of that key is running, or in the same event-loop turn, go as the next
batch; each caller gets its own slice of the answers (or the batch's exception).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")
R = TypeVar("R")


@dataclass(slots=True)
class _Call(Generic[T, R]):
    items: Sequence[T]
    future: asyncio.Future[list[R]]


@dataclass(slots=True)
class _Lane(Generic[T, R]):
    """The calls of one key waiting for the next batch, and whether one is under way."""

    waiting: list[_Call[T, R]] = field(default_factory=list)
    busy: bool = False


class Gatherer(Generic[K, T, R]):
    """``await gatherer(key, items)`` returns ``run(key, gathered)``'s answers for ``items``.

    ``run`` gets the items of several calls in call order and returns one answer per item.
    At most one batch per key runs at a time, so batches grow with the load; a batch holds at
    most ``max_items`` items unless one call alone has more (it then goes alone).
    """

    def __init__(
        self, run: Callable[[K, list[T]], Awaitable[Sequence[R]]], *, max_items: int
    ) -> None:
        self._run = run
        self._max_items = max_items
        self._lanes: dict[K, _Lane[T, R]] = {}

    async def __call__(self, key: K, items: Sequence[T]) -> list[R]:
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane()
        call: _Call[T, R] = _Call(items, asyncio.get_running_loop().create_future())
        lane.waiting.append(call)
        if not lane.busy:
            lane.busy = True  # the calls of this loop turn join before the batch starts
            asyncio.get_running_loop().call_soon(self._start, key, lane)
        return await call.future

    def _start(self, key: K, lane: _Lane[T, R]) -> None:
        calls, count = [], 0
        for call in lane.waiting:
            if calls and count + len(call.items) > self._max_items:
                break
            calls.append(call)
            count += len(call.items)
        del lane.waiting[: len(calls)]
        task = asyncio.get_running_loop().create_task(self._batch(key, calls))
        task.add_done_callback(lambda _: self._next(key, lane))

    async def _batch(self, key: K, calls: list[_Call[T, R]]) -> None:
        try:
            answers = await self._run(key, [item for call in calls for item in call.items])
        except asyncio.CancelledError:
            for call in calls:
                call.future.cancel()
            raise
        except Exception as exc:  # every caller of the batch gets it
            for call in calls:
                if not call.future.done():
                    call.future.set_exception(exc)
            return
        start = 0
        for call in calls:
            end = start + len(call.items)
            if not call.future.done():  # not cancelled meanwhile
                call.future.set_result(list(answers[start:end]))
            start = end

    def _next(self, key: K, lane: _Lane[T, R]) -> None:
        if lane.waiting:
            self._start(key, lane)
        else:
            lane.busy = False
            if self._lanes.get(key) is lane:
                del self._lanes[key]
