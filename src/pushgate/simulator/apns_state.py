"""What the APNs simulator knows: signing keys, device registrations, dead tokens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pushgate.simulator.apns_reasons import check_reason
from pushgate.simulator.settings import ApnsEnvironment

KeyEnvironment = Literal["production", "sandbox", "both"]


class Rejection(Exception):
    """An APNs error answer: raised by a check, turned into ``{"reason": ...}`` by the handler."""

    def __init__(self, status: int, reason: str, timestamp_ms: int | None = None) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = check_reason(reason, status)
        self.timestamp_ms = timestamp_ms


@dataclass(frozen=True, slots=True)
class ProviderKey:
    """A token-auth signing key the simulator was told about (only its public half)."""

    key_id: str
    team_id: str
    public_key: ec.EllipticCurvePublicKey
    environment: KeyEnvironment = "both"
    topics: frozenset[str] | None = None
    """None: a team-scoped key; otherwise the bundle ids a topic-specific key may push to."""

    def serves(self, environment: ApnsEnvironment) -> bool:
        """Whether this key may be used against that APNs environment."""
        return self.environment in ("both", environment)


@dataclass(frozen=True, slots=True)
class DeviceRegistration:
    """The topic and environment a device token was issued for."""

    topic: str
    environment: ApnsEnvironment


class ApnsRegistry:
    """Keys, device registrations and dead tokens shared by the production and sandbox listeners."""

    def __init__(self) -> None:
        self.keys: dict[str, ProviderKey] = {}
        self.team_bundle_ids: dict[str, set[str]] = {}
        """The apps of each team: what its team-scoped keys may push to."""
        self.devices: dict[str, DeviceRegistration] = {}
        self.dead_tokens: dict[str, int] = {}

    def add_key(
        self,
        key_id: str,
        team_id: str,
        public_key_pem: bytes | str,
        environment: KeyEnvironment = "both",
        topics: tuple[str, ...] | list[str] | None = None,
        *,
        bundle_ids: tuple[str, ...] | list[str] = (),
    ) -> ProviderKey:
        """Trust a P-256 key for ES256 JWTs; ValueError if the PEM is not one.

        A ``.p8`` private key is accepted too (only its public half is kept). ``bundle_ids``
        are apps of the key's team (a team-scoped key pushes to those only, as Apple's do);
        ``topics`` makes it a topic-specific key for those bundle ids instead. A team-scoped
        key of a team with no bundle ids is refused: it could push nowhere.
        """
        public_key = _public_key(public_key_pem)
        if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(
            public_key.curve, ec.SECP256R1
        ):
            raise ValueError("public_key_pem must be an EC P-256 public key (ES256)")
        if environment not in ("production", "sandbox", "both"):
            raise ValueError("environment must be 'production', 'sandbox' or 'both'")
        team_apps = self.team_bundle_ids.get(team_id, set()) | set(bundle_ids)
        if topics is None and not team_apps:
            raise ValueError(
                f"team {team_id} has no bundle ids: give the apps this key may push to"
            )
        scope = frozenset(topics) if topics is not None else None
        key = ProviderKey(key_id, team_id, public_key, environment, scope)
        self.keys[key_id] = key
        self.team_bundle_ids[team_id] = team_apps
        return key

    def key_allows(self, key: ProviderKey, bundle_id: str) -> bool:
        """Whether ``key`` may push to an app: its own topics, or its team's bundle ids."""
        allowed = key.topics if key.topics is not None else self.team_bundle_ids[key.team_id]
        return bundle_id in allowed

    def register_device(self, token: str, topic: str, environment: ApnsEnvironment) -> None:
        """Record which topic and environment a device token belongs to."""
        self.devices[token.lower()] = DeviceRegistration(topic, environment)

    def mark_dead(self, token: str, timestamp_ms: int) -> None:
        """Answer 410 Unregistered with this timestamp for the token from now on."""
        self.dead_tokens[token.lower()] = timestamp_ms


def _public_key(pem: bytes | str) -> object:
    """The public key in a PEM public key, or the public half of a PEM private key."""
    data = pem.encode() if isinstance(pem, str) else pem
    if b"PRIVATE KEY-----" not in data:
        return serialization.load_pem_public_key(data)
    try:
        return serialization.load_pem_private_key(data, password=None).public_key()
    except TypeError:
        raise ValueError("the private key is encrypted; send its public key instead") from None
