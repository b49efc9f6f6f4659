"""Webhooks: an app's events POSTed to its URL, signed, retried until taken or a day is over.

The events (``device.deactivated``, ``notification.finished``) are queued in the store in the
same write as what caused them (``Outbox.record_results``), so a receiver that is down, or a
gateway that restarts, loses none: calls stay pending until a 2xx answer, with jittered
exponential back-off, for ``webhooks.retry_for`` seconds (at least 24 h). Every try is written
back (the delivery log). Delivery is at-least-once: a receiver dedupes by ``Pushgate-Event-Id``.

Signature (``Pushgate-Signature: v1=<hex>``): HMAC-SHA256 with the webhook's secret over
``<Pushgate-Timestamp>.<raw body>``; the timestamp is Unix seconds of this try.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import random
import time
from collections.abc import Callable

import httpx

from pushgate.config import WebhookSettings
from pushgate.logs import get_logger
from pushgate.security import SecretBox
from pushgate.store.base import FeedbackRepository
from pushgate.store.models import Webhook, WebhookCall

EVENTS = ("device.deactivated", "notification.finished")
CLAIM = 50
"""Calls taken from the queue at a time."""
events = get_logger("pushgate.webhooks")


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """The ``Pushgate-Signature`` value of a call."""
    digest = hmac.new(secret, b"%d." % timestamp + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


class WebhookSender:
    """Sends due calls in the background (every gateway may run one: claims are leased)."""

    def __init__(
        self,
        store: FeedbackRepository,
        box: SecretBox,
        settings: WebhookSettings,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._box = box
        self._settings = settings
        self._clock = clock
        self._rng = random.Random()
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None

    def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=self._settings.timeout, follow_redirects=False)
        self._task = asyncio.create_task(self._run(), name="pushgate-webhooks")

    async def stop(self) -> None:
        """Stop; a call under way is abandoned and goes again when its lease ends."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def send_due(self) -> int:
        """Try every call that is due now; how many were tried."""
        lease = self._settings.timeout + 5.0
        claimed = await self._store.claim_webhook_calls(self._clock(), lease=lease, limit=CLAIM)
        await asyncio.gather(*(self._try(call, hook) for call, hook in claimed))
        return len(claimed)

    async def _run(self) -> None:
        while True:
            try:
                tried = await self.send_due()
            except Exception as exc:  # the store was busy or gone: look again later
                events.warning("webhooks_failed", error=type(exc).__name__)
                tried = 0
            if tried < CLAIM:
                await asyncio.sleep(self._settings.poll_interval)

    async def _try(self, call: WebhookCall, hook: Webhook) -> None:
        assert self._client is not None
        body = call.body.encode()
        stamp = int(self._clock())
        headers = {
            "content-type": "application/json",
            "user-agent": "pushgate-webhooks",
            "pushgate-event": call.event,
            "pushgate-event-id": str(call.id),
            "pushgate-timestamp": str(stamp),
            "pushgate-signature": signature(self._box.open(hook.secret), stamp, body),
        }
        status: int | None = None
        error: str | None = None
        try:
            response = await self._client.post(hook.url, content=body, headers=headers)
            status = response.status_code
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except httpx.HTTPError as exc:
            error = type(exc).__name__  # never the URL: it may carry a token
        now = self._clock()
        attempts = call.attempts + 1
        if error is None:
            state, due = "delivered", now
        else:
            due = now + self._backoff(attempts)
            state = "pending" if due - call.created_at <= self._settings.retry_for else "failed"
            if state == "failed":
                events.warning(
                    "webhook_call_failed", webhook_id=hook.id, event=call.event, error=error
                )
        await self._store.finish_webhook_call(
            call.id,
            state=state,
            attempts=attempts,
            next_attempt_at=due,
            status=status,
            error=error,
            at=now,
        )

    def _backoff(self, attempts: int) -> float:
        s = self._settings
        base = min(s.backoff_max, s.backoff_initial * 2 ** min(attempts - 1, 30))
        return base * self._rng.uniform(0.5, 1.0)
