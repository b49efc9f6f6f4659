"""API load: batches of notifications POSTed to /v1/notifications/batch, paced or closed-loop.

Notification number k goes to user ``user(k % users)``, who has exactly one device
(``token(k % users)``), so every notification is one push and the sink can match it by token.
Times are CLOCK_MONOTONIC nanoseconds, the clock the timing sink stamps arrivals with.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import orjson

from bench._procs import BenchError
from bench._workload import message_fields, user

BATCH = 1000


@dataclass(frozen=True, slots=True)
class Batch:
    """One batch request: which notifications, when it was sent and answered."""

    first: int
    count: int
    sent_ns: int
    answered_ns: int
    accepted: int


class ApiLoad:
    """Builds and posts batches for one app."""

    def __init__(self, client: httpx.AsyncClient, *, users: int, batch: int = BATCH) -> None:
        self._client = client
        self._users = users
        self._batch = batch
        self.batches: list[Batch] = []
        self._next = 0

    @property
    def accepted(self) -> int:
        """Deliveries the API has accepted so far."""
        return sum(b.accepted for b in self.batches)

    def _body(self, first: int) -> bytes:
        notifications = [
            {**message_fields(k), "user_ids": [user(k % self._users)]}
            for k in range(first, first + self._batch)
        ]
        return orjson.dumps({"notifications": notifications})

    async def post_next(self) -> Batch:
        """Send the next batch and record it; BenchError unless it is accepted in full."""
        first, self._next = self._next, self._next + self._batch
        body = self._body(first)
        sent = time.monotonic_ns()
        response = await self._client.post(
            "/v1/notifications/batch", content=body, headers={"content-type": "application/json"}
        )
        answered = time.monotonic_ns()
        if response.status_code != 202:
            raise BenchError(f"batch refused: {response.status_code} {response.text[:300]}")
        accepted = int(response.json()["deliveries"])
        if accepted != self._batch:
            raise BenchError(f"batch at {first}: {accepted} of {self._batch} deliveries accepted")
        batch = Batch(first, self._batch, sent, answered, accepted)
        self.batches.append(batch)
        return batch

    async def paced(self, rate: float, duration: float, *, max_in_flight: int = 4) -> None:
        """Open loop: one batch every batch/rate seconds for ``duration`` s (catching up if late)."""
        interval = self._batch / rate
        start = time.monotonic()
        tasks: set[asyncio.Task[Batch]] = set()
        count = int(duration / interval)
        for index in range(count):
            await asyncio.sleep(max(0.0, start + index * interval - time.monotonic()))
            while len(tasks) >= max_in_flight:
                await _first_done(tasks)
            tasks.add(asyncio.create_task(self.post_next()))
        while tasks:
            await _first_done(tasks)

    async def closed(
        self, duration: float, backlog: Callable[[], int], *, max_backlog: int, in_flight: int = 2
    ) -> None:
        """As fast as the API accepts, ``in_flight`` batches at a time, while the outbox
        backlog stays under ``max_backlog`` (so the test measures delivery, not queueing)."""
        stop = time.monotonic() + duration
        tasks: set[asyncio.Task[Batch]] = set()
        while time.monotonic() < stop:
            if len(tasks) >= in_flight:
                await _first_done(tasks)
            elif backlog() > max_backlog:
                await asyncio.sleep(0.02)
            else:
                tasks.add(asyncio.create_task(self.post_next()))
        while tasks:
            await _first_done(tasks)


async def _first_done(tasks: set[asyncio.Task[Batch]]) -> None:
    done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in done:
        tasks.discard(task)
        task.result()


def client(url: str, api_key: str) -> httpx.AsyncClient:
    """An HTTP/1.1 client for the gateway API (127.0.0.1)."""
    return httpx.AsyncClient(
        base_url=url,
        headers={"authorization": f"Bearer {api_key}"},
        timeout=60,
        limits=httpx.Limits(max_connections=8),
    )
