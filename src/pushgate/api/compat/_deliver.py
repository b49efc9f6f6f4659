"""What every front door does once it has parsed a peer's request into pushes.

The peers address raw device tokens, not registered devices: each push becomes one
notification with one delivery to that token, written durably through the same outbox and
dispatcher as ``POST /v1/notifications``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pushgate.config import PushTarget
from pushgate.engine.accept import Submission
from pushgate.errors import RequestError
from pushgate.gateway import Gateway
from pushgate.message import Message
from pushgate.store import NewDelivery, Verdict


@dataclass(frozen=True, slots=True)
class Push:
    """One message for one device token, as a front door received it."""

    message: Message
    target: PushTarget
    token: str
    extra: dict[str, Any] | None = None
    """Delivery data: an FCM ``topic`` or ``condition`` for app-level sends."""
    key: str | None = None
    """The peer's id for this push (``engine.accept.door_key``): a retry is sent once."""


@dataclass(frozen=True, slots=True)
class Accepted:
    """A push written to the outbox."""

    notification_id: str


class AppNames:
    """Configured app names to app ids; hits are cached (an app's name never changes)."""

    def __init__(self) -> None:
        self._ids: dict[str, str] = {}

    async def id_of(self, gw: Gateway, name: str) -> str | None:
        found = self._ids.get(name)
        if found is None:
            for app in await gw.store.list_apps():
                self._ids[app.name] = app.id
            found = self._ids.get(name)
        return found


async def accept(gw: Gateway, app_id: str, pushes: Sequence[Push]) -> list[Accepted | RequestError]:
    """Render-check each push and write the good ones durably, in one transaction with
    the pushes of concurrent requests (``Acceptor.accept_gathered``).

    A push that fails its check gets its RequestError in its place; the others still go.
    """
    submissions = [
        Submission(
            push.message,
            direct=[
                NewDelivery(
                    device_id=None,
                    user_id=None,
                    platform=push.target.platform,
                    token=push.token,
                    apns_environment=push.target.apns_environment,
                    fcm_credential=push.target.fcm_credential,
                    extra=push.extra,
                )
            ],
            key=push.key,
        )
        for push in pushes
    ]
    return [
        answer if isinstance(answer, RequestError) else Accepted(answer.id)
        for answer in await gw.acceptor.accept_gathered(app_id, submissions)
    ]


ERASED = Verdict("erased")
"""The verdict of a push whose record retention erased: it was final (nothing pending is
erased), which way is no longer known."""


async def verdicts(
    gw: Gateway, accepted: Sequence[tuple[str, str]], budget: float
) -> list[Verdict]:
    """The verdict of each (app id, notification id); ``status`` is ``pending`` while
    undecided, ``erased`` (``ERASED``) once retention removed it. Waits at most ``budget``
    seconds in all, the notifications side by side."""
    deadline = time.monotonic() + budget

    async def one(app_id: str, notification_id: str) -> Verdict:
        remaining = max(0.0, deadline - time.monotonic())
        try:
            return await gw.acceptor.wait_for_verdict(app_id, notification_id, remaining)
        except LookupError:  # a retry's first push, finished and erased since (retention)
            return ERASED

    if len(accepted) == 1:  # the common case (one device per request): no task to gather
        return [await one(*accepted[0])]
    return list(await asyncio.gather(*(one(app, nid) for app, nid in accepted)))
