"""What gorush's stat routes report, counted by the door: ``/api/stat/app``, ``/sys/stats``
and gorush's metric names on ``/metrics``.

``/sys/stats`` is gorush's request statistics (thoas/stats' keys): the door's own requests,
counted by ``TimedRoute``, with this process's pid and uptime. The ``gorush_*`` gauges are
``/api/stat/app``'s counts under gorush's metric names, summed over the process's doors.
"""

from __future__ import annotations

import os
import time
import weakref
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


@dataclass(slots=True, weakref_slot=True, eq=False)
class Stats:
    """What ``/api/stat/app`` reports, counted by this door.

    Success and error counts are known only where the door learns the outcome (sync mode);
    pushgate's own per-delivery counters are on ``/metrics``.
    """

    submitted: int = 0
    success: dict[str, int] = field(default_factory=lambda: {"ios": 0, "android": 0, "huawei": 0})
    error: dict[str, int] = field(default_factory=lambda: {"ios": 0, "android": 0, "huawei": 0})

    def __post_init__(self) -> None:
        _LIVE.add(self)


_LIVE: weakref.WeakSet[Stats] = weakref.WeakSet()
"""Every door's stats in this process (one per gateway), for the ``gorush_*`` gauges."""
_FAILURE_NAMES = {"ios": "error", "android": "fail", "huawei": "fail"}
"""gorush's metric names say ``error`` for iOS and ``fail`` for the others."""


class _GorushMetrics(Collector):
    """gorush's ``/metrics`` names, from the doors' ``Stats`` (nothing without a door)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        stats = list(_LIVE)
        if not stats:
            return
        submitted = sum(s.submitted for s in stats)
        success = {p: sum(s.success[p] for s in stats) for p in _FAILURE_NAMES}
        error = {p: sum(s.error[p] for s in stats) for p in _FAILURE_NAMES}
        figures = [("gorush_total_push_count", "Pushes submitted.", submitted)]
        for platform, failed in _FAILURE_NAMES.items():
            figures.append((f"gorush_{platform}_success", "Pushes sent.", success[platform]))
            figures.append((f"gorush_{platform}_{failed}", "Pushes failed.", error[platform]))
        figures += [
            ("gorush_busy_workers", "Workers sending (pushgate's dispatcher: 0).", 0),
            ("gorush_success_tasks", "Pushes sent.", sum(success.values())),
            ("gorush_failure_tasks", "Pushes failed.", sum(error.values())),
            ("gorush_submitted_tasks", "Pushes submitted.", submitted),
        ]
        for name, text, value in figures:
            yield GaugeMetricFamily(name, f"{text} (gorush door; sync mode counts outcomes)", value)


REGISTRY.register(_GorushMetrics())


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
