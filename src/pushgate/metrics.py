"""Prometheus metrics, declared once at import so every series exists from zero.

The API process's metrics are in the default registry. What only the sending side knows
(outcomes by app and reason, send latency, token refreshes, circuits) is in
``DISPATCH_REGISTRY``: the dispatcher process sends its text to the API process, whose
``/metrics`` serves both (``pushgate.dispatch.process``).
"""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

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
RESULTS_GROWN: dict[tuple[str, str], float] = {}
"""What ``count_results`` added to each of ``RESULT_COUNTERS`` since the dispatcher process
last passed it on to the API process's copy (``pushgate.dispatch.process``), which takes it
before every batch it sends: reading the growth off ``DELIVERY_RESULTS.collect()`` took
0.25 ms a batch. With the dispatcher in the API process nobody takes it; it holds at most one
entry per counter."""


def count_results(platform: str, result: str, count: int) -> None:
    """Add ``count`` attempts that came to ``result`` (one of ``RESULTS``) on ``platform``."""
    key = (platform, result)
    counter = RESULT_COUNTERS.get(key)
    if counter is not None:
        counter.inc(count)
        RESULTS_GROWN[key] = RESULTS_GROWN.get(key, 0) + count


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


DISPATCH_REGISTRY = CollectorRegistry(auto_describe=True)
DELIVERY_OUTCOMES = Counter(
    "pushgate_delivery_outcomes_total",
    "Delivery attempts by platform, app, outcome (delivered, retry, unregistered, rejected, "
    "failed, unknown) and reason (the push service's code, or the transport failure).",
    ["platform", "app", "outcome", "reason"],
    registry=DISPATCH_REGISTRY,
)
SEND_SECONDS = Histogram(
    "pushgate_send_seconds",
    "Seconds from handing a delivery to its provider to its outcome, by platform (a sample of "
    "one delivery in 16, so that timing costs the send path nothing measurable).",
    ["platform"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=DISPATCH_REGISTRY,
)
TOKEN_REFRESHES = Counter(
    "pushgate_token_refreshes_total",
    "Provider tokens minted: APNs JWTs and FCM OAuth access tokens, by platform.",
    ["platform"],
    registry=DISPATCH_REGISTRY,
)
OPEN_CIRCUITS = Gauge(
    "pushgate_circuits_open",
    "Credentials and push service hosts whose circuit is open or half-open (sending paused "
    "after failures in a row).",
    ["platform"],
    registry=DISPATCH_REGISTRY,
)
OUTBOX_DEPTH = Gauge("pushgate_outbox_depth", "Deliveries pending in the outbox (read at scrape).")
SEND_LATENCY = {platform: SEND_SECONDS.labels(platform) for platform in PLATFORMS}
for _platform in PLATFORMS:
    TOKEN_REFRESHES.labels(_platform)
    OPEN_CIRCUITS.labels(_platform)

_REASON_END = re.compile(r"[:\s(]")


def reason_label(reason: str | None) -> str:
    """A reason as a metric label: its leading code (``BadDeviceToken``, ``transport``),
    never the sentence after it (labels must stay few)."""
    if not reason:
        return ""
    return _REASON_END.split(reason, maxsplit=1)[0][:40]
