"""Helpers shared by the simulator tests: constants, a fake clock, provider signing keys, push()."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sim_h2_client import Answer, H2TestClient

TOKEN = "a1" * 32
TOPIC = "com.example.chat"
TEAM_BUNDLE_IDS = (TOPIC, "com.example.b", "com.apple.mgmt.External.1234")
"""The apps of the test team: what its team-scoped keys may push to."""
TEAM = "TEAM123456"
KEY_ID = "KEY1234567"


class FakeClock:
    """Epoch seconds that only move when a test says so."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class SigningKey:
    """A provider's .p8 key: mints ES256 provider tokens."""

    key_id: str
    team_id: str
    private_key: ec.EllipticCurvePrivateKey

    @classmethod
    def generate(cls, key_id: str = KEY_ID, team_id: str = TEAM) -> SigningKey:
        return cls(key_id, team_id, ec.generate_private_key(ec.SECP256R1()))

    @property
    def public_pem(self) -> str:
        public = self.private_key.public_key()
        info = serialization.PublicFormat.SubjectPublicKeyInfo
        return public.public_bytes(serialization.Encoding.PEM, info).decode()

    def token(self, iat: float, **claims: object) -> str:
        payload = {"iss": self.team_id, "iat": int(iat), **claims}
        return jwt.encode(
            payload, self.private_key, algorithm="ES256", headers={"kid": self.key_id}
        )


def push_headers(
    token: str | None, *, topic: str | None = TOPIC, **extra: str
) -> list[tuple[str, str]]:
    """apns headers for a request; keyword names use _ for - (apns_push_type=...)."""
    headers = [] if token is None else [("authorization", f"bearer {token}")]
    if topic is not None:
        headers.append(("apns-topic", topic))
    headers += [(name.replace("_", "-"), value) for name, value in extra.items()]
    return headers


ALERT = b'{"aps":{"alert":"hi"}}'

Connect = Callable[..., Awaitable[H2TestClient]]


async def push(
    client: H2TestClient,
    token: str | None,
    *,
    device: str = TOKEN,
    body: bytes = ALERT,
    path: str | None = None,
    method: str = "POST",
    **headers: str,
) -> Answer:
    """POST one notification and wait for the answer."""
    target = path if path is not None else f"/3/device/{device}"
    return await client.request(target, push_headers(token, **headers), body, method)
