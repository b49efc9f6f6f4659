"""Dispatch over a real SQLite outbox: windowing, retries, exactly-once hand-out per attempt."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from collections import Counter
from pathlib import Path

import pytest

from pushgate.config import DispatchSettings
from pushgate.dispatch import Dispatcher
from pushgate.jobs import Job
from pushgate.outcomes import Delivered, Outcome, Retry
from pushgate.providers.base import Reporter
from pushgate.store import NewDelivery, SqliteStore


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
async def store(tmp_path: Path):
    s = SqliteStore(tmp_path / "db.sqlite", synchronous="NORMAL")
    s.open()
    app = await s.create_app("a", "h", "p")
    assert app is not None
    s.app_id = app.id  # type: ignore[attr-defined]
    yield s
    s.close()


async def accept(store: SqliteStore, count: int, per_notification: int = 1) -> list[str]:
    ids = []
    for n in range(count):
        deliveries = [
            NewDelivery(
                device_id=None,
                user_id="u",
                platform="apns",
                token=f"{n:032x}{d:032x}",
                environment="sandbox",
            )
            for d in range(per_notification)
        ]
        await store.accept_notification(
            notification_id=f"n{n}",
            app_id=store.app_id,
            message_json="{}",  # type: ignore[attr-defined]
            deadline=time.time() + 60,
            deliveries=deliveries,
            skipped=[],
        )
        ids.append(f"n{n}")
    return ids


async def run_until_drained(store: SqliteStore, dispatcher: Dispatcher, ids: list[str]) -> None:
    app_id = store.app_id  # type: ignore[attr-defined]
    async with asyncio.timeout(20):
        for notification_id in ids:
            while True:
                report = await store.notification_report(app_id, notification_id)
                if report is not None and report["complete"]:
                    break
                await asyncio.sleep(0.01)


async def drain_with(
    store: SqliteStore, provider: RecordingProvider, settings: DispatchSettings, ids: list[str]
) -> Dispatcher:
    """Run a dispatcher with ``provider`` until the notifications are finished, then stop it."""
    dispatcher = Dispatcher(store, {"apns": provider}, settings)
    provider._dispatcher.append(dispatcher)
    await dispatcher.start()
    try:
        await run_until_drained(store, dispatcher, ids)
    finally:
        await dispatcher.stop()
    return dispatcher


async def test_backlog_larger_than_the_window_is_paged_in_and_sent_once(
    store: SqliteStore,
) -> None:
    ids = await accept(store, 120, per_notification=3)
    probe: list[int] = []
    provider = RecordingProvider(probe, [])
    settings = DispatchSettings(concurrency=8, window=25, backoff_initial=0.01, backoff_max=0.02)
    await drain_with(store, provider, settings, ids)
    assert len(provider.sent) == 360 and set(provider.sent.values()) == {1}
    assert max(probe) <= 25


async def test_fresh_rows_offered_during_a_backlog_are_not_lost_or_doubled(
    store: SqliteStore,
) -> None:
    first = await accept(store, 60)
    probe: list[int] = []
    ref: list[Dispatcher] = []
    provider = RecordingProvider(probe, ref)
    provider.retry_first = set(range(1, 400, 7))
    settings = DispatchSettings(concurrency=4, window=10, backoff_initial=0.01, backoff_max=0.02)
    dispatcher = Dispatcher(store, {"apns": provider}, settings)
    ref.append(dispatcher)
    await dispatcher.start()
    try:
        later = []
        for n in range(60, 160):
            rows = await store.accept_notification(
                notification_id=f"n{n}",
                app_id=store.app_id,
                message_json="{}",  # type: ignore[attr-defined]
                deadline=time.time() + 60,
                deliveries=[
                    NewDelivery(
                        device_id=None,
                        user_id="u",
                        platform="apns",
                        token=f"{n:064x}",
                        environment="sandbox",
                    )
                ],
                skipped=[],
            )
            dispatcher.submit(rows)
            later.append(f"n{n}")
        await run_until_drained(store, dispatcher, first + later)
    finally:
        await dispatcher.stop()
    expected = {i: 2 if i in provider.retry_first else 1 for i in range(1, 161)}
    assert dict(provider.sent) == expected
    assert max(probe) <= 10


class FlakyStore(SqliteStore):
    """A real store whose first outbox read fails, as a locked or failing disk would."""

    failures = 1

    async def pending_deliveries(self, after_id: int = 0, limit: int = 10_000):  # type: ignore[override]
        if self.failures:
            self.failures -= 1
            raise sqlite3.OperationalError("disk I/O error")
        return await super().pending_deliveries(after_id, limit)


async def test_a_failed_outbox_read_is_logged_and_tried_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr("pushgate.window.RETRY_READ", 0.05)
    flaky = FlakyStore(tmp_path / "db.sqlite", synchronous="NORMAL")
    flaky.open()
    try:
        app = await flaky.create_app("a", "h", "p")
        assert app is not None
        flaky.app_id = app.id  # type: ignore[attr-defined]
        ids = await accept(flaky, 5)
        provider = RecordingProvider([], [])
        await drain_with(flaky, provider, DispatchSettings(), ids)
        assert sorted(provider.sent.values()) == [1] * 5
        assert "reading the outbox failed" in caplog.text
    finally:
        flaky.close()


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
    store: SqliteStore,
) -> None:
    ids = await accept(store, 200)
    provider = StartingRecorder([], [])
    settings = DispatchSettings(concurrency=16, backoff_initial=0.01, backoff_max=0.02)
    dispatcher = await drain_with(store, provider, settings, ids)
    raised_first = {n for n in range(1, 201) if n % 11 == 3 and n % 5}
    assert {n: provider.sent[n] for n in raised_first} == dict.fromkeys(raised_first, 2)
    assert all(provider.sent[n] == 1 for n in range(1, 201) if n not in raised_first)
    assert max(provider.in_flight_seen) <= 16 and dispatcher._in_flight == 0
    for notification_id in ids:
        report = await store.notification_report(store.app_id, notification_id)  # type: ignore[attr-defined]
        assert report is not None and report["counts"] == {"delivered": 1}
