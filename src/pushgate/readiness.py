"""Readiness: whether this gateway can take work now (``/readyz``), beyond being alive.

Three checks, each with a sentence an operator can act on: the store takes a write; the
outbox drains (the sending side runs, and work that has been due for a while is not piling
up without progress); at least one app credential is usable (no fault reported, no open
circuit).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from pushgate.credentials import describe
from pushgate.dispatch.stack import DispatchControl
from pushgate.metrics import OUTBOX_DEPTH
from pushgate.queue.base import Outbox
from pushgate.store.base import Store

OVERDUE = 300.0
"""Seconds a delivery may be past due before an outbox without progress counts as stuck."""


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    message: str


class Readiness:
    """Runs the checks; remembers the last backlog to tell progress from a stall."""

    def __init__(
        self,
        store: Store,
        outbox: Outbox,
        dispatcher: DispatchControl,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._outbox = outbox
        self._dispatcher = dispatcher
        self._clock = clock
        self._last_depth: int | None = None

    async def checks(self) -> list[Check]:
        """Every check, in order."""
        return [await self._store_writable(), await self._outbox_draining(), await self._usable()]

    async def _store_writable(self) -> Check:
        try:
            await self._store.set_meta("readiness_probe", repr(self._clock()))
        except Exception as exc:  # any failure to write is the answer
            return Check("store", False, f"the store refused a write ({type(exc).__name__})")
        return Check("store", True, "the store takes writes")

    async def _outbox_draining(self) -> Check:
        if not self._dispatcher.running:
            return Check("outbox", False, "the dispatcher is not running (it restarts by itself)")
        depth, due = await self._outbox.backlog()
        OUTBOX_DEPTH.set(depth)
        previous, self._last_depth = self._last_depth, depth
        overdue = due is not None and due < self._clock() - OVERDUE
        if overdue and previous is not None and depth >= previous:
            return Check(
                "outbox",
                False,
                f"{depth} deliveries pending, some due for over {OVERDUE:.0f} s, and none "
                "finished since the last check",
            )
        return Check("outbox", True, f"{depth} deliveries pending")

    async def _usable(self) -> Check:
        for app in await self._store.list_apps():
            for stored in await self._store.list_credentials(app.id):
                health = describe(stored)["health"]
                if health["status"] != "error" and health["circuit"] == "closed":
                    return Check("credentials", True, "at least one credential is usable")
        return Check(
            "credentials",
            False,
            "no app has a usable credential: upload one, or fix the faults their health shows",
        )
