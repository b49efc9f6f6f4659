"""Rate limits per API key and per app: fixed one-minute windows, counted in-process or in Redis.

Each request of an app key counts once in its key's bucket and once in its app's; it is
refused when either count passes its limit. The answer's ``X-RateLimit-*`` headers describe
the tighter of the two. With ``rate_limits.redis_url`` every gateway counts in the same Redis
(``INCR`` + ``EXPIRE`` in one transaction per request), so the limits hold across gateways;
without it each gateway counts on its own. Fixed windows are the cheapest shared counter (one
key per bucket and minute); their cost is that a client may spend up to twice its limit
across a window boundary.

A Redis that cannot be reached lets requests through (sends matter more than limits) and is
logged once a minute.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from pushgate.config import RateLimitSettings
from pushgate.logs import get_logger

WINDOW = 60
"""Seconds of one counting window."""
REDIS_PREFIX = "pushgate:ratelimit:"
events = get_logger("pushgate.ratelimit")


@dataclass(frozen=True, slots=True)
class Quota:
    """Where a request leaves the tighter of its limits."""

    limit: int
    used: int
    reset_after: float
    """Seconds until the window ends and the count starts again."""

    @property
    def exceeded(self) -> bool:
        """This request went past the limit."""
        return self.used > self.limit

    def headers(self) -> dict[str, str]:
        """``X-RateLimit-Limit``, ``-Remaining`` and ``-Reset`` (seconds until the reset)."""
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(0, self.limit - self.used)),
            "X-RateLimit-Reset": str(max(1, round(self.reset_after))),
        }


class CounterUnavailable(Exception):
    """The shared counter could not be reached; the message names the error's type."""


class Counter(Protocol):
    """Counts hits per bucket within one window."""

    async def hit(self, buckets: Sequence[str], window: int) -> list[int]:
        """Add one to each bucket's count in ``window``; the counts after it
        (``CounterUnavailable`` when it cannot count)."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class MemoryCounter:
    """Counts of this process only: one gateway, or limits per gateway."""

    def __init__(self) -> None:
        self._window = -1
        self._counts: dict[str, int] = {}

    async def hit(self, buckets: Sequence[str], window: int) -> list[int]:
        """Add one to each bucket; the counts of a past window are dropped."""
        if window != self._window:
            self._window, self._counts = window, {}
        counts = []
        for bucket in buckets:
            self._counts[bucket] = count = self._counts.get(bucket, 0) + 1
            counts.append(count)
        return counts

    async def close(self) -> None:
        """Nothing to release."""


class RedisCounter:
    """Counts shared by every gateway on the same Redis."""

    def __init__(self, url: str) -> None:
        import redis.asyncio  # only gateways that share counters load the client
        import redis.exceptions

        self._redis = redis.asyncio.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._errors = (redis.exceptions.RedisError, OSError)

    async def hit(self, buckets: Sequence[str], window: int) -> list[int]:
        """``INCR`` each bucket's key of this window and let it expire after the window."""
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                for bucket in buckets:
                    key = f"{REDIS_PREFIX}{bucket}:{window}"
                    pipe.incr(key)
                    pipe.expire(key, WINDOW * 2)
                replies = await pipe.execute()
        except self._errors as exc:
            raise CounterUnavailable(type(exc).__name__) from exc
        return [int(count) for count in replies[::2]]

    async def close(self) -> None:
        """Close the connection pool."""
        await self._redis.aclose()


class RateLimiter:
    """Applies ``rate_limits`` to app keys."""

    def __init__(
        self,
        settings: RateLimitSettings,
        counter: Counter | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        url = settings.redis_url
        self._counter = counter or (
            RedisCounter(url.get_secret_value()) if url is not None else MemoryCounter()
        )
        self._clock = clock
        self._last_warning = 0.0

    async def check(self, key_id: str, key_limit: int | None, app_id: str) -> Quota | None:
        """Count one request of this key and app; the tighter quota, or None when neither
        is limited (or the counter cannot be reached)."""
        limits = [
            (f"key:{key_id}", key_limit or self._settings.per_key),
            (f"app:{app_id}", self._settings.per_app),
        ]
        limited = [(bucket, limit) for bucket, limit in limits if limit is not None]
        if not limited:
            return None
        now = self._clock()
        window = int(now // WINDOW)
        try:
            counts = await self._counter.hit([bucket for bucket, _ in limited], window)
        except CounterUnavailable as exc:
            if now - self._last_warning >= WINDOW:
                self._last_warning = now
                events.warning("rate_limit_unavailable", error=str(exc))
            return None
        reset_after = (window + 1) * WINDOW - now
        quotas = [
            Quota(limit=limit, used=count, reset_after=reset_after)
            for (_, limit), count in zip(limited, counts, strict=True)
        ]
        return min(quotas, key=lambda q: q.limit - q.used)

    async def close(self) -> None:
        """Release the counter's connections."""
        await self._counter.close()
