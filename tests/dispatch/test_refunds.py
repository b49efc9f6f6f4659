"""A try the push service never processed is not charged as an attempt (issue 12 item 2).

Against a real SQLite outbox; the provider stands in for a push service that refuses a stream
(or loses the connection before the request left) a few times before answering.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from pushgate.config import DispatchSettings, Settings
from pushgate.dispatch.dispatcher import Dispatcher
from pushgate.dispatch.jobs import Job
from pushgate.outcomes import Delivered, Outcome, Retry
from pushgate.store import NewDelivery, NewNotification
from pushgate.store.backends import backend_for


class RefusingService:
    """Answers ``refusals`` uncounted Retries per delivery, then Delivered."""

    platform = "apns"

    def __init__(self, refusals: int, counts: bool) -> None:
        self.tries: dict[int, int] = {}
        self._refusals = refusals
        self._counts = counts

    async def send(self, job: Job) -> Outcome:
        self.tries[job.delivery_id] = self.tries.get(job.delivery_id, 0) + 1
        if self.tries[job.delivery_id] <= self._refusals:
            return Retry(reason="transport: stream_reset", counts=self._counts)
        return Delivered(provider_id="ok")

    def forget_app(self, app_id: str) -> None:
        pass

    async def aclose(self) -> None:
        pass


async def final_report(tmp_path: Path, service: RefusingService) -> dict:
    backend = backend_for(Settings(data_dir=tmp_path, store={"synchronous": "NORMAL"}))
    await backend.open()
    store, outbox = backend.store, backend.outbox
    try:
        app = await store.create_app("a", "h", "p")
        assert app is not None
        delivery = NewDelivery(
            device_id=None,
            user_id="u",
            platform="apns",
            token="ab" * 32,
            apns_environment="sandbox",
        )
        await outbox.accept(
            [NewNotification(id="n1", app_id=app.id, message_json="{}",
                             deadline=time.time() + 60, deliveries=[delivery])]
        )  # fmt: skip
        settings = DispatchSettings(max_attempts=2, backoff_initial=0.001, backoff_max=0.002)
        dispatcher = Dispatcher(outbox, store, {"apns": service}, settings)
        await dispatcher.start()
        try:
            async with asyncio.timeout(10):
                while True:  # the store has no change feed to wait on: poll its report
                    report = await outbox.notification_report(app.id, "n1")
                    if report is not None and report["complete"]:
                        break
                    await asyncio.sleep(0.01)
        finally:
            await dispatcher.stop()
        return report
    finally:
        await backend.close()


async def test_unprocessed_tries_do_not_use_up_the_attempts(tmp_path: Path) -> None:
    service = RefusingService(refusals=5, counts=False)
    (result,) = (await final_report(tmp_path, service))["results"]
    assert result["status"] == "delivered" and service.tries == {1: 6}


async def test_processed_failures_still_do(tmp_path: Path) -> None:
    service = RefusingService(refusals=5, counts=True)
    (result,) = (await final_report(tmp_path, service))["results"]
    assert result["status"] == "failed" and service.tries == {1: 2}


async def test_refunded_tries_still_back_off_exponentially(tmp_path: Path) -> None:
    """A host refusing every connection: the tries grow apart, as charged ones do (not one
    every backoff_initial for the hour of the deadline)."""
    backend = backend_for(Settings(data_dir=tmp_path, store={"synchronous": "NORMAL"}))
    await backend.open()
    service = RefusingService(refusals=10_000, counts=False)
    try:
        app = await backend.store.create_app("a", "h", "p")
        assert app is not None
        delivery = NewDelivery(
            device_id=None,
            user_id="u",
            platform="apns",
            token="ab" * 32,
            apns_environment="sandbox",
        )
        await backend.outbox.accept(
            [NewNotification(id="n1", app_id=app.id, message_json="{}",
                             deadline=time.time() + 60, deliveries=[delivery])]
        )  # fmt: skip
        settings = DispatchSettings(backoff_initial=0.01, backoff_max=10.0)
        dispatcher = Dispatcher(backend.outbox, backend.store, {"apns": service}, settings)
        await dispatcher.start()
        await asyncio.sleep(1.0)
        await dispatcher.stop()
    finally:
        await backend.close()
    # delays of at least 5, 10, 20, ... ms: at most ~9 tries in a second (flat: over 100)
    assert 3 <= service.tries[1] <= 12
