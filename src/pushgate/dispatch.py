"""Dispatch: moves outbox deliveries to the providers and writes back what happened.

The outbox on disk is the truth; this module keeps an in-memory schedule of it (ready jobs
and a timer heap for retries), sends with bounded concurrency, and writes outcomes in
batches. A delivery leaves the outbox only when its final state is committed, so a crash at
any point re-sends rather than loses (at-least-once).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping

from pushgate.config import DispatchSettings
from pushgate.jobs import Job, Notice
from pushgate.message import Message
from pushgate.metrics import RESULT_COUNTERS
from pushgate.outcomes import Delivered, Outcome, Rejected, Retry, Unregistered
from pushgate.providers.base import Provider
from pushgate.store import DeliveryResult, PendingDelivery, SqliteStore

log = logging.getLogger("pushgate.dispatch")

FLUSH_INTERVAL = 0.005
LOAD_PAGE = 10_000


class Dispatcher:
    """Schedules, sends, retries and records deliveries."""

    def __init__(
        self,
        store: SqliteStore,
        providers: Mapping[str, Provider],
        settings: DispatchSettings,
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self._store = store
        self._providers = providers
        self._settings = settings
        self._clock = clock
        self._rng = rng or random.Random()
        self._ready: deque[Job] = deque()
        self._delayed: list[tuple[float, int, Job]] = []
        self._sequence = itertools.count()
        self._notices: dict[str, Notice] = {}
        self._wakeup = asyncio.Event()
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._results: list[tuple[Job, DeliveryResult]] = []
        self._flush_wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._inflight: set[asyncio.Task[None]] = set()

    # -- life cycle ---------------------------------------------------------------------

    async def start(self) -> int:
        """Load the outbox left by a previous run and start the loops; returns rows loaded."""
        loaded = await self._load_outbox()
        self._tasks = [
            asyncio.create_task(self._send_loop(), name="pushgate-dispatch"),
            asyncio.create_task(self._flush_loop(), name="pushgate-results"),
        ]
        return loaded

    async def stop(self) -> None:
        """Stop sending; in-flight sends finish and their results are written."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._inflight:
            await asyncio.wait(self._inflight, timeout=5)
        await self._flush()

    async def _load_outbox(self) -> int:
        after, total = 0, 0
        while True:
            page = await self._store.pending_deliveries(after_id=after, limit=LOAD_PAGE)
            if not page:
                return total
            self.submit(page)
            after, total = page[-1].id, total + len(page)

    # -- intake -------------------------------------------------------------------------

    def submit(self, rows: Iterable[PendingDelivery], message: Message | None = None) -> None:
        """Schedule durable outbox rows (``message`` saves re-parsing a fresh notification)."""
        for row in rows:
            notice = self._notices.get(row.notification_id)
            if notice is None:
                notice = Notice(
                    id=row.notification_id,
                    app_id=row.app_id,
                    message=message or Message.model_validate_json(row.message_json),
                    deadline=row.deadline,
                )
                self._notices[notice.id] = notice
            notice.remaining += 1
            job = Job(
                delivery_id=row.id,
                notice=notice,
                device_id=row.device_id,
                platform=row.platform,
                token=row.token,
                environment=row.environment,
                attempts=row.attempts,
                due=row.next_attempt_at,
                extra=row.extra,
            )
            self._schedule(job)
        self._wakeup.set()

    async def wait_finished(self, notification_id: str, within: float) -> bool:
        """Wait until every delivery of a notification is final; False if ``within`` passes."""
        notice = self._notices.get(notification_id)
        if notice is None:
            return True
        try:
            await asyncio.wait_for(notice.finished.wait(), within)
        except TimeoutError:
            return False
        return True

    def deadline_from_now(self) -> float:
        """When a notification accepted now is given up if still undelivered."""
        return self._clock() + self._settings.retry_deadline

    def _schedule(self, job: Job) -> None:
        if job.due <= self._clock():
            self._ready.append(job)
        else:
            heapq.heappush(self._delayed, (job.due, next(self._sequence), job))

    # -- sending ------------------------------------------------------------------------

    async def _send_loop(self) -> None:
        while True:
            self._promote_due()
            if not self._ready:
                await self._sleep_until_work()
                continue
            job = self._ready.popleft()
            await self._slots.acquire()
            task = asyncio.create_task(self._attempt(job))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

    def _promote_due(self) -> None:
        now = self._clock()
        while self._delayed and self._delayed[0][0] <= now:
            self._ready.append(heapq.heappop(self._delayed)[2])

    async def _sleep_until_work(self) -> None:
        self._wakeup.clear()
        timeout = None
        if self._delayed:
            timeout = max(0.0, self._delayed[0][0] - self._clock())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), timeout)

    async def _attempt(self, job: Job) -> None:
        try:
            provider = self._providers.get(job.platform)
            if provider is None:
                outcome: Outcome = Rejected(reason=f"no provider for platform {job.platform}")
            else:
                outcome = await provider.send(job)
        except Exception:
            log.exception("provider raised while sending delivery %s", job.delivery_id)
            outcome = Retry(reason="internal_error")
        finally:
            self._slots.release()
        self._settle(job, outcome)

    # -- outcomes -----------------------------------------------------------------------

    def _settle(self, job: Job, outcome: Outcome) -> None:
        job.attempts += 1
        if isinstance(outcome, Retry):
            result = self._retry_or_fail(job, outcome)
        else:
            result = _final_result(job, outcome)
        counter = RESULT_COUNTERS.get(
            (job.platform, "retry" if result.state == "pending" else result.state)
        )
        if counter is not None:
            counter.inc()
        self._results.append((job, result))
        self._flush_wakeup.set()

    def _retry_or_fail(self, job: Job, outcome: Retry) -> DeliveryResult:
        delay = self._backoff(job.attempts, outcome.after)
        due = self._clock() + delay
        if job.attempts >= self._settings.max_attempts or due > job.notice.deadline:
            return DeliveryResult(
                delivery_id=job.delivery_id,
                state="failed",
                attempts=job.attempts,
                reason=f"retries exhausted: {outcome.reason}",
            )
        job.due = due
        return DeliveryResult(
            delivery_id=job.delivery_id,
            state="pending",
            attempts=job.attempts,
            next_attempt_at=due,
            reason=outcome.reason,
        )

    def _backoff(self, attempts: int, requested: float | None) -> float:
        base = self._settings.backoff_initial * 2 ** (attempts - 1)
        jittered = min(self._settings.backoff_max, base) * self._rng.uniform(0.5, 1.0)
        return max(jittered, requested or 0.0)

    async def _flush_loop(self) -> None:
        while True:
            await self._flush_wakeup.wait()
            self._flush_wakeup.clear()
            await self._flush()
            await asyncio.sleep(FLUSH_INTERVAL)

    async def _flush(self) -> None:
        batch, self._results = self._results, []
        if not batch:
            return
        try:
            await self._store.record_results(result for _, result in batch)
        except Exception:
            log.exception("writing %d delivery results failed; retrying", len(batch))
            self._results[:0] = batch
            self._flush_wakeup.set()
            return
        for job, result in batch:
            if result.state == "pending":
                self._schedule(job)
            else:
                self._finish(job.notice)
        self._wakeup.set()

    def _finish(self, notice: Notice) -> None:
        notice.remaining -= 1
        if notice.remaining == 0:
            notice.finished.set()
            self._notices.pop(notice.id, None)


def _final_result(job: Job, outcome: Outcome) -> DeliveryResult:
    common = {"delivery_id": job.delivery_id, "attempts": job.attempts}
    if isinstance(outcome, Delivered):
        return DeliveryResult(state="delivered", provider_id=outcome.provider_id, **common)
    if isinstance(outcome, Unregistered):
        since = outcome.since.timestamp() if outcome.since else time.time()
        return DeliveryResult(
            state="unregistered",
            reason=outcome.reason,
            unregistered_at=since,
            deactivate_device_id=job.device_id,
            **common,
        )
    assert isinstance(outcome, Rejected)
    return DeliveryResult(
        state="rejected", reason=outcome.reason, status_code=outcome.status, **common
    )
