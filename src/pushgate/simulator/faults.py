"""Faults the APNs simulator injects on request: error answers, GOAWAY, delays, stream limits."""

from __future__ import annotations

import random

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
    goaway_every: int | None = Field(None, ge=1)
    """Send GOAWAY {"reason":"Shutdown"} after every Nth stream of a connection."""
    response_delay: float = Field(0.0, ge=0.0, le=300.0)
    """Seconds to hold every answer (success or error) before sending it."""
    max_concurrent_streams: int | None = Field(None, ge=0)
    """Advertise this MAX_CONCURRENT_STREAMS on every connection, whatever the auth state."""
    seed: int = 0


class FaultInjector:
    """Decides, notification by notification, whether an injected error answer replaces success."""

    def __init__(self, faults: ApnsFaults | None = None) -> None:
        self.faults = ApnsFaults()
        self._rng = random.Random(0)
        self._count = 0
        self.replace(faults or ApnsFaults())

    def replace(self, faults: ApnsFaults) -> None:
        """Install a new plan and restart counting from zero."""
        self.faults = faults
        self._rng = random.Random(faults.seed)
        self._count = 0

    def draw(self) -> Rejection | None:
        """Count one valid notification; return the error to answer instead, if any."""
        self._count += 1
        for field, status, reason in _FAULT_ANSWERS:
            plan: FaultRate = getattr(self.faults, field)
            if self._count <= plan.first:
                return Rejection(status, reason)
            if plan.every is not None and self._count % plan.every == 0:
                return Rejection(status, reason)
            if plan.rate and self._rng.random() < plan.rate:
                return Rejection(status, reason)
        return None
