"""Every ``reason`` Apple documents for the device-push endpoint, with its status.

From "Handling notification responses from APNs" (docs/simulator.md links it). The
simulator answers with nothing else: a reason a client library does not know would make it
test against a service that does not exist.
"""

from __future__ import annotations

REASONS: dict[str, int] = {
    "BadCollapseId": 400,
    "BadDeviceToken": 400,
    "BadExpirationDate": 400,
    "BadMessageId": 400,
    "BadPriority": 400,
    "BadTopic": 400,
    "DeviceTokenNotForTopic": 400,
    "DuplicateHeaders": 400,
    "IdleTimeout": 400,
    "InvalidPushType": 400,
    "MissingDeviceToken": 400,
    "MissingTopic": 400,
    "PayloadEmpty": 400,
    "TopicDisallowed": 400,
    "BadCertificate": 403,
    "BadCertificateEnvironment": 403,
    "ExpiredProviderToken": 403,
    "Forbidden": 403,
    "InvalidProviderToken": 403,
    "MissingProviderToken": 403,
    "UnrelatedKeyIdInToken": 403,
    "BadEnvironmentKeyIdInToken": 403,
    "BadEnvironmentKeyInToken": 403,
    "BadPath": 404,
    "MethodNotAllowed": 405,
    "ExpiredToken": 410,
    "Unregistered": 410,
    "PayloadTooLarge": 413,
    "TooManyProviderTokenUpdates": 429,
    "TooManyRequests": 429,
    "InternalServerError": 500,
    "ServiceUnavailable": 503,
    "Shutdown": 503,
}
"""``BadEnvironmentKeyIdInToken`` is the documented spelling; APNs has been seen sending
``BadEnvironmentKeyInToken`` on the wire, so both are kept."""


def check_reason(reason: str, status: int | None = None) -> str:
    """``reason`` itself if Apple documents it (with ``status``, when given); else ValueError."""
    expected = REASONS.get(reason)
    if expected is None:
        raise ValueError(f"{reason!r} is not a reason Apple documents for APNs")
    if status is not None and status != expected:
        raise ValueError(f"Apple documents {reason} with status {expected}, not {status}")
    return reason
