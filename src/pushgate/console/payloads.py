"""What each push service was sent for a notification, rebuilt from what the store kept.

APNs: the payload and header values rendered at accept time (stored with the notification)
plus the topic of the app's credentials. FCM: the message body built for each device token by
the same function the sender uses. Web Push: the JSON the service worker decrypts (it is
encrypted per subscription on the way, RFC 8291).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from pushgate.message import Message
from pushgate.providers import apns, webpush
from pushgate.providers.fcm_client import render as render_fcm


@dataclass(frozen=True, slots=True)
class ProviderRequest:
    """One request as a push service received it: who for, header lines and the body."""

    platform: str
    target: str
    headers: list[tuple[str, str]]
    body: str


def provider_requests(report: dict[str, Any], apns_topics: dict[str, str]) -> list[ProviderRequest]:
    """The requests behind ``report`` (a store report with message and renders).

    ``apns_topics`` maps the app's APNs environments to their credential's topic (bundle id).
    """
    message = Message.model_validate(report["message"])
    platforms = {r["platform"] for r in report["results"]}
    requests = []
    stored_apns = report["renders"].get("apns")
    if "apns" in platforms and stored_apns:
        requests.append(_apns(stored_apns, apns_topics))
    for result in report["results"]:
        if result["platform"] == "fcm":
            target = _fcm_target(result["token"])
            # ``now`` turns an expiration into a ttl: the time of the last attempt
            body = render_fcm(message, result["token"], target, now=result["updated_at"])
            requests.append(ProviderRequest("fcm", result["token"], [], _pretty(body)))
    if "webpush" in platforms:
        body = _pretty(webpush.build_payload(message))
        requests.append(ProviderRequest("webpush", "every subscription", [], body))
    return requests


def _apns(stored: dict[str, Any], topics: dict[str, str]) -> ProviderRequest:
    headers = [
        (f"apns-topic ({env})", apns.topic_for(topic, stored["push_type"]))
        for env, topic in sorted(topics.items())
    ]
    headers += [("apns-push-type", stored["push_type"]), ("apns-priority", str(stored["priority"]))]
    headers += [(name, value) for name, value in stored["volatile"] or []]
    return ProviderRequest("apns", "every device", headers, _pretty(stored["payload"].encode()))


def _fcm_target(token: str) -> dict[str, str] | None:
    """App-level deliveries keep their topic or condition as the token's description."""
    if token.startswith("/topics/"):
        return {"topic": token.removeprefix("/topics/")}
    if token.startswith("condition: "):
        return {"condition": token.removeprefix("condition: ")}
    return None


def _pretty(body: bytes) -> str:
    return orjson.dumps(orjson.loads(body), option=orjson.OPT_INDENT_2).decode()
