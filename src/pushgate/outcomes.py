"""What happened to one delivery: values that flow back up from providers to dispatch.

Providers turn a platform's answer into exactly one of these; dispatch decides what to do
with it (finish, schedule a retry, deactivate the device). One device's outcome never
affects its siblings.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivered:
    """The push service accepted the notification."""

    provider_id: str | None = None
    """The platform's id for the message (``apns-id``, FCM message name, Location)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Retry:
    """A transient failure: try again later, within the delivery's deadline."""

    reason: str
    after: float | None = None
    """Seconds the service asked us to wait (Retry-After), if it said."""
    refresh_credentials: bool = False
    """The provider's auth token must be minted anew before the retry."""
    counts: bool = True
    """False when the service certainly never processed the request (a refused stream, a
    connection lost before it was sent): the try is not charged against
    ``dispatch.max_attempts``; ``dispatch.retry_deadline`` still bounds it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Unregistered:
    """The device token is dead: deactivate the device and never send to it again."""

    reason: str
    since: datetime | None = None
    """When the service says the token stopped being valid (APNs 410 timestamp)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Rejected:
    """The service refused this notification for good; the device stays active."""

    reason: str
    status: int | None = None
    configuration: bool = False
    """True when the fault is in the app's credentials or setup, not in the message."""
    credential: str | None = None
    """Name of the app's credential at fault (a configuration rejection), if known."""


Outcome = Delivered | Retry | Unregistered | Rejected


def blame(outcome: Outcome, credential: str) -> Outcome:
    """Name the credential in a configuration rejection, so it can be reported on the app."""
    if isinstance(outcome, Rejected) and outcome.configuration:
        return replace(outcome, credential=credential)
    return outcome
