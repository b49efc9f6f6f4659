"""Notification ids: time-ordered, so a time range is an id range.

``ntf_`` + the accept time in nanoseconds as 16 hex digits + 8 random hex digits. New ids
append to the id index instead of landing at random spots, and the push log reads "since T"
as "ids from ``first_id_at(T)``" along the primary key (no index on the time column).
"""

from __future__ import annotations

import secrets
import time

PREFIX = "ntf_"
LAST_TIMESTAMP = (1 << 64) // 10**9
"""The latest time (epoch s, in the year 2554) an id's 16 hex digits of nanoseconds hold."""


def new_notification_id() -> str:
    """A fresh id for a notification accepted now."""
    return f"{PREFIX}{time.time_ns():016x}{secrets.token_hex(4)}"


def first_id_at(timestamp: float) -> str:
    """The smallest id a notification accepted at or after ``timestamp`` (epoch s) can have."""
    return f"{PREFIX}{max(0, int(timestamp * 1e9)):016x}"
