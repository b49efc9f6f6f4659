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
    maybe_delivered: bool = False
    """The request went out and no answer came (a timeout, a connection lost under it): the
    service may have delivered it. Dispatch re-sends only where a repeat is harmless
    (``repeat_is_harmless``), else reports the delivery ``unknown``."""
    suspect: bool = False
    """The service ended the whole connection with an error right after taking this request
    (``TransportError.suspect``): it may be what the service refuses. Dispatch rejects a
    delivery that is the suspect ``POISON_REPEATS`` times instead of taking more connections
    down with it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Unregistered:
    """The device token is dead: deactivate the device and never send to it again."""

    reason: str
    since: datetime | None = None
    """When the service says the token stopped being valid (APNs 410 timestamp)."""
    credential: str | None = None
    """Name of the app's credential the token was refused to (where a doubtful mass
    rejection is reported instead), if known."""


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


def repeat_is_harmless(collapse_id: str | None) -> bool:
    """Whether a second copy of a maybe-delivered notification can be sent without showing
    the user the same message twice: only when it carries a collapse id, which every service
    uses to replace a copy with the next (APNs ``apns-collapse-id``, docs/apns.md §3; FCM
    ``collapse_key`` and ``apns-collapse-id``, docs/fcm.md §3; Web Push ``Topic`` and the
    notification ``tag``, docs/webpush.md §1). Neither APNs nor FCM drops a repeat by its id:
    APNs echoes the ``apns-id`` it is given (pushgate derives one per delivery, so both copies
    carry the same, ``delivery_apns_id``), and FCM v1 takes no message id from the sender."""
    return collapse_id is not None


def blame(outcome: Outcome, credential: str) -> Outcome:
    """Name the credential in a configuration rejection or a token rejection, so a fault can
    be reported on it."""
    if (isinstance(outcome, Rejected) and outcome.configuration) or isinstance(
        outcome, Unregistered
    ):
        return replace(outcome, credential=credential)
    return outcome
