"""The outbox protocol: accept, claim a page, record results, report.

Accepted work is durable when ``accept`` returns. A delivery leaves the outbox only when its
final result is recorded, so a dispatcher that dies mid-send leaves it to be sent again
(at-least-once). With several gateways on one database (PostgreSQL), ``claim`` hands each
row to one dispatcher at a time under a lease that the dispatcher renews while it holds the
row; a dead dispatcher's rows are claimed by another once the lease runs out.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pushgate.store.models import DeliveryResult, NewNotification, PendingDelivery


@dataclass(frozen=True, slots=True)
class Accepted:
    """What ``accept`` wrote: how many deliveries, and the rows for an in-process dispatcher.

    ``rows`` is None when the backend hands rows out only through ``claim`` (leases): the
    dispatcher is then told that the outbox grew and claims them.
    """

    count: int
    rows: Sequence[PendingDelivery] | None
    earlier: Mapping[str, str] = field(default_factory=dict)
    """Keyed notifications not written because their key was taken: their id -> the id of
    the notification that holds the key (a peer's retry, answered with the first)."""


@dataclass(frozen=True, slots=True)
class OutboxDepth:
    """Deliveries accepted and not yet final: of one app, and of all apps together."""

    app: int
    total: int


def depth_changes(batch: Sequence[NewNotification]) -> list[tuple[str, int]]:
    """(app id, deliveries) a batch adds to the depth counters; ``""`` counts all apps.

    In one order (``""`` first, then by app id), so concurrent writers take the counter
    rows' locks in the same order."""
    per_app: dict[str, int] = {}
    for n in batch:
        per_app[n.app_id] = per_app.get(n.app_id, 0) + len(n.deliveries)
    total = sum(per_app.values())
    return [("", total), *sorted(per_app.items())] if total else []


@dataclass(frozen=True, slots=True)
class Remembered:
    """The first answer to a request sent with an ``Idempotency-Key``."""

    fingerprint: str
    """What the request was (endpoint and body): a repeat must match it."""
    status: int
    answer_json: str


@dataclass(frozen=True, slots=True)
class Remember(Remembered):
    """An answer to keep with the accept that produced it, until ``expires_at``."""

    app_id: str
    key: str
    expires_at: float


WriteStep = Callable[[Any], Any]
"""Another repository's writes to make in an accept's transaction: a function of the
backend's connection (``sqlite3.Connection``, called on the writer thread; on PostgreSQL an
``asyncpg.Connection``, awaited). What it raises aborts the accept: nothing is written."""


class KeyTaken(Exception):
    """``accept`` found the idempotency key held by a request accepted meanwhile; nothing
    was written."""


class OutboxEvents(Protocol):
    """What a dispatcher wants to hear from a shared database."""

    def new_rows(self) -> None:
        """Rows were accepted (by any gateway): claim them."""

    def credentials_changed(self, app_id: str) -> None:
        """An app's credentials changed (on any gateway): load them again."""

    def held_ids(self) -> Collection[int]:
        """The deliveries this dispatcher holds (whose leases it must renew)."""


class Outbox(Protocol):
    """The durable outbox of one backend."""

    page_size: int
    """Rows per claim once a scan is under way."""
    poll_interval: float | None
    """Seconds between two claims when nothing was heard (to take over expired leases);
    None when one dispatcher owns the outbox and is told of every new row."""

    async def accept(
        self,
        batch: Sequence[NewNotification],
        remember: Remember | None = None,
        also: WriteStep | None = None,
    ) -> Accepted:
        """Write notifications and their deliveries durably, all or none, and add them to
        the depth counters in the same transaction (``record_results`` takes final ones
        off). With ``remember``, its answer is written in that transaction too, or
        ``KeyTaken`` raised (nothing written) if the key is live already; ``also`` runs in
        it first."""
        ...

    async def remembered(self, app_id: str, key: str, now: float) -> Remembered | None:
        """The live (unexpired) answer kept for the app's idempotency key, if any."""
        ...

    async def depth(self, app_id: str) -> OutboxDepth:
        """How deep the outbox is, read from counters the writes keep (no row count)."""
        ...

    async def acknowledge(self, app_id: str, notification_id: str, at: float) -> float | None:
        """Record that a device confirmed receiving the notification (the first time counts);
        when it first did, or None when the app has no such notification."""
        ...

    async def notification_for_key(self, app_id: str, key: str) -> str | None:
        """The notification that holds a front door's key, while the key is kept."""
        ...

    async def claim(self, after_id: int, limit: int) -> list[PendingDelivery]:
        """Pending rows for this dispatcher, in id order: after ``after_id`` where one
        dispatcher owns the outbox, else any row not held under a live lease."""
        ...

    async def record_results(
        self,
        results: Iterable[DeliveryResult],
        delivered: Sequence[tuple[int, str | None, int]] = (),
    ) -> None:
        """Write outcomes and device deactivations in one transaction. ``delivered`` holds
        (attempts, provider id, delivery id) of successful sends, the common case."""
        ...

    async def backlog(self) -> tuple[int, float | None]:
        """Pending deliveries: how many, and the earliest time one is due (None: none)."""
        ...

    async def purge_finished(self, before_id: str, limit: int) -> int:
        """Erase up to ``limit`` notifications with ids below ``before_id`` (accepted before
        a time, see ``notification_ids``) that have no pending delivery, with their
        deliveries; returns how many went."""
        ...

    async def serve(self, events: OutboxEvents) -> None:
        """A dispatcher's upkeep until cancelled: tell ``events`` what other gateways did,
        and renew the leases of the rows this dispatcher holds."""
        ...

    async def notification_report(self, app_id: str, notification_id: str) -> dict[str, Any] | None:
        """A notification with the state of each of its deliveries, or None."""
        ...

    async def delivery_results(
        self, app_id: str, notification_ids: Sequence[str]
    ) -> list[list[dict[str, Any]] | None]:
        """For each notification, the ``results`` of its report (one read for all), or None
        when the app has no such notification."""
        ...

    async def recent_notifications(
        self,
        app_id: str,
        *,
        from_id: str,
        before_id: str | None = None,
        user_id: str | None = None,
        limit: int = 50,
        results_each: int = 100,
    ) -> list[dict[str, Any]]:
        """An app's notifications with ids in [from_id, before_id), newest first (the push
        log). Notification ids are time-ordered, so the id range walks the primary key instead
        of scanning the table. With ``user_id``, only notifications that reached that user,
        and only that user's deliveries. At most ``results_each`` deliveries per notification
        (``results_truncated`` says when there were more); each also carries its message and
        renders."""
        ...
