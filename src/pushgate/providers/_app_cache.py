"""Per-app values loaded from the credential store once, however many sends ask at once.

Every provider keeps what it built from an app's credentials (APNs senders, FCM accounts, the
VAPID key) in one of these. A cold fan-out (200 devices of one notification starting at the
same moment) must decrypt and parse the credentials once, not once per device: the first send
starts the load and every other one awaits the same future.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Generic, TypeVar

__all__ = ["AppCache"]

T = TypeVar("T")


class AppCache(Generic[T]):
    """Values by app id, loaded by ``load(app_id)``; single-flight per app."""

    __slots__ = ("_load", "_loading", "values")

    def __init__(self, load: Callable[[str], Awaitable[T]]) -> None:
        self._load = load
        self._loading: dict[str, asyncio.Future[T]] = {}
        self.values: dict[str, T] = {}
        """What is loaded: read it directly on the hot path (a miss means ``await get``)."""

    async def get(self, app_id: str) -> T:
        """The app's value, loading it unless loaded; a failed load raises to every waiter
        and is tried again by the next send."""
        if app_id in self.values:
            return self.values[app_id]
        loading = self._loading.get(app_id)
        if loading is None:
            loading = asyncio.ensure_future(self._load(app_id))
            self._loading[app_id] = loading
            loading.add_done_callback(partial(self._loaded, app_id))
        return await asyncio.shield(loading)

    def forget(self, app_id: str) -> None:
        """The app's credentials changed: the next send loads them again (a load already
        under way is not kept)."""
        self.values.pop(app_id, None)
        self._loading.pop(app_id, None)

    def _loaded(self, app_id: str, loading: asyncio.Future[T]) -> None:
        """Keep a finished load (runs before its waiters resume) unless it was forgotten."""
        if self._loading.get(app_id) is not loading:
            return
        del self._loading[app_id]
        if not loading.cancelled() and loading.exception() is None:
            self.values[app_id] = loading.result()
