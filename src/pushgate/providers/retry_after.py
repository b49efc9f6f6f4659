"""Read a push service's ``Retry-After`` header (delta-seconds or HTTP-date) as clamped seconds.

The one parser of all three classifiers (APNs, FCM and Web Push: docs/apns.md §8, docs/fcm.md §5,
docs/webpush.md §1). Pure: the current time is passed in, so tests need no real clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from email.utils import parsedate_to_datetime
from typing import Final

__all__ = ["MAX_RETRY_AFTER", "MIN_RETRY_AFTER", "find_header", "retry_after_seconds"]

MIN_RETRY_AFTER: Final = 1.0
"""Shortest wait we honour: 0 or a date in the past still waits one second."""
MAX_RETRY_AFTER: Final = 3600.0
"""Longest wait we honour; a service asking for more is retried after an hour (the deadline and
the attempts still bound the delivery)."""


def find_header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    """The first value of header ``name`` (lower-case) in a received header list."""
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def retry_after_seconds(value: bytes | None, *, now: float) -> float | None:
    """Seconds to wait, clamped to 1..3600; None when the header is absent or unreadable.

    Accepts both forms of RFC 9110 §10.2.3: ``120`` and ``Wed, 21 Oct 2026 07:28:00 GMT``.
    ``now`` is the current epoch time, used for the date form.
    """
    if value is None:
        return None
    text = value.decode("latin-1").strip()
    if text.isascii() and text.isdigit():
        seconds = float(text)
    else:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - now
    return min(MAX_RETRY_AFTER, max(MIN_RETRY_AFTER, seconds))
