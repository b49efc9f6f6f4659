"""Everything that sends: transport pool, providers and dispatcher over one store, wired once.

A ``DeliveryStack`` runs inside the API process (``dispatch.separate_process = false``, or
tests with an injected clock) or alone in the dispatcher process (``dispatch.process``).
Both sides give the API the same small surface, ``DispatchControl``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Protocol

from prometheus_client import generate_latest

from pushgate.config import Settings
from pushgate.credentials import CredentialRegistry
from pushgate.dispatch.dispatcher import Dispatcher
from pushgate.message import Message
from pushgate.metrics import DISPATCH_REGISTRY
from pushgate.providers.apns_client import ApnsProvider
from pushgate.providers.base import Provider
from pushgate.providers.fcm_client import FcmProvider
from pushgate.providers.webpush_client import WebPushProvider
from pushgate.queue import Accepted, Outbox
from pushgate.store import Store, Verdict
from pushgate.transport import HTTP2Pool


class DispatchControl(Protocol):
    """What the API needs from dispatch, wherever it runs."""

    async def start(self) -> None:
        """Start sending what the outbox holds."""

    async def stop(self) -> None:
        """Finish in-flight sends and write their results."""

    def submit(self, accepted: Accepted, messages: Mapping[str, Message]) -> None:
        """Freshly committed outbox rows are ready to send."""

    async def wait_finished(
        self, notification_id: str, within: float, *, decided: bool = False
    ) -> list[Verdict] | None:
        """Return once the notification has nothing left in flight, or, ``decided``, once
        each of its deliveries' outcome is known (results may still be being written), or
        after ``within`` s. ``decided`` waits return the verdicts of the deliveries seen
        decided meanwhile; None if none was (decided before the wait, elsewhere, or not yet:
        the store knows)."""

    def forget_app(self, app_id: str) -> None:
        """The app's credentials changed: load them again before the next send."""

    def metrics_text(self) -> bytes:
        """The sending side's metrics (``DISPATCH_REGISTRY``) in Prometheus text."""

    @property
    def running(self) -> bool:
        """Whether the sending side is up (the dispatcher process, or this one's)."""


class DeliveryStack:
    """Pool, providers and dispatcher of one process."""

    def __init__(
        self,
        settings: Settings,
        outbox: Outbox,
        store: Store,
        registry: CredentialRegistry,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.pool = HTTP2Pool()  # each provider sizes and times out its origins itself
        pool = self.pool
        self.providers: dict[str, Provider] = {
            "apns": ApnsProvider(pool=pool, registry=registry, settings=settings.apns, clock=clock),
            "fcm": FcmProvider(pool=pool, registry=registry, settings=settings.fcm, clock=clock),
            "webpush": WebPushProvider(
                pool=pool, registry=registry, settings=settings.webpush, clock=clock
            ),
        }
        self.dispatcher = Dispatcher(outbox, store, self.providers, settings.dispatch)

    async def start(self) -> None:
        """Start the dispatcher's loops; the outbox left by an earlier run is paged in."""
        await self.dispatcher.start()

    async def stop(self) -> None:
        """Stop sending, write the results in hand, close every connection."""
        await self.dispatcher.stop()
        for provider in self.providers.values():
            await provider.aclose()
        await self.pool.aclose()

    def submit(self, accepted: Accepted, messages: Mapping[str, Message]) -> None:
        """Hand committed rows straight to the dispatcher's window (or have it claim them)."""
        if accepted.rows is None:
            self.dispatcher.new_rows()
        else:
            self.dispatcher.submit(accepted.rows, messages)

    def new_rows(self) -> None:
        """Rows were committed by another process: claim them from the outbox."""
        self.dispatcher.new_rows()

    async def wait_finished(
        self, notification_id: str, within: float, *, decided: bool = False
    ) -> list[Verdict] | None:
        """Wait for the notification's deliveries in memory (see ``Dispatcher``)."""
        return await self.dispatcher.wait_finished(notification_id, within, decided=decided)

    def forget_app(self, app_id: str) -> None:
        """Make every provider reload the app's credentials."""
        self.dispatcher.credentials_changed(app_id)

    def metrics_text(self) -> bytes:
        """The sending side's metrics, read now."""
        return generate_latest(DISPATCH_REGISTRY)

    @property
    def running(self) -> bool:
        """Up between ``start`` and ``stop``."""
        return self.dispatcher.running
