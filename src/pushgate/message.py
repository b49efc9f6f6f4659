"""The platform-neutral notification an app asks pushgate to send.

The API validates requests into these models; providers render them for their platform.
Field names follow the APNs vocabulary where the platforms agree.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

PushType = Literal[
    "alert",
    "background",
    "voip",
    "location",
    "complication",
    "fileprovider",
    "liveactivity",
    "pushtotalk",
    "mdm",
    "widgets",
    "controls",
]


_UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


class Alert(BaseModel):
    """The visible part of a notification."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = None
    subtitle: str | None = None
    body: str | None = None
    image: str | None = None
    """Picture URL shown by FCM and Web Push (APNs needs a Notification Service Extension)."""


class FcmOptions(BaseModel):
    """FCM-only parts of a message, passed through to the HTTP v1 ``message`` object."""

    model_config = ConfigDict(extra="forbid")

    android: dict[str, Any] = Field(default_factory=dict)
    """AndroidConfig overrides (priority, ttl, collapse_key, notification.channel_id, ...)."""
    apns: dict[str, Any] = Field(default_factory=dict)
    """ApnsConfig overrides (headers, payload) for iOS devices reached through FCM."""
    webpush: dict[str, Any] = Field(default_factory=dict)
    """WebpushConfig overrides (headers, notification, fcm_options)."""
    fcm_options: dict[str, Any] = Field(default_factory=dict)
    """The message's FcmOptions (``analytics_label``)."""
    validate_only: bool = False
    """Dry run: FCM checks everything and delivers nothing."""


class Message(BaseModel):
    """What to show or deliver; rendered per platform by the providers."""

    model_config = ConfigDict(extra="forbid")

    alert: Alert | None = None
    badge: int | None = Field(default=None, ge=0)
    sound: str | dict[str, Any] | None = None
    category: str | None = None
    thread_id: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    """Custom keys, delivered beside ``aps`` (APNs) or as FCM/Web Push data."""
    push_type: PushType = "alert"
    priority: Literal[1, 5, 10] | None = None
    """APNs priority; None picks the push type's default (10, or 5 for background)."""
    expiration: int | None = Field(default=None, ge=0)
    """Epoch seconds after which the service should drop it; 0 = now or never."""
    collapse_id: str | None = None
    apns_id: str | None = Field(default=None, pattern=_UUID)
    """The apns-id header (a lowercase UUID) APNs reports the push by; else APNs makes one."""
    apns_topic: str | None = Field(default=None, min_length=1, max_length=255)
    """The apns-topic exactly as sent, for a push to another app than the credential's bundle
    id (a token credential may push to every app of its team); else the credential's."""
    max_attempts: int | None = Field(default=None, ge=1)
    """At most this many tries (never more than ``dispatch.max_attempts``)."""
    mutable_content: bool = False
    content_available: bool = False
    aps: dict[str, Any] = Field(default_factory=dict)
    """Extra ``aps`` keys passed through (interruption-level, relevance-score, ...)."""
    fcm: FcmOptions = Field(default_factory=FcmOptions)

    @field_validator("collapse_id")
    @classmethod
    def _collapse_id_fits(cls, value: str | None) -> str | None:
        if value is not None and len(value.encode()) > 64:
            raise ValueError("collapse_id must be at most 64 bytes")
        return value

    @field_validator("data")
    @classmethod
    def _data_has_no_aps(cls, value: dict[str, Any]) -> dict[str, Any]:
        if "aps" in value:
            raise ValueError("data must not contain the key 'aps'; use the 'aps' field")
        return value
