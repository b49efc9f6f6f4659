"""The body a push service receives for one device: what the test push shows per device."""

from __future__ import annotations

import time
from typing import Any

import orjson

from pushgate.message import Message
from pushgate.providers import apns, webpush
from pushgate.providers.fcm_client import render as render_fcm
from pushgate.store import Device


def platform_payload(message: Message, device: Device) -> dict[str, Any]:
    """APNs: the JSON body; FCM: the HTTP v1 ``message``; Web Push: the plaintext before
    encryption (what the service worker reads)."""
    if device.platform == "apns":
        body: dict[str, Any] = orjson.loads(apns.build_payload(message))
    elif device.platform == "fcm":
        body = orjson.loads(render_fcm(message, device.token, None, now=time.time()))["message"]
    else:
        body = orjson.loads(webpush.build_payload(message))
    return body
