"""Check, before accepting, that a message renders within every target platform's rules."""

from __future__ import annotations

from collections.abc import Iterable

from pushgate.message import Message
from pushgate.providers import apns, webpush
from pushgate.providers.fcm_client import render as render_fcm

_SAMPLE_FCM_TOKEN = "x" * 32


def check_renderable(message: Message, platforms: Iterable[str]) -> None:
    """Raise a RequestError (e.g. PayloadTooLarge, 413) if a platform would refuse it."""
    for platform in set(platforms):
        if platform == "apns":
            apns.check_size(apns.build_payload(message), message.push_type)
            apns.priority_for(message)
            apns.volatile_headers(message, None)
        elif platform == "fcm":
            render_fcm(message, _SAMPLE_FCM_TOKEN, None)
        elif platform == "webpush":
            webpush.build_payload(message)
