"""Rate-limit counting: fixed minute windows in-process, shared through the real Redis, and a
Redis that cannot be reached lets requests through."""

from __future__ import annotations

import secrets

from backends import REDIS_URL, require_redis
from pushgate.config import RateLimitSettings
from pushgate.ratelimit import RateLimiter, RedisCounter


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_the_tighter_limit_is_reported_and_a_new_window_starts_over() -> None:
    clock = Clock(6_000_010.0)  # 10 s into a window
    limiter = RateLimiter(RateLimitSettings(per_key=10, per_app=3), clock=clock)
    quotas = [await limiter.check("key_a", None, "app_a") for _ in range(4)]
    assert [(q.limit, q.used, q.exceeded) for q in quotas if q] == [
        (3, 1, False), (3, 2, False), (3, 3, False), (3, 4, True),
    ]  # fmt: skip
    assert quotas[-1] is not None and quotas[-1].headers() == {
        "X-RateLimit-Limit": "3",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": "50",
    }
    own = await limiter.check("key_b", 2, "app_b")  # a key's own limit over per_key
    assert own is not None and own.limit == 2
    clock.now += 50
    fresh = await limiter.check("key_a", None, "app_a")
    assert fresh is not None and fresh.used == 1 and not fresh.exceeded
    assert await RateLimiter(RateLimitSettings()).check("key_a", None, "app_a") is None


async def test_two_limiters_on_one_redis_count_together() -> None:
    await require_redis()
    settings, clock = RateLimitSettings(redis_url=REDIS_URL), Clock(6_000_010.0)
    first, second = RateLimiter(settings, clock=clock), RateLimiter(settings, clock=clock)
    key = f"key_{secrets.token_hex(6)}"
    try:
        used = [
            (await limiter.check(key, 3, f"app_{key}")).used  # type: ignore[union-attr]
            for limiter in (first, second, first, second)
        ]
    finally:
        await first.close()
        await second.close()
    assert used == [1, 2, 3, 4]


async def test_an_unreachable_redis_lets_requests_through() -> None:
    dead = RedisCounter("redis://127.0.0.1:1/0")
    limiter = RateLimiter(RateLimitSettings(per_key=1), dead)
    try:
        assert await limiter.check("key_a", None, "app_a") is None
        assert await limiter.check("key_a", None, "app_a") is None
    finally:
        await limiter.close()
