"""What gorush's stat routes report, counted by the door: ``/api/stat/app`` and ``/sys/stats``.

``/sys/stats`` is gorush's request statistics (thoas/stats' keys): the door's own requests,
counted by ``TimedRoute``, with this process's pid and uptime.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute


@dataclass(slots=True)
class Stats:
    """What ``/api/stat/app`` reports, counted by this door.

    Success and error counts are known only where the door learns the outcome (sync mode);
    pushgate's own per-delivery counters are on ``/metrics``.
    """

    submitted: int = 0
    success: dict[str, int] = field(default_factory=lambda: {"ios": 0, "android": 0, "huawei": 0})
    error: dict[str, int] = field(default_factory=lambda: {"ios": 0, "android": 0, "huawei": 0})


@dataclass(slots=True)
class SysStats:
    """The door's requests: status codes and response times, since start and this second."""

    started: float = field(default_factory=time.time)
    total: Counter[str] = field(default_factory=Counter)
    window: Counter[str] = field(default_factory=Counter)
    """Status codes of the current second (thoas/stats resets its counts every second)."""
    window_second: int = 0
    total_seconds: float = 0.0

    def record(self, status: int, seconds: float) -> None:
        self._roll()
        self.total[str(status)] += 1
        self.window[str(status)] += 1
        self.total_seconds += seconds

    def _roll(self) -> None:
        second = int(time.time())
        if second != self.window_second:
            self.window_second, self.window = second, Counter()

    def data(self) -> dict[str, Any]:
        """thoas/stats' ``Data`` keys."""
        self._roll()
        now = time.time()
        count = sum(self.total.values())
        average = self.total_seconds / count if count else 0.0
        return {
            "pid": os.getpid(),
            "uptime": go_duration(now - self.started),
            "uptime_sec": now - self.started,
            "time": datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d %H:%M:%S.%f +0000 UTC"),
            "unixtime": int(now),
            "status_code_count": dict(self.window),
            "total_status_code_count": dict(self.total),
            "count": sum(self.window.values()),
            "total_count": count,
            "total_response_time": go_duration(self.total_seconds),
            "total_response_time_sec": self.total_seconds,
            "average_response_time": go_duration(average),
            "average_response_time_sec": average,
        }


def go_duration(seconds: float) -> str:
    """Go's ``time.Duration.String()``: ``1h2m3.5s``, ``1.5ms``, ``0s``."""
    if seconds <= 0:
        return "0s"
    if seconds < 1:
        for unit, scale in (("ms", 1e3), ("µs", 1e6), ("ns", 1e9)):
            if seconds * scale >= 1 or unit == "ns":
                return f"{seconds * scale:.6g}{unit}"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{secs:.9f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{int(hours)}h{int(minutes)}m{text}"
    return f"{int(minutes)}m{text}" if minutes else text


class TimedRoute(APIRoute):
    """A gorush route whose requests ``/sys/stats`` counts (``app.state.gorush_sys_stats``)."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def timed(request: Request) -> Response:
            started = time.perf_counter()
            status = 500
            try:
                response = await handler(request)
                status = response.status_code
                return response
            finally:
                stats: SysStats = request.app.state.gorush_sys_stats
                stats.record(status, time.perf_counter() - started)

        return timed
