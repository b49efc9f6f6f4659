"""Render a message for every target platform before accepting it, keeping what can be reused.

A platform that would refuse the message raises a RequestError (e.g. PayloadTooLarge, 413)
before anything is stored. The APNs render (payload bytes and header values) is the same for
every device, so it is returned to be stored with the notification and sent as is.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from pushgate.message import Message
from pushgate.providers import webpush
from pushgate.providers.apns_render import ApnsRender
from pushgate.providers.fcm_client import render as render_fcm

_SAMPLE_FCM_TOKEN = "x" * 32


def render_checked(message: Message, platforms: Iterable[str]) -> dict[str, Any]:
    """Check the message against each platform; the renders worth storing, by platform."""
    renders: dict[str, Any] = {}
    for platform in set(platforms):
        if platform == "apns":
            renders["apns"] = ApnsRender.of(message).to_stored()
        elif platform == "fcm":
            render_fcm(message, _SAMPLE_FCM_TOKEN, None, now=time.time())
        elif platform == "webpush":
            webpush.build_payload(message)
    return renders
