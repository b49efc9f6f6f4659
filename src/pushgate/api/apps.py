"""Apps: created and listed by the admin; each gets its default (manage) key, shown once."""

from __future__ import annotations

import time

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from pushgate.api.auth import AdminCaller, GatewayDep
from pushgate.api.errors import error_responses
from pushgate.errors import Conflict, NotFound
from pushgate.keys import rotate_default_key
from pushgate.security import APP_PREFIX, display_prefix, hash_api_key, new_api_key
from pushgate.store import App

router = APIRouter(prefix="/v1/apps", tags=["apps"])


class AppCreate(BaseModel):
    """A new app."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._ -]*$")


class AppOut(BaseModel):
    """An app as listed: never its key, only the key's first characters."""

    id: str
    name: str
    api_key_prefix: str
    created_at: float


class AppCreated(AppOut):
    """A new app with its API key: the only time the key is shown."""

    api_key: str


@router.post("", status_code=201, response_model=AppCreated, responses=error_responses(409))
async def create_app(body: AppCreate, gw: GatewayDep, who: AdminCaller) -> AppCreated:
    """Create an app and return its API key (store it: it is not shown again)."""
    key = new_api_key(APP_PREFIX)
    app = await gw.store.create_app(body.name, hash_api_key(key), display_prefix(key))
    if app is None:
        raise Conflict(f"An app named '{body.name}' already exists; choose another name.")
    await gw.audit(who.key_id, "app.create", app.id, app.id)
    return _with_key(app, key)


def _with_key(app: App, key: str) -> AppCreated:
    """An app with its new API key, the one answer that shows the key."""
    return AppCreated(
        id=app.id,
        name=app.name,
        api_key_prefix=app.api_key_prefix,
        created_at=app.created_at,
        api_key=key,
    )


@router.get("", response_model=list[AppOut])
async def list_apps(gw: GatewayDep, _: AdminCaller) -> list[AppOut]:
    """Every app."""
    return [
        AppOut(id=a.id, name=a.name, api_key_prefix=a.api_key_prefix, created_at=a.created_at)
        for a in await gw.store.list_apps()
    ]


class KeyRotation(BaseModel):
    """How long the app's current key keeps working next to the new one."""

    model_config = ConfigDict(extra="forbid")
    overlap_seconds: float = Field(
        default=86_400,
        ge=0,
        le=30 * 86_400,
        description="The old key stays valid this long (0: it stops at once); deploy the new "
        "key to every app server meanwhile.",
    )


class KeyRotated(AppCreated):
    """The app with its new key (shown once) and when the previous key stops working."""

    previous_key_valid_until: float


@router.post("/{app_id}/rotate-key", response_model=KeyRotated, responses=error_responses(404))
async def rotate_key(
    app_id: str, gw: GatewayDep, who: AdminCaller, body: KeyRotation | None = None
) -> KeyRotated:
    """Give the app a new default key; the old one keeps working for the overlap period."""
    until = time.time() + (body or KeyRotation()).overlap_seconds
    key = new_api_key(APP_PREFIX)
    rotated = await rotate_default_key(
        gw.store, app_id, hash_api_key(key), display_prefix(key), until
    )
    app = next((a for a in await gw.store.list_apps() if a.id == app_id), None)
    if rotated is None or app is None:
        raise NotFound(
            f"No app with id '{app_id}' that has a usable default key; see GET /v1/apps "
            "and GET /v1/keys?app_id=."
        )
    await gw.audit(who.key_id, "key.rotate", rotated[0].id, app_id)
    return KeyRotated(**_with_key(app, key).model_dump(), previous_key_valid_until=until)


@router.delete("/{app_id}", status_code=204, responses=error_responses(404))
async def delete_app(app_id: str, gw: GatewayDep, who: AdminCaller) -> Response:
    """Delete an app with its credentials, devices and notifications (pending ones too)."""
    if not await gw.store.delete_app(app_id):
        raise NotFound(f"No app with id '{app_id}'; see GET /v1/apps.")
    gw.forget_credentials(app_id)
    await gw.audit(who.key_id, "app.delete", app_id, app_id)
    return Response(status_code=204)
