"""The one place where an exception met while sending becomes an Outcome (every provider).

A send can fail before any answer arrives in three ways, each with its own outcome:

- a ``RequestError``: the notification cannot be sent as it is (bad token, unencodable data):
  Rejected with the error's status, the device stays active;
- another ``PushgateError`` (missing or unusable credentials): a configuration Rejected;
- a ``TransportError``: Retry when ``retryable`` (a later try may succeed; one the service
  never processed is not charged as an attempt; one sent to the push service that got no
  answer may have been delivered, ``maybe_delivered``), else Rejected:
  a failure that repeats on every try (the server reset the stream as malformed) must not
  spend the delivery's attempts and take connections down each time. A connection-wide
  failure that names this request as its likely cause is a Retry marked ``suspect``: dispatch
  rejects the delivery when it happens again.
"""

from __future__ import annotations

from pushgate.errors import PushgateError, RequestError, TransportError
from pushgate.outcomes import Outcome, Rejected, Retry

__all__ = ["failure_outcome"]


def failure_outcome(error: PushgateError, *, where: str = "transport") -> Outcome:
    """The outcome of a send that raised ``error``; ``where`` names the exchange that failed
    (``transport`` for the push service, ``token endpoint`` for FCM's OAuth exchange)."""
    if isinstance(error, TransportError):
        if error.retryable:
            return Retry(
                reason=f"{where}: {error.code}",
                counts=not error.unprocessed,
                maybe_delivered=where == "transport" and not error.unprocessed,
                suspect=error.suspect,
            )
        return Rejected(reason=f"{where}: {error.code} (not retried: it would repeat): {error}")
    if isinstance(error, RequestError):
        return Rejected(reason=f"{error.code}: {error.message}", status=error.status)
    return Rejected(reason=f"{error.code}: {error.message}", configuration=True)
