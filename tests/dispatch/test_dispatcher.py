"""Dispatch over a real outbox (every backend): windowing, retries, exactly-once hand-out per attempt."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from collections import Counter
from typing import Any

import pytest

from pushgate.config import DispatchSettings
from pushgate.dispatch.dispatcher import Dispatcher
from pushgate.dispatch.jobs import Job
from pushgate.outcomes import Delivered, Outcome, Retry
from pushgate.providers.base import Reporter
from pushgate.queue import Outbox
from pushgate.store import NewDelivery, NewNotification, PendingDelivery, Verdict
from pushgate.store.backends import Backend


class RecordingProvider:
    """A push service stand-in: answers per a script and records what it was sent."""

    platform = "apns"

    def __init__(self, window_probe: list[int], dispatcher_ref: list[Dispatcher]) -> None:
        self.sent: Counter[int] = Counter()
        self.retry_first: set[int] = set()
        self._probe = window_probe
        self._dispatcher = dispatcher_ref

    async def send(self, job: Job) -> Outcome:
        self.sent[job.delivery_id] += 1
        self._probe.append(self._dispatcher[0]._window.held)
        await asyncio.sleep(random.random() / 1000)
        if job.delivery_id in self.retry_first and self.sent[job.delivery_id] == 1:
            return Retry(reason="ServiceUnavailable")
        return Delivered(provider_id=str(job.delivery_id))

    def forget_app(self, app_id: str) -> None:
        pass

    async def aclose(self) -> None:
        pass


@pytest.fixture
async def app_id(backend: Backend) -> str:
    app = await backend.store.create_app("a", "h", "p")
    assert app is not None
    return app.id


def _delivery(token: str) -> NewDelivery:
    return NewDelivery(
        device_id=None, user_id="u", platform="apns", token=token, apns_environment="sandbox"
    )


def _notification(app_id: str, n: int, deliveries: list[NewDelivery]) -> NewNotification:
    return NewNotification(
        id=f"n{n}",
        app_id=app_id,
        message_json="{}",
        deadline=time.time() + 60,
        deliveries=deliveries,
    )


async def accept(backend: Backend, app_id: str, count: int, per_notification: int = 1) -> list[str]:
    for n in range(count):
        deliveries = [_delivery(f"{n:032x}{d:032x}") for d in range(per_notification)]
        await backend.outbox.accept([_notification(app_id, n, deliveries)])
    return [f"n{n}" for n in range(count)]


async def run_until_drained(backend: Backend, app_id: str, ids: list[str]) -> None:
    async with asyncio.timeout(20):
        for notification_id in ids:
            while True:
                report = await backend.outbox.notification_report(app_id, notification_id)
                if report is not None and report["complete"]:
                    break
                await asyncio.sleep(0.01)


def dispatcher_for(
    backend: Backend, provider: RecordingProvider, settings: DispatchSettings
) -> Dispatcher:
    dispatcher = Dispatcher(backend.outbox, backend.store, {"apns": provider}, settings)
    provider._dispatcher.append(dispatcher)
    return dispatcher


async def drain_with(
    backend: Backend,
    app_id: str,
    provider: RecordingProvider,
    settings: DispatchSettings,
    ids: list[str],
) -> Dispatcher:
    """Run a dispatcher with ``provider`` until the notifications are finished, then stop it."""
    dispatcher = dispatcher_for(backend, provider, settings)
    await dispatcher.start()
    try:
        await run_until_drained(backend, app_id, ids)
    finally:
        await dispatcher.stop()
    return dispatcher


async def test_backlog_larger_than_the_window_is_paged_in_and_sent_once(
    backend: Backend, app_id: str
) -> None:
    ids = await accept(backend, app_id, 120, per_notification=3)
    probe: list[int] = []
    provider = RecordingProvider(probe, [])
    settings = DispatchSettings(concurrency=8, window=25, backoff_initial=0.01, backoff_max=0.02)
    await drain_with(backend, app_id, provider, settings, ids)
    assert len(provider.sent) == 360 and set(provider.sent.values()) == {1}
    assert max(probe) <= 25


async def test_fresh_rows_offered_during_a_backlog_are_not_lost_or_doubled(
    backend: Backend, app_id: str
) -> None:
    first = await accept(backend, app_id, 60)
    probe: list[int] = []
    ref: list[Dispatcher] = []
    provider = RecordingProvider(probe, ref)
    provider.retry_first = set(range(1, 400, 7))
    settings = DispatchSettings(concurrency=4, window=10, backoff_initial=0.01, backoff_max=0.02)
    dispatcher = Dispatcher(backend.outbox, backend.store, {"apns": provider}, settings)
    ref.append(dispatcher)
    await dispatcher.start()
    try:
        later = []
        for n in range(60, 160):
            accepted = await backend.outbox.accept(
                [_notification(app_id, n, [_delivery(f"{n:064x}")])]
            )
            if accepted.rows is None:  # a shared outbox: the dispatcher claims them
                dispatcher.new_rows()
            else:
                dispatcher.submit(accepted.rows)
            later.append(f"n{n}")
        await run_until_drained(backend, app_id, first + later)
    finally:
        await dispatcher.stop()
    expected = {i: 2 if i in provider.retry_first else 1 for i in range(1, 161)}
    assert dict(provider.sent) == expected
    assert max(probe) <= 10


class FlakyOutbox:
    """A real outbox whose first read fails, as a locked or failing disk would."""

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox
        self.failures = 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self._outbox, name)

    async def claim(self, after_id: int, limit: int) -> list[PendingDelivery]:
        if self.failures:
            self.failures -= 1
            raise OSError("disk I/O error")
        return await self._outbox.claim(after_id, limit)


async def test_a_failed_outbox_read_is_logged_and_tried_again(
    backend: Backend, app_id: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr("pushgate.dispatch.window.RETRY_READ", 0.05)
    ids = await accept(backend, app_id, 5)
    provider = RecordingProvider([], [])
    flaky = dataclasses.replace(backend, outbox=FlakyOutbox(backend.outbox))
    await drain_with(flaky, app_id, provider, DispatchSettings(), ids)
    assert sorted(provider.sent.values()) == [1] * 5
    assert "reading the outbox failed" in caplog.text


class StartingRecorder(RecordingProvider):
    """Also starts sends at once, like APNs: most report from a later loop iteration, every
    fifth declines (``send`` runs instead), some need a follow-up, some start by raising."""

    def __init__(self, window_probe: list[int], dispatcher_ref: list[Dispatcher]) -> None:
        super().__init__(window_probe, dispatcher_ref)
        self.in_flight_seen: list[int] = []

    def try_start(self, job: Job, reporter: Reporter) -> bool:
        n = job.delivery_id
        if n % 5 == 0:
            return False
        if n % 11 == 3 and self.sent[n] == 0:
            self.sent[n] += 1
            raise RuntimeError("a provider bug")
        self.sent[n] += 1
        self.in_flight_seen.append(self._dispatcher[0]._in_flight)
        loop = asyncio.get_running_loop()
        if n % 5 == 1:
            loop.call_later(random.random() / 1000, reporter.follow_up, job, self._later(job))
        else:
            outcome = Delivered(provider_id=str(n))
            loop.call_later(random.random() / 1000, reporter.report, job, outcome)
        return True

    async def _later(self, job: Job) -> Outcome:
        await asyncio.sleep(random.random() / 1000)
        return Delivered(provider_id=str(job.delivery_id))


async def test_started_sends_report_once_within_the_concurrency_limit(
    backend: Backend, app_id: str
) -> None:
    ids = await accept(backend, app_id, 200)
    provider = StartingRecorder([], [])
    settings = DispatchSettings(concurrency=16, backoff_initial=0.01, backoff_max=0.02)
    dispatcher = await drain_with(backend, app_id, provider, settings, ids)
    raised_first = {n for n in range(1, 201) if n % 11 == 3 and n % 5}
    assert {n: provider.sent[n] for n in raised_first} == dict.fromkeys(raised_first, 2)
    assert all(provider.sent[n] == 1 for n in range(1, 201) if n not in raised_first)
    assert max(provider.in_flight_seen) <= 16 and dispatcher._in_flight == 0
    for notification_id in ids:
        report = await backend.outbox.notification_report(app_id, notification_id)
        assert report is not None and report["counts"] == {"delivered": 1}


class GatedOutbox:
    """A real outbox whose reads (or result writes) wait at a gate once one is set, to hold
    a scan mid-read (or results unwritten)."""

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox
        self.reading = asyncio.Event()
        self.gate: asyncio.Event | None = None
        self.writing = asyncio.Event()
        self.write_gate: asyncio.Event | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._outbox, name)

    async def claim(self, after_id: int, limit: int) -> list[PendingDelivery]:
        if self.gate is not None:
            self.reading.set()
            await self.gate.wait()
        return await self._outbox.claim(after_id, limit)

    async def record_results(self, *args: Any) -> None:
        if self.write_gate is not None:
            self.writing.set()
            await self.write_gate.wait()
        await self._outbox.record_results(*args)


async def gated_dispatcher(
    backend: Backend, app_id: str
) -> tuple[GatedOutbox, RecordingProvider, Dispatcher]:
    """A started dispatcher over a gated outbox, its start-up scan over."""
    gated = GatedOutbox(backend.outbox)
    provider = RecordingProvider([], [])
    dispatcher = dispatcher_for(
        dataclasses.replace(backend, outbox=gated), provider, DispatchSettings()
    )
    await dispatcher.start()
    await run_until_drained(backend, app_id, [])
    return gated, provider, dispatcher


async def test_a_wait_that_begins_during_a_scan_ends_with_the_result(
    backend: Backend, app_id: str
) -> None:
    """Rows committed elsewhere (the API process) and waited for while the loader is
    reading: the waits end once the delivery is decided or its result written, not at once
    (the caller would poll); a verdict wait with the verdict, a notification the dispatcher
    never held with none (the store knows)."""
    gated, provider, dispatcher = await gated_dispatcher(backend, app_id)
    try:
        await asyncio.sleep(0.05)
        gated.gate = asyncio.Event()
        (waited,) = await accept(backend, app_id, 1)
        dispatcher.new_rows()
        async with asyncio.timeout(5):
            await gated.reading.wait()
        waits = [
            asyncio.create_task(dispatcher.wait_finished(waited, 10)),
            asyncio.create_task(dispatcher.wait_finished(waited, 10, decided=True)),
            asyncio.create_task(dispatcher.wait_finished("n-finished-long-ago", 10)),
            asyncio.create_task(dispatcher.wait_finished("n-finished-long-ago", 10, decided=True)),
        ]
        await asyncio.sleep(0.01)
        assert not any(w.done() for w in waits)
        gated.gate.set()
        async with asyncio.timeout(5):  # all end with the scan's outcome, not the 10 s
            assert await waits[0] is None
            report = await backend.outbox.notification_report(app_id, waited)
            assert report is not None and report["complete"]
            assert await waits[1] == [Verdict("delivered")]
            assert await waits[2] is None
            assert await waits[3] is None
    finally:
        await dispatcher.stop()
    assert dict(provider.sent) == {1: 1}


async def test_a_verdict_wait_ends_when_the_service_answered_before_the_result_is_written(
    backend: Backend, app_id: str
) -> None:
    """A front door answers with the push service's verdicts without waiting for their
    write; a wait for the written results still waits for it, and so does a verdict wait
    that began after the decision (its verdict is only in the write under way)."""
    gated, provider, dispatcher = await gated_dispatcher(backend, app_id)
    try:
        gated.write_gate = asyncio.Event()
        (waited,) = await accept(backend, app_id, 1, per_notification=2)
        dispatcher.new_rows()
        written = asyncio.create_task(dispatcher.wait_finished(waited, 10))
        decided = asyncio.create_task(dispatcher.wait_finished(waited, 10, decided=True))
        async with asyncio.timeout(5):
            assert await decided == [Verdict("delivered"), Verdict("delivered")]
            await gated.writing.wait()
        late = asyncio.create_task(dispatcher.wait_finished(waited, 10, decided=True))
        await asyncio.sleep(0.05)
        assert not written.done() and not late.done()
        report = await backend.outbox.notification_report(app_id, waited)
        assert report is not None and not report["complete"]
        gated.write_gate.set()
        async with asyncio.timeout(5):
            assert await written is None
            assert await late is None
        report = await backend.outbox.notification_report(app_id, waited)
        assert report is not None and report["complete"]
    finally:
        await dispatcher.stop()
    assert sorted(provider.sent.values()) == [1, 1]


async def test_rows_offered_after_the_loader_sent_them_are_not_sent_again(
    backend: Backend, app_id: str
) -> None:
    """The dispatcher process gets the API's committed rows over its pipe, and its loader
    may have read, sent and released them first (a backlog, a start-up scan): such a late
    offer sends nothing; a row the loader has not reached is taken."""
    provider = RecordingProvider([], [])
    dispatcher = dispatcher_for(backend, provider, DispatchSettings())
    await dispatcher.start()
    try:
        (first,) = await accept(backend, app_id, 1)
        dispatcher.new_rows()
        await run_until_drained(backend, app_id, [first])
        report = await backend.outbox.notification_report(app_id, first)
        assert report is not None
        (sent,) = report["results"]
        late = PendingDelivery(
            sent["delivery_id"], first, app_id, None, "apns", sent["token"], "sandbox", None,
            0, 0.0, "{}", time.time() + 60, time.time(),
        )  # fmt: skip
        dispatcher.submit([late])
        await backend.outbox.accept([_notification(app_id, 1, [_delivery("f" * 64)])])
        report = await backend.outbox.notification_report(app_id, "n1")
        assert report is not None
        (fresh,) = report["results"]
        dispatcher.submit(
            [dataclasses.replace(late, id=fresh["delivery_id"], notification_id="n1")]
        )
        await run_until_drained(backend, app_id, ["n1"])
    finally:
        await dispatcher.stop()
    assert dict(provider.sent) == {sent["delivery_id"]: 1, fresh["delivery_id"]: 1}
