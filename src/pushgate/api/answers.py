"""The documented shapes of the send endpoints' answers.

The handlers answer with the store's dicts as they are (no second validation on the hot
path); these models only tell the OpenAPI document what those dicts hold, and the fuzz test
checks every answer against them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, RootModel


class SendAnswer(BaseModel):
    """A notification accepted: it is on disk."""

    id: str
    deliveries: int = Field(description="Devices (and FCM topics or conditions) it goes to.")
    skipped: list[dict[str, Any]] = Field(
        description="Targets that got no delivery, each with a `reason` (`no_active_devices`, "
        "`unknown_token`, `inactive_device`) and the `user_id` or `token`."
    )


class BatchAnswer(BaseModel):
    """A batch accepted in one durable write."""

    ids: list[str] = Field(description="The notifications' ids, in the request's order.")
    deliveries: int
    skipped: dict[str, list[dict[str, Any]]] = Field(
        description="Per notification id with skipped targets: as a single send's `skipped`."
    )


class DeliveryResult(BaseModel):
    """One device's (or FCM topic's) delivery."""

    delivery_id: int
    device_id: int | None
    user_id: str | None
    platform: str
    token: str
    status: str = Field(
        description="`pending`, `delivered`, `unregistered`, `rejected`, `failed` or `unknown`."
    )
    attempts: int
    reason: str | None
    status_code: int | None
    provider_id: str | None
    unregistered_at: float | None
    updated_at: float


class Report(BaseModel):
    """A notification and what happened to each of its deliveries."""

    id: str
    created_at: float
    deadline: float = Field(description="Retries stop at this time (epoch s).")
    total: int
    skipped: list[dict[str, Any]]
    counts: dict[str, int] = Field(description="Deliveries by status.")
    complete: bool = Field(description="No delivery is pending.")
    message: dict[str, Any]
    renders: dict[str, Any] = Field(description="What each push service was sent, by platform.")
    acknowledged_at: float | None
    results: list[DeliveryResult]


class LoggedReport(Report):
    """A report in the push log: at most 100 results each."""

    results_truncated: bool


class PushLog(BaseModel):
    """A page of the push log, newest first."""

    notifications: list[LoggedReport]
    next_before: str | None = Field(description="`before` for the next (older) page; null: last.")


class SendAccepted(RootModel[SendAnswer | Report]):
    """A send's 202: the acceptance, or with ``wait=true`` the report while still pending."""
