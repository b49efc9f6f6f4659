"""Fault plans of the FCM and Web Push simulators, their injector and FCM's rolling quota window."""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable, Container
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from pushgate.simulator.faults import FaultRate


class FcmFaults(BaseModel):
    """Error answers that replace an otherwise accepted FCM send.

    Each rate is tried in field order; replacing the plan resets counters, RNG and quota window.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    quota_exceeded: FaultRate = FaultRate()
    """429 RESOURCE_EXHAUSTED / QUOTA_EXCEEDED."""
    unavailable: FaultRate = FaultRate()
    """503 UNAVAILABLE, with ``Retry-After: unavailable_retry_after``."""
    internal: FaultRate = FaultRate()
    """500 INTERNAL."""
    third_party_auth_error: FaultRate = FaultRate()
    """401 THIRD_PARTY_AUTH_ERROR with an ApnsError detail (never for ``validate_only``)."""
    sender_id_mismatch: FaultRate = FaultRate()
    """403 SENDER_ID_MISMATCH."""
    unregistered: FaultRate = FaultRate()
    """404 UNREGISTERED."""
    quota_per_minute: int | None = Field(None, ge=1)
    """Sends per project in any rolling 60 s (not clock-aligned) before 429 QUOTA_EXCEEDED.
    Every authenticated send counts, invalid ones too; 429 answers do not."""
    quota_retry_after: int | None = Field(None, ge=0)
    """Retry-After on injected 429s (the window's 429s say when a slot frees up)."""
    unavailable_retry_after: int | None = Field(1, ge=0)
    """Retry-After seconds on injected 503s; None sends none."""
    apns_status: int = Field(403, ge=400, le=599)
    """``ApnsError.statusCode`` of THIRD_PARTY_AUTH_ERROR."""
    apns_reason: str = "InvalidProviderToken"
    """``ApnsError.reason`` of THIRD_PARTY_AUTH_ERROR."""
    response_delay: float = Field(0.0, ge=0.0, le=300.0)
    """Seconds to hold every send answer (success or error)."""
    seed: int = 0


class WebPushFaults(BaseModel):
    """Error answers that replace an otherwise accepted Web Push message."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    too_many_requests: FaultRate = FaultRate()
    """429 ``{"reason":"TooManyRequests"}`` with ``Retry-After``."""
    internal_server_error: FaultRate = FaultRate()
    """500 ``{"reason":"InternalServerError"}``."""
    service_unavailable: FaultRate = FaultRate()
    """503 ``{"reason":"ServiceUnavailable"}`` with ``Retry-After``."""
    retry_after: int | None = Field(1, ge=0)
    """Retry-After seconds on 429 and 503; None sends none."""
    response_delay: float = Field(0.0, ge=0.0, le=300.0)
    """Seconds to hold every answer (success or error)."""
    seed: int = 0


FCM_FAULTS = (
    "quota_exceeded",
    "unavailable",
    "internal",
    "third_party_auth_error",
    "sender_id_mismatch",
    "unregistered",
)
WEBPUSH_FAULTS = ("too_many_requests", "internal_server_error", "service_unavailable")


_Plan = TypeVar("_Plan", FcmFaults, WebPushFaults)


class RateInjector(Generic[_Plan]):
    """Decides, message by message, whether an injected error answer replaces success."""

    def __init__(self, plan: _Plan, names: tuple[str, ...]) -> None:
        self.plan = plan
        self._names = names
        self._rng = random.Random(plan.seed)
        self._count = 0

    def replace(self, plan: _Plan) -> None:
        """Install a new plan and restart counting from zero."""
        self.plan = plan
        self._rng = random.Random(plan.seed)
        self._count = 0

    def draw(self, skip: Container[str] = ()) -> str | None:
        """Count one valid message; return the name of the fault to answer instead, if any.

        Faults named in ``skip`` do not apply to this message (their rates draw nothing).
        """
        self._count += 1
        for name in self._names:
            rate: FaultRate = getattr(self.plan, name)
            if name in skip:
                continue
            if self._count <= rate.first:
                return name
            if rate.every is not None and self._count % rate.every == 0:
                return name
            if rate.rate and self._rng.random() < rate.rate:
                return name
        return None


class RollingQuota:
    """At most ``limit`` admissions per key in any rolling ``window`` seconds."""

    def __init__(self, clock: Callable[[], float], window: float = 60.0) -> None:
        self._clock = clock
        self._window = window
        self._seen: dict[str, deque[float]] = {}

    def reset(self) -> None:
        """Forget every admission."""
        self._seen.clear()

    def admit(self, key: str, limit: int | None) -> int | None:
        """Record an admission and return None, or return the whole seconds until one is free."""
        if limit is None:
            return None
        now = self._clock()
        seen = self._seen.setdefault(key, deque())
        while seen and seen[0] <= now - self._window:
            seen.popleft()
        if len(seen) >= limit:
            return max(1, math.ceil(seen[-limit] + self._window - now))
        seen.append(now)
        return None
