"""Faults the APNs simulator injects on request: error answers, GOAWAY, delays, stream limits."""

from __future__ import annotations

import random
from collections import Counter

from pydantic import BaseModel, ConfigDict, Field

from pushgate.simulator.apns_state import Rejection

_FAULT_ANSWERS = (
    ("too_many_requests", 429, "TooManyRequests"),
    ("internal_server_error", 500, "InternalServerError"),
    ("service_unavailable", 503, "ServiceUnavailable"),
)


class FaultRate(BaseModel):
    """How often one error answer replaces an otherwise accepted notification."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    first: int = Field(0, ge=0)
    """The first N notifications that pass validation after the plan is set (deterministic)."""
    every: int | None = Field(None, ge=1)
    """Every Nth notification that passed validation (deterministic)."""
    rate: float = Field(0.0, ge=0.0, le=1.0)
    """Probability per notification, drawn from a RNG seeded with ``ApnsFaults.seed``."""


class ApnsFaults(BaseModel):
    """The complete fault plan; replacing it resets its counters and RNG."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    too_many_requests: FaultRate = FaultRate()
    internal_server_error: FaultRate = FaultRate()
    service_unavailable: FaultRate = FaultRate()
    too_many_requests_per_token: dict[str, FaultRate] = Field(default_factory=dict)
    """429 TooManyRequests plans by device token (hex), counted per token: Apple answers it for
    too many pushes in a row to one device."""
    poison_tokens: tuple[str, ...] = ()
    """Device tokens (hex) whose requests end the connection with GOAWAY(PROTOCOL_ERROR)
    naming their stream as the last, as an HTTP/2 server does when a request breaks the
    protocol (an illegal header value): every unanswered stream on the connection fails."""
    goaway_every: int | None = Field(None, ge=1)
    """Graceful GOAWAY {"reason":"Shutdown"} after every Nth stream of a connection: the
    streams already received are answered, as a server going away does."""
    abrupt_goaway_every: int | None = Field(None, ge=1)
    """GOAWAY after every Nth stream that resets the streams received after the Nth first."""
    response_delay: float = Field(0.0, ge=0.0, le=300.0)
    """Seconds to hold every answer (success or error) before sending it."""
    late: FaultRate = FaultRate()
    """Answers held ``late_delay`` seconds more (the notification is taken into the inbox
    first): a client that times out first cannot know it was delivered."""
    late_delay: float = Field(30.0, ge=0.0, le=300.0)
    max_concurrent_streams: int | None = Field(None, ge=0)
    """Advertise this MAX_CONCURRENT_STREAMS on every connection, whatever the auth state."""
    seed: int = 0


class FaultInjector:
    """Decides, notification by notification, whether an injected error answer replaces success."""

    def __init__(self, faults: ApnsFaults | None = None) -> None:
        self.faults = ApnsFaults()
        self.poison: frozenset[str] = frozenset()
        self._rng = random.Random(0)
        self._count = 0
        self._answers = 0
        self._token_counts: Counter[str] = Counter()
        self.replace(faults or ApnsFaults())

    def replace(self, faults: ApnsFaults) -> None:
        """Install a new plan and restart counting from zero."""
        token_plans = {t.lower(): p for t, p in faults.too_many_requests_per_token.items()}
        self.faults = faults.model_copy(update={"too_many_requests_per_token": token_plans})
        self.poison = frozenset(t.lower() for t in faults.poison_tokens)  # looked up per request
        self._rng = random.Random(faults.seed)
        self._count = 0
        self._answers = 0
        self._token_counts.clear()

    def delay(self) -> float:
        """Count one answer; the seconds to hold it (``response_delay``, plus ``late_delay``
        when the ``late`` plan hits it)."""
        self._answers += 1
        late = self._hits(self.faults.late, self._answers)
        return self.faults.response_delay + (self.faults.late_delay if late else 0.0)

    def draw(self, token: str) -> Rejection | None:
        """Count one valid notification to ``token``; return the error to answer instead."""
        token_plan = self.faults.too_many_requests_per_token.get(token)
        if token_plan is not None:
            self._token_counts[token] += 1
            if self._hits(token_plan, self._token_counts[token]):
                return Rejection(429, "TooManyRequests")
        self._count += 1
        for field, status, reason in _FAULT_ANSWERS:
            if self._hits(getattr(self.faults, field), self._count):
                return Rejection(status, reason)
        return None

    def _hits(self, plan: FaultRate, count: int) -> bool:
        """Whether the ``count``-th notification a plan covers gets its error."""
        if count <= plan.first:
            return True
        if plan.every is not None and count % plan.every == 0:
            return True
        return bool(plan.rate) and self._rng.random() < plan.rate
