"""What the Web Push simulator knows: subscriptions it created like a browser would (keeping the
user agent's private key and auth secret) and which of them have expired."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pushgate.simulator.webpush_crypto import AUTH_SECRET_SIZE, b64url_decode, b64url_encode

PUSH_PATH = "/push/"
_POINT_SIZE = 65


@dataclass(frozen=True, slots=True)
class WebPushSubscription:
    """One push subscription: its endpoint, the browser's keys, the VAPID key it is bound to."""

    subscription_id: str
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey = field(repr=False)
    auth_secret: bytes = field(repr=False)
    application_server_key: bytes | None = None
    """The 65-byte VAPID public key given at subscribe time; None for an unrestricted one."""

    @property
    def p256dh(self) -> bytes:
        """The user agent's public key, a 65-byte uncompressed P-256 point."""
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )

    def to_json(self) -> dict[str, Any]:
        """What ``PushSubscription.toJSON()`` gives a web app."""
        keys = {"p256dh": b64url_encode(self.p256dh), "auth": b64url_encode(self.auth_secret)}
        return {"endpoint": self.endpoint, "expirationTime": None, "keys": keys}


class WebPushRegistry:
    """Subscriptions by id, and the ids of expired ones."""

    def __init__(self) -> None:
        self.subscriptions: dict[str, WebPushSubscription] = {}
        self.expired: set[str] = set()

    def create(
        self,
        base_url: str,
        application_server_key: str | None = None,
        *,
        private_key: ec.EllipticCurvePrivateKey | None = None,
        auth_secret: bytes | None = None,
    ) -> WebPushSubscription:
        """Subscribe like a browser: a P-256 key pair and a 16-byte auth secret.

        The browser's own ``private_key`` and ``auth_secret`` may be given (a test acting as
        the browser); otherwise new ones are made. ``application_server_key`` (base64url of
        the VAPID public key) restricts the subscription to that key; ValueError if it is not
        a P-256 point.
        """
        if auth_secret is not None and len(auth_secret) != AUTH_SECRET_SIZE:
            raise ValueError(f"auth_secret must be {AUTH_SECRET_SIZE} bytes")
        restricted = None if application_server_key is None else _point(application_server_key)
        subscription_id = secrets.token_urlsafe(32)
        subscription = WebPushSubscription(
            subscription_id,
            f"{base_url}{PUSH_PATH}{subscription_id}",
            private_key or ec.generate_private_key(ec.SECP256R1()),
            auth_secret or os.urandom(AUTH_SECRET_SIZE),
            restricted,
        )
        self.subscriptions[subscription_id] = subscription
        return subscription

    def expire(self, endpoint: str) -> str:
        """Answer 410 Gone for this subscription (endpoint URL or id) from now on; its id."""
        subscription_id = endpoint.rpartition(PUSH_PATH)[2] if PUSH_PATH in endpoint else endpoint
        if subscription_id not in self.subscriptions:
            raise KeyError("no such subscription: create it with create_webpush_subscription")
        self.expired.add(subscription_id)
        return subscription_id


def _point(application_server_key: str) -> bytes:
    """The decoded applicationServerKey: a 65-byte uncompressed point on P-256."""
    try:
        point = b64url_decode(application_server_key.strip())
        if len(point) != _POINT_SIZE or point[0] != 0x04:
            raise ValueError("wrong size")
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise ValueError(
            "application_server_key must be the VAPID public key: base64url of a 65-byte "
            "uncompressed P-256 point"
        ) from None
    return point
