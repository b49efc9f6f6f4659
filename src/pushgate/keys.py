"""API keys: their scopes, the app's default key, and when each was last used.

Scopes: ``admin`` (apps, every key, every app's audit log), ``manage`` (everything of its
app: credentials, devices, chat state, keys, and sending) and ``send`` (sends and their
reports only). An app is created with one manage key named ``default``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from pushgate.logs import get_logger
from pushgate.store import ApiKey, KeyRepository
from pushgate.store.models import DEFAULT_KEY

ADMIN, MANAGE, SEND = "admin", "manage", "send"
SCOPES = (ADMIN, MANAGE, SEND)
APP_SCOPES = (MANAGE, SEND)
TOUCH_INTERVAL = 60.0
"""A key's last-used time is written at most this often per process."""
events = get_logger("pushgate.keys")


async def rotate_default_key(
    store: KeyRepository, app_id: str, key_hash: str, key_prefix: str, previous_valid_until: float
) -> tuple[ApiKey, ApiKey] | None:
    """Rotate the app's current default key: (the old key, the new one); None when the app
    has no default key that is neither revoked nor already rotated."""
    current = [
        k
        for k in await store.list_keys(app_id)
        if k.name == DEFAULT_KEY and k.revoked_at is None and k.expires_at is None
    ]
    if not current:
        return None
    new = await store.rotate_key(
        current[-1].id, key_hash, key_prefix, previous_valid_until=previous_valid_until
    )
    return (current[-1], new) if new is not None else None


class KeyUsage:
    """Records when keys were used, cheaply: at most one write per key and minute, in the
    background (a lost write only makes ``last_used_at`` a minute older)."""

    def __init__(self, store: KeyRepository, *, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        self._written: dict[str, float] = {}
        self._writes: set[asyncio.Task[None]] = set()

    def seen(self, key_id: str) -> None:
        """The key was just used."""
        now = self._clock()
        if now - self._written.get(key_id, 0.0) < TOUCH_INTERVAL:
            return
        self._written[key_id] = now
        task = asyncio.ensure_future(self._store.touch_keys([(key_id, now)]))
        self._writes.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._writes.discard(task)
        if not task.cancelled() and task.exception() is not None:
            events.warning("key_use_not_recorded", error=type(task.exception()).__name__)
