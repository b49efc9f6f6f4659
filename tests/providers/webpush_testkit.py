"""A browser stand-in for the Web Push tests: its own P-256 key pair and 16-byte auth secret."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pushgate.providers.webpush_crypto import b64url_encode, decrypt

ENDPOINT = "https://127.0.0.1:8443/wpush/v2/gAAAAABk-example-subscription-id"


@dataclass
class Browser:
    """What a browser keeps for one PushSubscription, and what it hands to the app server."""

    endpoint: str = ENDPOINT
    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth_secret: bytes = field(default_factory=lambda: os.urandom(16))

    @property
    def public_point(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )

    def subscription_json(self) -> dict[str, object]:
        """``PushSubscription.toJSON()``: keys in unpadded base64url."""
        return {
            "endpoint": self.endpoint,
            "keys": {
                "p256dh": b64url_encode(self.public_point),
                "auth": b64url_encode(self.auth_secret),
            },
        }

    def receive(self, body: bytes) -> bytes:
        """Decrypt a pushed body as the browser's push client does."""
        return decrypt(body, self.private_key, self.auth_secret)
