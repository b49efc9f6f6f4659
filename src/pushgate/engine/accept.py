"""The one accept use case every front door calls: resolve, render-check, write, hand over.

A notification is durable in the outbox before ``accept`` returns; only then is it handed
to the dispatcher. The HTTP API, the chat engine and the drop-in front doors differ in how
they parse requests and word answers, not in this.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson

from pushgate.config import LimitsSettings
from pushgate.dispatch.stack import DispatchControl
from pushgate.engine.depth import DepthGauge
from pushgate.engine.fanout import Recipients, Targets, resolve_many
from pushgate.engine.gather import Gatherer
from pushgate.engine.render import render_checked
from pushgate.errors import RequestError, TooManyRequests
from pushgate.message import Message
from pushgate.metrics import NOTIFICATIONS_ACCEPTED
from pushgate.notification_ids import new_notification_id
from pushgate.providers.fcm_client import render as render_fcm
from pushgate.queue import Outbox
from pushgate.queue.base import KeyTaken, Remember, WriteStep
from pushgate.store import DeviceRepository, NewDelivery, NewNotification, Verdict

KEY_TTL = 3 * 86_400.0
"""Seconds a front door's key is kept: longer than a homeserver retries a pusher (Synapse
gives up on an event after a day of failures) and than any acknowledgement takes."""
WAIT_POLL = 0.05
"""Pause between checks when a waited-for notification is partly still on disk (or being
sent by another gateway)."""
RESULTS_PER_READ = 500
"""Most notifications whose results one gathered read fetches."""
_Found = TypeVar("_Found")


@dataclass(slots=True)
class Submission:
    """One notification to accept: a validated message and who should get it."""

    message: Message
    tokens: Sequence[str] = ()
    """Tokens of registered devices."""
    user_ids: Sequence[str] = ()
    direct: Sequence[NewDelivery] = ()
    """Deliveries to targets that are no registered device: FCM topics and conditions
    (``fcm_target``), and the raw tokens the drop-in front doors are given."""
    key: str | None = None
    """A front door's idempotency key (``door_key``): while it is kept, a second submission
    with it sends nothing and is answered with the first notification."""


def door_key(*parts: str) -> str:
    """The key of a peer's push from the ids that make it unique (hashed: fixed length, no
    separator ambiguity, no device token in the index)."""
    return hashlib.sha256(orjson.dumps(parts)).hexdigest()


def fcm_target(target: dict[str, str], credential: str) -> NewDelivery:
    """A direct delivery to an FCM ``{"topic": ...}`` or ``{"condition": ...}`` through the
    named FCM credential (project)."""
    described = (
        f"/topics/{target['topic']}" if "topic" in target else f"condition: {target['condition']}"
    )
    return NewDelivery(
        device_id=None,
        user_id=None,
        platform="fcm",
        token=described,
        fcm_credential=credential,
        extra=dict(target),
    )


@dataclass(frozen=True, slots=True)
class IdempotencyKey:
    """A request's ``Idempotency-Key`` and what the request was (to tell a repeat from a
    different request under the same key)."""

    key: str
    fingerprint: str


@dataclass(slots=True)
class AcceptedNotification:
    """What one submission became: its id, its deliveries and the targets that got none."""

    id: str
    deliveries: int
    skipped: list[dict[str, Any]] = field(default_factory=list)


class Acceptor:
    """Accepts notifications for apps and reports on them."""

    def __init__(
        self,
        devices: DeviceRepository,
        outbox: Outbox,
        dispatch: DispatchControl,
        *,
        retry_deadline: float,
        wait_timeout: float,
        limits: LimitsSettings | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._devices = devices
        self._limits = limits or LimitsSettings()
        self._outbox = outbox
        self._dispatch = dispatch
        self._retry_deadline = retry_deadline
        self.wait_timeout = wait_timeout
        self._clock = clock
        self._gathered_accepts = Gatherer(
            self.accept_each, max_items=self._limits.max_deliveries_per_request
        )
        self._gathered_results = Gatherer(outbox.delivery_results, max_items=RESULTS_PER_READ)
        self._depth = DepthGauge(outbox.depth)

    async def accept(
        self,
        app_id: str,
        submissions: Sequence[Submission],
        also: Callable[[list[AcceptedNotification]], WriteStep] | None = None,
    ) -> list[AcceptedNotification]:
        """Accept all or none, durably; errors of a batch name the submission's index.
        ``also(accepted)`` is written in the same transaction (the chat message of a post)."""
        prepared = await self._prepare(app_id, submissions)
        for index, item in enumerate(prepared):
            if isinstance(item, RequestError):
                if len(submissions) > 1:
                    item.message = f"notifications[{index}]: {item.message}"
                raise item
        await self._check_room(app_id, prepared)  # type: ignore[arg-type]
        return await self._write(app_id, prepared, also=also)  # type: ignore[arg-type]

    async def accept_each(
        self, app_id: str, submissions: Sequence[Submission]
    ) -> list[AcceptedNotification | RequestError]:
        """Judge each submission alone: a refused one gets its error in its place, and the
        others are written in one durable transaction (front doors answer per push)."""
        prepared = await self._prepare(app_id, submissions)
        good = [item for item in prepared if not isinstance(item, RequestError)]
        await self._check_room(app_id, good)
        written = iter(await self._write(app_id, good)) if good else iter(())
        return [item if isinstance(item, RequestError) else next(written) for item in prepared]

    async def accept_gathered(
        self, app_id: str, submissions: Sequence[Submission]
    ) -> list[AcceptedNotification | RequestError]:
        """``accept_each`` for a front door's request, each submission being one direct
        delivery (a peer's raw token): the submissions of concurrent requests for the app
        are judged and written together (one depth read, one transaction) and each request
        gets its own answers. A refusal of the whole (outbox full) is every request's."""
        return await self._gathered_accepts(app_id, submissions)

    async def _check_room(self, app_id: str, prepared: Sequence[_Prepared]) -> None:
        """Refuse the whole request if it expands to too many deliveries (422), or if the
        outbox has no room for them (429: nothing is dropped, the client sends later)."""
        limits = self._limits
        count = sum(len(p.recipients.deliveries) for p in prepared)
        if count > limits.max_deliveries_per_request:
            raise RequestError(
                f"This request would become {count} deliveries, more than the "
                f"{limits.max_deliveries_per_request} one request may; split it.",
                code="too_many_deliveries",
            )
        if not count:
            return
        depth = await self._depth.depth(app_id)
        if depth.app + count > limits.outbox_per_app:
            raise TooManyRequests(
                f"This app has {depth.app} deliveries waiting to be sent (at most "
                f"{limits.outbox_per_app}); send again after Retry-After seconds.",
                code="outbox_full",
                retry_after=limits.outbox_retry_after,
            )
        if depth.total + count > limits.outbox_total:
            raise TooManyRequests(
                f"The gateway has {depth.total} deliveries waiting to be sent (at most "
                f"{limits.outbox_total}); send again after Retry-After seconds.",
                code="outbox_full",
                retry_after=limits.outbox_retry_after,
            )

    async def accept_once(
        self,
        app_id: str,
        submissions: Sequence[Submission],
        key: IdempotencyKey,
        answer: Callable[[list[AcceptedNotification]], dict[str, Any]],
        also: Callable[[list[AcceptedNotification]], WriteStep] | None = None,
    ) -> dict[str, Any]:
        """``accept`` for a request with an ``Idempotency-Key``: the first time, accept and
        keep ``answer(accepted)`` in the same transaction; a repeat (while the key lives)
        gets that answer back and sends nothing. The same key with another request is 422."""
        first = await self.recall(app_id, key)
        if first is None:
            prepared = await self._prepare(app_id, submissions)
            for index, item in enumerate(prepared):
                if isinstance(item, RequestError):
                    if len(submissions) > 1:
                        item.message = f"notifications[{index}]: {item.message}"
                    raise item
            await self._check_room(app_id, prepared)  # type: ignore[arg-type]
            kept: dict[str, Any] = {}

            def remember(accepted: list[AcceptedNotification]) -> Remember:
                kept.update(answer(accepted))
                return Remember(
                    fingerprint=key.fingerprint,
                    status=202,
                    answer_json=orjson.dumps(kept).decode(),
                    app_id=app_id,
                    key=key.key,
                    expires_at=self._clock() + self._limits.idempotency_key_seconds,
                )

            try:
                await self._write(app_id, prepared, remember, also)  # type: ignore[arg-type]
                return kept
            except KeyTaken:  # a twin request took the key first: answer as it was answered
                first = await self.recall(app_id, key)
                if first is None:
                    raise
        return first

    async def recall(self, app_id: str, key: IdempotencyKey) -> dict[str, Any] | None:
        """The answer kept for a repeat of the request ``key`` names, or None for a new key
        (a caller with work to do before ``accept_once`` skips it for a repeat). The same key
        with another request is 422."""
        found = await self._outbox.remembered(app_id, key.key, self._clock())
        if found is None:
            return None
        if found.fingerprint != key.fingerprint:
            raise RequestError(
                "This Idempotency-Key was used with a different request (endpoint or body); "
                "use a new key for a new request.",
                code="idempotency_key_reused",
            )
        result: dict[str, Any] = orjson.loads(found.answer_json)
        return result

    async def _write(
        self,
        app_id: str,
        prepared: Sequence[_Prepared],
        remember: Callable[[list[AcceptedNotification]], Remember] | None = None,
        also: Callable[[list[AcceptedNotification]], WriteStep] | None = None,
    ) -> list[AcceptedNotification]:
        now = self._clock()
        deadline = now + self._retry_deadline
        batch = [
            NewNotification(
                id=new_notification_id(),
                app_id=app_id,
                message_json=p.message_json,
                deadline=deadline,
                deliveries=p.recipients.deliveries,
                skipped=p.recipients.skipped,
                renders_json=p.renders_json,
                key=p.key,
                key_expires_at=now + KEY_TTL,
            )
            for p in prepared
        ]
        result = [AcceptedNotification(n.id, len(n.deliveries), n.skipped) for n in batch]
        accepted = await self._outbox.accept(
            batch, remember(result) if remember else None, also(result) if also else None
        )
        earlier = accepted.earlier
        self._depth.added(app_id, accepted.count)
        self._dispatch.submit(
            accepted,
            {n.id: p.message for n, p in zip(batch, prepared, strict=True) if n.id not in earlier},
        )
        NOTIFICATIONS_ACCEPTED.inc(len(batch) - len(earlier))
        # A notification whose key was taken answers as the one that holds it.
        return [
            AcceptedNotification(earlier.get(n.id, n.id), len(n.deliveries), n.skipped)
            for n in batch
        ]

    async def acknowledge(self, app_id: str, notification_id: str, at: float) -> float | None:
        """A device confirmed it got the notification (an ID-only fetch, a Mattermost ack):
        when it first did, shown as the report's ``acknowledged_at``; None if unknown."""
        return await self._outbox.acknowledge(app_id, notification_id, at)

    async def notification_for_key(self, app_id: str, key: str) -> str | None:
        """The notification a front door's key (``door_key``) was accepted as, while kept."""
        return await self._outbox.notification_for_key(app_id, key)

    async def report(self, app_id: str, notification_id: str) -> dict[str, Any] | None:
        """What happened to every device of a notification, or None if the app has none."""
        return await self._outbox.notification_report(app_id, notification_id)

    async def wait_for_report(
        self, app_id: str, notification_id: str, within: float | None = None
    ) -> dict[str, Any]:
        """The report once every delivery is final, or as it stands after ``within`` seconds
        (``dispatch.wait_timeout`` by default). Works whichever gateway sends it."""
        return await self._wait(
            notification_id,
            self.wait_timeout if within is None else within,
            lambda _: self._outbox.notification_report(app_id, notification_id),
            lambda report: bool(report["complete"]),
        )

    async def wait_for_verdict(self, app_id: str, notification_id: str, within: float) -> Verdict:
        """How the one delivery of a notification (a front door's push) ended, or stands
        after ``within`` seconds; LookupError if the app has no such notification.

        From the dispatcher as soon as the push service answered, before the result is
        written: waiting for the write and then reading it back had been about 2.8 ms of the
        Mattermost door's p50 at 1,000/s. When the dispatcher did not see it decided, from the
        store (the reads of concurrent waiters are one read).
        """

        async def read(seen: list[Verdict] | None) -> Verdict | None:
            if seen is not None and len(seen) == 1:
                return seen[0]
            (results,) = await self._gathered_results(app_id, [notification_id])
            return Verdict.of(results[0]) if results else None

        return await self._wait(
            notification_id, within, read, lambda verdict: verdict.status != "pending", decided=True
        )

    async def _wait(
        self,
        notification_id: str,
        within: float,
        read: Callable[[list[Verdict] | None], Awaitable[_Found | None]],
        finished: Callable[[_Found], bool],
        *,
        decided: bool = False,
    ) -> _Found:
        """``read(verdicts)`` once the dispatcher has nothing of the notification in flight,
        or has ``decided`` it (``DispatchControl.wait_finished``), again after ``WAIT_POLL``
        while ``finished`` says no, until ``within`` seconds passed."""
        deadline = time.monotonic() + within
        while True:
            seen = await self._dispatch.wait_finished(
                notification_id, max(0.0, deadline - time.monotonic()), decided=decided
            )
            found = await read(seen)
            if found is None:
                raise LookupError(notification_id)
            if finished(found) or time.monotonic() >= deadline:
                return found
            await asyncio.sleep(WAIT_POLL)

    async def _prepare(
        self, app_id: str, submissions: Sequence[Submission]
    ) -> list[_Prepared | RequestError]:
        """Resolve and render-check each submission; a refused one becomes its error."""
        targets = [Targets(s.tokens, s.user_ids) for s in submissions]
        if any(t.tokens or t.user_ids for t in targets):
            resolved = await resolve_many(self._devices, app_id, targets)
        else:  # front doors address raw tokens only: no device look-up
            resolved = [Recipients() for _ in submissions]
        checked: dict[tuple[str, frozenset[str]], str | None] = {}
        now = self._clock()
        prepared: list[_Prepared | RequestError] = []
        for submission, recipients in zip(submissions, resolved, strict=True):
            message = submission.message
            recipients.deliveries.extend(submission.direct)
            item = _Prepared(
                message,
                message.model_dump_json(exclude_defaults=True),
                recipients,
                key=submission.key,
            )
            try:
                _check(item, checked, now)
            except RequestError as exc:
                prepared.append(exc)
                continue
            prepared.append(item)
        return prepared


@dataclass(slots=True)
class _Prepared:
    """A validated submission: its message (and JSON) and its recipients."""

    message: Message
    message_json: str
    recipients: Recipients
    renders_json: str | None = None
    key: str | None = None


def _check(
    item: _Prepared, checked: dict[tuple[str, frozenset[str]], str | None], now: float
) -> None:
    """Render-check once per distinct message and platform set, and FCM topic and
    condition targets each."""
    key = (item.message_json, frozenset(item.recipients.platforms))
    if key not in checked:
        renders = render_checked(item.message, key[1])
        checked[key] = orjson.dumps(renders).decode() if renders else None
    item.renders_json = checked[key]
    for delivery in item.recipients.deliveries:
        if delivery.device_id is None and delivery.extra and delivery.platform == "fcm":
            render_fcm(item.message, "", delivery.extra, now=now)
