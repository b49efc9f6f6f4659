"""Prometheus metrics, declared once at import so every series exists from zero."""

from __future__ import annotations

from prometheus_client import Counter

from pushgate.store.models import PLATFORMS

DELIVERY_RESULTS = Counter(
    "pushgate_delivery_attempts_total",
    "Delivery attempts by platform and what came of them.",
    ["platform", "result"],
)
CREDENTIAL_LOADS = Counter(
    "pushgate_credential_loads_total",
    "Times an app's credentials were read, decrypted and parsed from the store, by platform "
    "(once per app until they change; more means a cache is missed).",
    ["platform"],
)
NOTIFICATIONS_ACCEPTED = Counter(
    "pushgate_notifications_accepted_total", "Notifications written to the outbox."
)

RESULTS = ("delivered", "retry", "unregistered", "rejected", "failed", "unknown")
RESULT_COUNTERS = {
    (platform, result): DELIVERY_RESULTS.labels(platform, result)
    for platform in PLATFORMS
    for result in RESULTS
}
CHAT_FETCH_ACKS = Counter(
    "pushgate_chat_fetch_acknowledged_total",
    "ID-only pushes whose content a device fetched (each counts as a delivery acknowledgement).",
)


def delivery_totals() -> dict[tuple[str, str], float]:
    """The delivery counters' values by (platform, result)."""
    return {
        (sample.labels["platform"], sample.labels["result"]): sample.value
        for family in DELIVERY_RESULTS.collect()
        for sample in family.samples
        if sample.name.endswith("_total")
    }
