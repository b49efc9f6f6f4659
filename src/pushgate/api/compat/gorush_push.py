"""gorush's ``/api/push`` request model and how each notification becomes pushgate Messages.

Pure functions. Field mapping and what is not supported: docs/compat-gorush.md.
"""

from __future__ import annotations

import json
from typing import Any, Final, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    model_validator,
)

from pushgate.message import Alert, FcmOptions, Message, PushType

IOS, ANDROID, HUAWEI = 1, 2, 3
PLATFORM_NAMES: Final = {IOS: "ios", ANDROID: "android", HUAWEI: "huawei"}
MAX_FCM_TOKENS: Final = 500
"""gorush refuses an Android notification with more tokens than FCM's multicast limit."""
_PUSH_TYPES: Final = frozenset(get_args(PushType))
_ALERT_KEYS: Final = (
    "title",
    "subtitle",
    "body",
    "action",
    "action-loc-key",
    "launch-image",
    "loc-key",
    "loc-args",
    "title-loc-key",
    "title-loc-args",
    "summary-arg",
    "summary-arg-count",
)
_LIVE_ACTIVITY_KEYS: Final = (
    "content-state",
    "timestamp",
    "event",
    "stale-date",
    "dismissal-date",
    "attributes-type",
    "attributes",
    "relevance-score",
)


class _Model(BaseModel):
    # gorush's structs ignore unknown keys; a value of the wrong JSON type fails the bind.
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class GorushNotification(_Model):
    """One entry of ``notifications``: gorush's ``PushNotification``."""

    notif_id: StrictStr = ""
    tokens: list[StrictStr] = Field(default_factory=list)
    platform: StrictInt = 0
    message: StrictStr = ""
    title: StrictStr = ""
    image: StrictStr = ""
    priority: StrictStr = ""
    content_available: StrictBool = False
    mutable_content: StrictBool = False
    sound: StrictStr | dict[str, Any] | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    retry: StrictInt = 0
    topic: StrictStr = ""
    to: StrictStr = ""
    # iOS
    expiration: StrictInt | None = None
    apns_id: StrictStr = ""
    collapse_id: StrictStr = ""
    push_type: StrictStr = ""
    badge: StrictInt | None = None
    category: StrictStr = ""
    thread_id: StrictStr = Field(default="", alias="thread-id")
    url_args: list[StrictStr] = Field(default_factory=list, alias="url-args")
    alert: dict[str, Any] = Field(default_factory=dict)
    name: StrictStr = ""
    volume: float | None = None
    interruption_level: StrictStr = ""
    production: StrictBool = False
    development: StrictBool = False
    live_activity: dict[str, Any] = Field(default_factory=dict)
    """Live Activity keys (``content-state``, ``event``, ...), gathered from the top level."""
    # FCM
    notification: dict[str, Any] | None = None
    android: dict[str, Any] = Field(default_factory=dict)
    apns: dict[str, Any] = Field(default_factory=dict)
    webpush: dict[str, Any] = Field(default_factory=dict)
    fcm_options: dict[str, Any] = Field(default_factory=dict)
    condition: StrictStr = ""

    @model_validator(mode="before")
    @classmethod
    def _gather_live_activity(cls, raw: Any) -> Any:
        if isinstance(raw, dict):
            found = {key: raw[key] for key in _LIVE_ACTIVITY_KEYS if key in raw}
            raw = {**raw, "live_activity": found}
        return raw

    def all_tokens(self) -> list[str]:
        """``tokens`` plus the legacy ``to``."""
        return [*self.tokens, self.to] if self.to else list(self.tokens)


class PushRequest(_Model):
    notifications: list[GorushNotification]


def ios_message(n: GorushNotification) -> Message:
    """The APNs push gorush would send for ``n``: ``topic`` is the apns-topic as given (else
    the credential's bundle id), ``apns_id`` the apns-id of every token's request.

    Raises ValueError for what pushgate cannot send (an unknown push type, a bad apns_id).
    """
    push_type = n.push_type or "alert"
    if push_type not in _PUSH_TYPES:
        raise ValueError(f"push_type {push_type!r} is not one APNs knows")
    aps: dict[str, Any] = {}
    alert = {k: n.alert[k] for k in _ALERT_KEYS if n.alert.get(k) not in (None, "", [])}
    if n.title:
        alert.setdefault("title", n.title)
    if n.message:
        alert.setdefault("body", n.message)
    if alert:
        only_body = set(alert) == {"body"}
        aps["alert"] = alert["body"] if only_body else alert
    if n.badge is not None and n.badge >= 0:
        aps["badge"] = n.badge
    sound: Any = n.sound
    if n.name or n.volume is not None:
        sound = {"name": n.name or "default", **({"volume": n.volume} if n.volume else {})}
    if sound:
        aps["sound"] = sound
    if n.category:
        aps["category"] = n.category
    if n.thread_id:
        aps["thread-id"] = n.thread_id
    if n.url_args:
        aps["url-args"] = n.url_args
    if n.content_available and push_type != "background":
        aps["content-available"] = 1
    if n.mutable_content:
        aps["mutable-content"] = 1
    if n.interruption_level:
        aps["interruption-level"] = n.interruption_level
    aps.update(n.live_activity)
    priority = {"high": 10, "normal": 5}.get(n.priority)
    if push_type == "background" and priority == 10:
        priority = 5
    return Message(
        aps=aps,
        data=n.data,
        push_type=push_type,  # type: ignore[arg-type]
        priority=priority,  # type: ignore[arg-type]
        expiration=n.expiration if n.expiration and n.expiration > 0 else None,
        collapse_id=n.collapse_id or None,
        apns_id=n.apns_id or None,
        apns_topic=n.topic or None,
        max_attempts=_attempts(n),
    )


def fcm_message(n: GorushNotification) -> Message:
    """The FCM v1 message gorush would send for ``n`` (one per token or topic)."""
    given = n.notification or {}
    title = given.get("title") or n.title
    body = given.get("body") or n.message
    image = given.get("image") or n.image
    alert = Alert(title=title, body=body, image=image) if (title or body or image) else None
    android = dict(n.android)
    if n.priority in ("high", "normal"):
        android.setdefault("priority", n.priority.upper())
    apns = dict(n.apns)
    if n.content_available or n.mutable_content:
        flags = {"content-available": 1} if n.content_available else {}
        if n.mutable_content:
            flags["mutable-content"] = 1
        apns = {"headers": {"apns-priority": "5"}, "payload": {"aps": flags, **n.data}}
    data = {k: v if isinstance(v, str) else json.dumps(v) for k, v in n.data.items()}
    return Message(
        alert=alert,
        sound=n.sound if isinstance(n.sound, str) and n.sound else None,
        data=data,
        fcm=FcmOptions(android=android, apns=apns, webpush=n.webpush, fcm_options=n.fcm_options),
        max_attempts=_attempts(n),
    )


def _attempts(n: GorushNotification) -> int | None:
    """gorush's ``retry``: at most that many retries (it only ever lowers the server's)."""
    return n.retry + 1 if n.retry > 0 else None


def counted(n: GorushNotification) -> int:
    """What gorush adds to ``counts`` for one notification of an enabled platform (iOS and
    Android here; Huawei is disabled): its ``tokens``, plus one for a ``topic``. gorush counts
    before checking anything, so a notification its worker refuses later (more than 500
    Android tokens) counts too, and before ``to`` joins the tokens, so ``to`` never counts
    (router/server.go ``countNotificationTargets``, notify ``CheckMessage``)."""
    if n.platform not in (IOS, ANDROID):
        return 0
    return len(n.tokens) + (1 if n.topic else 0)


def mask(token: str) -> str:
    """gorush's ``log.hide_token``: the first and last 10 characters become ``*``."""
    if len(token) <= 20:
        return "*" * len(token)
    return "*" * 10 + token[10:-10] + "*" * 10
