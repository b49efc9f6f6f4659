"""Devices of the calling app: register, list (per user), delete."""

from __future__ import annotations

import re
from typing import Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from pushgate.api.auth import CurrentApp, GatewayDep
from pushgate.errors import NotFound
from pushgate.store import Device

router = APIRouter(prefix="/v1/devices", tags=["devices"])

_HEX = re.compile(r"^[0-9a-fA-F]+$")
MIN_APNS_TOKEN_HEX = 32
MAX_APNS_TOKEN_HEX = 400


class DeviceRegistration(BaseModel):
    """A device to register for a user."""

    model_config = ConfigDict(extra="forbid")
    user_id: str = Field(
        min_length=1,
        max_length=255,
        description="The owner; anonymous users (no id) cannot register devices.",
    )
    platform: Literal["apns"]
    token: str
    environment: Literal["sandbox", "production"] = "production"

    @field_validator("user_id")
    @classmethod
    def _user_id_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("anonymous users cannot register devices; give a user_id")
        return value

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


class DeviceOut(BaseModel):
    """A registered device."""

    id: int
    user_id: str
    platform: str
    token: str
    environment: str | None
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
            environment=device.environment,
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
async def register(body: DeviceRegistration, app: CurrentApp, gw: GatewayDep) -> Registered:
    """Register a token for a user (moving it from another user if it was theirs)."""
    device, dropped = await gw.store.register_device(
        app_id=app.id,
        user_id=body.user_id,
        platform=body.platform,
        token=body.token,
        environment=body.environment,
        extra=None,
        max_per_user=gw.settings.devices.max_per_user,
    )
    return Registered(device=DeviceOut.of(device), dropped=[DeviceOut.of(d) for d in dropped])


@router.get("", response_model=list[DeviceOut])
async def list_devices(
    app: CurrentApp,
    gw: GatewayDep,
    user_id: str | None = Query(default=None, min_length=1),
    limit: int = Query(default=1000, ge=1, le=10_000),
) -> list[DeviceOut]:
    """The app's devices, or one user's."""
    return [DeviceOut.of(d) for d in await gw.store.list_devices(app.id, user_id, limit=limit)]


@router.delete("/{token}", status_code=204)
async def delete_device(token: str, app: CurrentApp, gw: GatewayDep) -> Response:
    """Forget a device token."""
    if not await gw.store.delete_device(app.id, token.lower()):
        raise NotFound("No device with that token is registered for this app.")
    return Response(status_code=204)
