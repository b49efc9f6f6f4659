"""Settings of the push service simulator, including the behaviours the services leave undocumented."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ApnsEnvironment = Literal["production", "sandbox"]


class ApnsRules(BaseModel):
    """How strictly the APNs simulator behaves where PROTOCOLS.md marks a fact [U] or [O].

    Reasons set to ``None`` switch the check off.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    max_concurrent_streams: int = Field(1000, ge=1)
    """MAX_CONCURRENT_STREAMS once a token connection has shown a valid JWT (cert: from the start)."""
    drop_streams_after_rejection: bool = False
    """Advertise 1 stream after a rejected request until the next accepted one [O radar-27870881]."""
    token_max_age: float = Field(3600.0, gt=0)
    """Seconds after ``iat`` when a JWT becomes 403 ExpiredProviderToken."""
    token_clock_skew: float = Field(60.0, ge=0)
    """Seconds an ``iat`` may lie in the future before the JWT is 403 InvalidProviderToken."""
    token_update_interval: float = Field(1200.0, ge=0)
    """Minimum seconds between two JWT changes on one connection (else 429)."""
    invalid_payload_reason: str = "BadPayload"
    """400 reason when the body is not a JSON object (Apple documents none) [U]."""
    topic_disallowed_reason: str = "TopicDisallowed"
    """400 reason for a topic the certificate/key may not use or a wrong push-type suffix [U]."""
    background_priority_10_reason: str | None = "BadPriority"
    """400 reason for ``apns-push-type: background`` at (default) priority 10 [U]."""
    background_payload_reason: str | None = "BadPayload"
    """400 reason when a background push's ``aps`` holds more than ``content-available`` [U]."""
    bad_environment_key_reason: str = "BadEnvironmentKeyInToken"
    """403 reason for a key of the other environment (wire spelling; Apple documents ...KeyIdInToken)."""


class FcmRules(BaseModel):
    """How the FCM simulator behaves where PROTOCOLS.md §2 marks a fact [U] or leaves a choice."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    access_token_lifetime: int = Field(3599, ge=1)
    """``expires_in`` of the access tokens ``/token`` issues (Google: 3599)."""
    assertion_clock_skew: float = Field(60.0, ge=0)
    """Seconds an assertion's ``iat`` may lie in the future."""
    extra_token_audiences: tuple[str, ...] = ()
    """Assertion ``aud`` values accepted besides the simulator's own token URLs."""
    payload_limit: int = Field(4096, ge=1)
    """Bytes of ``notification`` + ``data`` (as ``fcm_checks.payload_size`` counts them) per
    token send."""
    topic_payload_limit: int = Field(4096, ge=1)
    """The same for topic and condition sends; FCM's ErrorCode page says 2048 [U]."""
    token_pattern: str = r"[A-Za-z0-9_:.\-]{8,4096}"
    """What a syntactically valid registration token (or ``fid``) looks like [U]."""

    @field_validator("token_pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"token_pattern is not a regular expression: {exc}") from None
        return value


class WebPushRules(BaseModel):
    """How the Web Push simulator behaves (PROTOCOLS.md §3)."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    max_body: int = Field(4096, ge=1)
    """Largest encrypted body accepted; above it 413 (RFC 8030 §7.2 forbids less than 4096)."""
    max_ttl: int = Field(2_419_200, ge=0)
    """Longest TTL kept; a longer request is answered with this TTL (RFC 8030 §5.2)."""
    max_vapid_expiry: int = Field(86_400, ge=1)
    """Largest ``exp`` - now a VAPID JWT may have (RFC 8292 §2: 24 hours)."""
    require_vapid: bool = True
    """401 for requests without ``Authorization: vapid`` (else VAPID is optional, RFC 8292)."""
    require_vapid_subject: bool = True
    """403 BadJwtToken when ``sub`` is missing (Apple insists, §3.3)."""


class SimulatorSettings(BaseModel):
    """Where the simulator listens and how it behaves."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    host: str = "127.0.0.1"
    apns_production_port: int = Field(0, ge=0, le=65535)
    """0 picks a free port (in-process use); the CLI suggests :data:`CLI_PORTS`."""
    apns_sandbox_port: int = Field(0, ge=0, le=65535)
    control_port: int = Field(0, ge=0, le=65535)
    fcm_port: int = Field(0, ge=0, le=65535)
    """FCM HTTP v1 and its OAuth token endpoint (HTTPS, HTTP/2 and HTTP/1.1)."""
    webpush_port: int = Field(0, ge=0, le=65535)
    """The Web Push service: subscriptions' endpoints (HTTPS, HTTP/2 and HTTP/1.1)."""
    state_dir: Path | None = None
    """Where the CA lives (created if missing, reused if present); None = a temporary directory."""
    server_hostnames: tuple[str, ...] = ("localhost",)
    server_ips: tuple[str, ...] = ("127.0.0.1",)
    inbox_size: int = Field(100_000, ge=1)
    apns: ApnsRules = ApnsRules()
    fcm: FcmRules = FcmRules()
    webpush: WebPushRules = WebPushRules()
    clock: Callable[[], float] = Field(default=time.time, exclude=True, repr=False)
    """Epoch seconds; tests inject a fake clock to age JWTs and token updates."""


CLI_PORTS = {
    "apns_production_port": 8443,
    "apns_sandbox_port": 8444,
    "fcm_port": 8445,
    "webpush_port": 8446,
    "control_port": 8440,
}
"""Suggested fixed ports for ``pushgate simulator`` (443/2197 need privileges or clash)."""
