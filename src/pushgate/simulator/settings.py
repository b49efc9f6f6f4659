"""Settings of the push service simulator, including the behaviours the services leave undocumented."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pushgate.simulator.apns_reasons import check_reason

ApnsEnvironment = Literal["production", "sandbox"]


class ApnsRules(BaseModel):
    """How the APNs simulator behaves where Apple leaves the answer open (docs/simulator.md).

    Reasons set to ``None`` switch the check off; every reason must be one Apple documents.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    max_concurrent_streams: int = Field(1000, ge=1)
    """MAX_CONCURRENT_STREAMS once a token connection has shown a valid JWT (cert: from the start)."""
    one_stream_until_token: bool = True
    """Apple's rule: a token connection gets one stream until a request shows a valid JWT.
    Only streams the client opened after acknowledging the SETTINGS count against it."""
    drop_streams_after_rejection: bool = False
    """Advertise 1 stream after a rejected request until the next accepted one (seen on the wire)."""
    token_max_age: float = Field(3600.0, gt=0)
    """Seconds after ``iat`` when a JWT becomes 403 ExpiredProviderToken."""
    token_clock_skew: float = Field(60.0, ge=0)
    """Seconds an ``iat`` may lie in the future before the JWT is 403 InvalidProviderToken."""
    token_update_interval: float = Field(1200.0, ge=0)
    """Minimum seconds between two JWT changes on one connection (else 429)."""
    invalid_payload_reason: str = "PayloadEmpty"
    """400 reason when the body is not a JSON dictionary, or its ``aps`` is not one: Apple
    documents no reason for it, and its nearest is "the message payload is empty"."""
    topic_disallowed_reason: str = "TopicDisallowed"
    """400 reason for a topic the certificate/key may not use or a wrong push-type suffix (undocumented)."""
    background_priority_10_reason: str | None = "BadPriority"
    """400 reason for ``apns-push-type: background`` at (default) priority 10 (undocumented)."""
    background_payload_reason: str | None = None
    """400 reason when a background push's ``aps`` holds more than ``content-available``;
    off by default, as Apple documents no error (it may delay or drop such a push)."""
    bad_environment_key_reason: str = "BadEnvironmentKeyInToken"
    """403 reason for a key of the other environment (wire spelling; Apple documents ...KeyIdInToken)."""

    @field_validator(
        "invalid_payload_reason", "topic_disallowed_reason", "background_priority_10_reason",
        "background_payload_reason",
    )  # fmt: skip
    @classmethod
    def _bad_request_reason(cls, value: str | None) -> str | None:
        return None if value is None else check_reason(value, 400)

    @field_validator("bad_environment_key_reason")
    @classmethod
    def _forbidden_reason(cls, value: str) -> str:
        return check_reason(value, 403)


class FcmRules(BaseModel):
    """How the FCM simulator behaves where Google's documentation leaves a choice."""

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
    """The same for topic and condition sends; FCM's ErrorCode page says 2048 (undocumented)."""
    token_pattern: str = r"(?:[A-Za-z0-9_-]{11,64}:)?APA91b[A-Za-z0-9_-]{60,4000}"
    """What a registration token looks like (``<instance id>:APA91b<...>``, 150-odd characters;
    Google publishes no grammar): anything else is 400 INVALID_ARGUMENT, as FCM answers a
    malformed token."""
    fid_pattern: str = r"[c-f][A-Za-z0-9_-]{21}"
    """A Firebase installation ID: 22 base64url characters, the first one of c-f (Firebase
    installations documentation)."""

    @field_validator("token_pattern", "fid_pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return value


class WebPushRules(BaseModel):
    """How the Web Push simulator behaves (RFC 8030, RFC 8291, RFC 8292)."""

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
    """403 BadJwtToken when ``sub`` is missing (Apple's push service insists on it)."""


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
