"""The exceptions pushgate raises.

Every error inherits from one root, so ``except PushgateError`` never hides a bug
(misuse of an API raises ``TypeError``/``ValueError``/``RuntimeError`` instead)::

    PushgateError
    ├── ConfigurationError        settings or credentials are unusable; a person must fix them
    │   └── CredentialError       an uploaded key or certificate failed validation
    ├── RequestError              a caller sent something we refuse (maps to a 4xx answer)
    │   ├── NotFound
    │   ├── Conflict
    │   ├── TooManyRequests
    │   └── PayloadTooLarge
    └── TransportError            the exchange with a push service failed (see pushgate.transport)

Messages are sentences that say what to fix. They never contain a secret.
"""

from __future__ import annotations


class PushgateError(Exception):
    """Root of every error pushgate raises on purpose."""

    code: str = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class ConfigurationError(PushgateError):
    """Settings or stored credentials are unusable; retrying will not help."""

    code = "configuration_error"


class CredentialError(ConfigurationError):
    """An uploaded APNs/FCM/Web Push credential failed validation."""

    code = "invalid_credential"


class RequestError(PushgateError):
    """The caller sent something pushgate refuses; answered with a 4xx status."""

    code = "invalid_request"
    status = 422


class NotFound(RequestError):
    """The addressed resource does not exist (or belongs to another app)."""

    code = "not_found"
    status = 404


class Conflict(RequestError):
    """The request conflicts with existing state."""

    code = "conflict"
    status = 409


class PayloadTooLarge(RequestError):
    """A rendered notification is larger than the platform allows."""

    code = "payload_too_large"
    status = 413


class TooManyRequests(RequestError):
    """Not now: come back after ``retry_after`` seconds (answered 429 with Retry-After)."""

    code = "too_many_requests"
    status = 429

    def __init__(self, message: str, *, retry_after: float, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class TransportError(PushgateError):
    """The exchange with a push service failed before an HTTP answer arrived."""

    code = "transport_error"
    retryable: bool = True
    """Whether sending the same request again can succeed (see pushgate.transport)."""
    unprocessed: bool = False
    """True only when the service certainly never processed the request."""
    suspect: bool = False
    """True when the server ended the connection with an error right after taking this
    request, the last it names: the request is the likely cause (see pushgate.transport)."""
