"""Devices of the calling app: register, list (per user), delete."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, TypedDict

from fastapi import APIRouter, Body, Query, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from pushgate.api.auth import GatewayDep, ManagedApp
from pushgate.api.errors import error_responses
from pushgate.engine.chat.anonymous import refuse_anonymous
from pushgate.errors import NotFound, RequestError
from pushgate.gateway import Gateway
from pushgate.providers import webpush
from pushgate.store import Device

router = APIRouter(prefix="/v1/devices", tags=["devices"])

_HEX = re.compile(r"^[0-9a-fA-F]+$")
MIN_APNS_TOKEN_HEX = 32
MAX_APNS_TOKEN_HEX = 400


class Stored(TypedDict):
    """A registration as ``DeviceRepository.register_device`` takes it."""

    token: str
    apns_environment: str | None
    fcm_credential: str | None
    extra: dict[str, Any] | None


def _stored(
    token: str,
    *,
    apns_environment: str | None = None,
    fcm_credential: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Stored:
    return Stored(
        token=token, apns_environment=apns_environment, fcm_credential=fcm_credential, extra=extra
    )


class _Registration(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: str = Field(
        min_length=1,
        max_length=255,
        description="The owner; anonymous users (no id) cannot register devices.",
    )

    @field_validator("user_id")
    @classmethod
    def _user_id_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("anonymous users cannot register devices; give a user_id")
        return value

    def stored(self) -> Stored:
        """The token, APNs environment, FCM credential and extra, as ``register_device``
        takes them."""
        raise NotImplementedError


class ApnsRegistration(_Registration):
    """An iOS/macOS device token from APNs."""

    platform: Literal["apns"]
    token: str
    environment: Literal["sandbox", "production"] = "production"

    @field_validator("token")
    @classmethod
    def _token_is_hex(cls, value: str) -> str:
        if not _HEX.match(value) or len(value) % 2:
            raise ValueError("an APNs token is the device token bytes as hex (even length)")
        if not MIN_APNS_TOKEN_HEX <= len(value) <= MAX_APNS_TOKEN_HEX:
            raise ValueError(
                f"an APNs token has {MIN_APNS_TOKEN_HEX} to {MAX_APNS_TOKEN_HEX} hex characters"
            )
        return value.lower()

    def stored(self) -> Stored:
        return _stored(self.token, apns_environment=self.environment)


class FcmRegistration(_Registration):
    """An Android (or any FCM) registration token."""

    platform: Literal["fcm"]
    token: str = Field(min_length=8, max_length=4096, pattern=r"^[^\s]+$")
    credential: str = Field(
        default="default",
        min_length=1,
        max_length=64,
        description="Name of the app's FCM credential (project) the token belongs to.",
    )

    def stored(self) -> Stored:
        return _stored(self.token, fcm_credential=self.credential)


class SubscriptionKeys(BaseModel):
    """``PushSubscription.toJSON().keys``."""

    model_config = ConfigDict(extra="forbid")
    p256dh: str
    auth: str


class WebPushSubscription(BaseModel):
    """``PushSubscription.toJSON()`` as a browser gives it."""

    model_config = ConfigDict(extra="ignore")
    endpoint: str
    keys: SubscriptionKeys


class WebPushRegistration(_Registration):
    """A browser's push subscription."""

    platform: Literal["webpush"]
    subscription: WebPushSubscription

    def stored(self) -> Stored:
        sub = self.subscription
        webpush.validate_subscription(sub.endpoint, sub.keys.p256dh, sub.keys.auth)
        return _stored(sub.endpoint, extra={"p256dh": sub.keys.p256dh, "auth": sub.keys.auth})


DeviceRegistration = Annotated[
    ApnsRegistration | FcmRegistration | WebPushRegistration, Field(discriminator="platform")
]


class DeviceOut(BaseModel):
    """A registered device."""

    id: int
    user_id: str
    platform: str
    token: str
    environment: str | None = Field(description="The APNs environment of an APNs token.")
    credential: str | None = Field(
        description="The name of the FCM credential (project) an FCM token belongs to."
    )
    active: bool
    inactive_reason: str | None
    inactive_since: float | None
    created_at: float

    @classmethod
    def of(cls, device: Device) -> DeviceOut:
        return cls(
            id=device.id,
            user_id=device.user_id,
            platform=device.platform,
            token=device.token,
            environment=device.apns_environment,
            credential=device.fcm_credential,
            active=device.active,
            inactive_reason=device.inactive_reason,
            inactive_since=device.inactive_since,
            created_at=device.created_at,
        )


class Registered(BaseModel):
    """The registered device, and any the per-user limit pushed out."""

    device: DeviceOut
    dropped: list[DeviceOut]


@router.post("", status_code=201, response_model=Registered)
async def register(
    body: Annotated[DeviceRegistration, Body()], app: ManagedApp, gw: GatewayDep
) -> Registered:
    """Register a token for a user (moving it from another user if it was theirs)."""
    await refuse_anonymous(gw.chat, app.id, [body.user_id])
    if isinstance(body, FcmRegistration):
        await _check_fcm_credential(gw, app.id, body.credential)
    device, dropped = await gw.store.register_device(
        app_id=app.id,
        user_id=body.user_id,
        platform=body.platform,
        **body.stored(),
        max_per_user=gw.settings.devices.max_per_user,
    )
    return Registered(device=DeviceOut.of(device), dropped=[DeviceOut.of(d) for d in dropped])


async def _check_fcm_credential(gw: Gateway, app_id: str, name: str) -> None:
    """Refuse a device naming an FCM credential the app lacks: its sends could only fail."""
    names = sorted(row.name for row in await gw.store.list_credentials(app_id, "fcm"))
    if name in names:
        return
    known = f"the app has: {', '.join(names)}" if names else "the app has none yet"
    raise RequestError(
        f"No FCM credential named '{name}' ({known}). Upload it first "
        f"(pushgate push fcm --service-account FILE --name {name}) or name an existing one.",
        code="unknown_credential",
    )


@router.get("", response_model=list[DeviceOut])
async def list_devices(
    app: ManagedApp,
    gw: GatewayDep,
    user_id: str | None = Query(default=None, min_length=1),
    limit: int = Query(default=1000, ge=1, le=10_000),
) -> list[DeviceOut]:
    """The app's devices, or one user's."""
    return [DeviceOut.of(d) for d in await gw.store.list_devices(app.id, user_id, limit=limit)]


@router.delete("/{token:path}", status_code=204, responses=error_responses(404))
async def delete_device(token: str, app: ManagedApp, gw: GatewayDep) -> Response:
    """Forget a device token (for Web Push: the subscription endpoint)."""
    deleted = await gw.store.delete_device(app.id, token)
    if not deleted and token != token.lower():
        deleted = await gw.store.delete_device(app.id, token.lower())
    if not deleted:
        raise NotFound("No device with that token is registered for this app.")
    return Response(status_code=204)
