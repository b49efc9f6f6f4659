"""Notification ids: time-ordered, so a time range is an id range.

``ntf_`` + the accept time in nanoseconds as 16 hex digits + 8 random hex digits. New ids
append to the id index instead of landing at random spots, and the push log reads "since T"
as "ids from ``first_id_at(T)``" along the primary key (no index on the time column).
"""

from __future__ import annotations

import os
import threading
import time

PREFIX = "ntf_"
LAST_TIMESTAMP = (1 << 64) // 10**9
"""The latest time (epoch s, in the year 2554) an id's 16 hex digits of nanoseconds hold."""


RANDOM_POOL_BYTES = 4096


class _RandomPool:
    """Bytes from ``os.urandom``, drawn a page at a time: one ``getrandom`` call per id had been
    5 % of the API's event loop on chat posts (nine ids per message), syscalls being dear on
    this kind of VM. Emptied in a forked child, so parent and child never share bytes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool = b""
        self._at = 0
        os.register_at_fork(after_in_child=self._empty)

    def _empty(self) -> None:
        self._pool, self._at = b"", 0

    def hex(self, size: int) -> str:
        """``size`` fresh random bytes as hex."""
        with self._lock:
            if self._at + size > len(self._pool):
                self._pool, self._at = os.urandom(RANDOM_POOL_BYTES), 0
            chunk = self._pool[self._at : self._at + size]
            self._at += size
        return chunk.hex()


_RANDOM = _RandomPool()


def new_notification_id() -> str:
    """A fresh id for a notification accepted now."""
    return f"{PREFIX}{time.time_ns():016x}{_RANDOM.hex(4)}"


def first_id_at(timestamp: float) -> str:
    """The smallest id a notification accepted at or after ``timestamp`` (epoch s) can have."""
    return f"{PREFIX}{max(0, int(timestamp * 1e9)):016x}"
