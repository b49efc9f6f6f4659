"""API keys: several per app (``manage`` or ``send``), admin keys, rotation with an overlap,
revocation and last use. The secret is shown once, in the answer that creates it.

Admin keys may do all of it for any app; an app's manage key for its own app's keys.
"""

from __future__ import annotations

import time
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from pushgate.api.auth import AnyCaller, Forbidden, GatewayDep
from pushgate.api.errors import error_responses
from pushgate.errors import Conflict, NotFound, RequestError
from pushgate.gateway import Caller, Gateway
from pushgate.keys import ADMIN, MANAGE
from pushgate.security import ADMIN_PREFIX, APP_PREFIX, display_prefix, hash_api_key, new_api_key
from pushgate.store import ApiKey
from pushgate.store.models import MAX_COUNT

router = APIRouter(prefix="/v1/keys", tags=["keys"])


class KeyCreate(BaseModel):
    """A new key: an app's (``manage`` or ``send``) or, for the admin only, an admin key."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._ -]*$")
    scope: Literal["admin", "manage", "send"]
    app_id: str | None = Field(
        default=None, description="The app of a manage or send key (default: the caller's)."
    )
    rate_limit: int | None = Field(
        default=None,
        ge=1,
        le=MAX_COUNT,
        description="Requests per minute (default: rate_limits.per_key).",
    )


class KeyOut(BaseModel):
    """A key as listed: never the key, only its first characters."""

    id: str
    app_id: str | None
    scope: str
    name: str
    key_prefix: str
    rate_limit: int | None
    created_at: float
    expires_at: float | None
    revoked_at: float | None
    last_used_at: float | None
    """Updated at most once a minute."""

    @classmethod
    def of(cls, key: ApiKey) -> KeyOut:
        return cls(
            id=key.id,
            app_id=key.app_id,
            scope=key.scope,
            name=key.name,
            key_prefix=key.key_prefix,
            rate_limit=key.rate_limit,
            created_at=key.created_at,
            expires_at=key.expires_at,
            revoked_at=key.revoked_at,
            last_used_at=key.last_used_at,
        )


class KeyCreated(KeyOut):
    """A new key with its secret: the only time it is shown."""

    api_key: str


class KeyRotation(BaseModel):
    """How long the rotated key keeps working next to the new one."""

    model_config = ConfigDict(extra="forbid")
    overlap_seconds: float = Field(default=86_400, ge=0, le=30 * 86_400)


class KeyRotatedOut(KeyCreated):
    """The new key (shown once) and when the previous one stops working."""

    previous_key_valid_until: float


def _app_of_request(who: Caller, app_id: str | None) -> str | None:
    """The app whose keys the caller reaches: any (admin), or its own (manage key)."""
    if who.admin:
        return app_id
    if who.scope != MANAGE or who.app is None:
        raise Forbidden("Keys are managed with an admin key or a manage key of the app.")
    if app_id is not None and app_id != who.app.id:
        raise Forbidden("A manage key reaches only its own app's keys.")
    return who.app.id


async def _visible_key(gw: Gateway, who: Caller, key_id: str) -> ApiKey:
    scope = _app_of_request(who, None)
    for key in await gw.store.list_keys(scope):
        if key.id == key_id:
            return key
    raise NotFound(f"No key with id '{key_id}' that this key may see; see GET /v1/keys.")


@router.post("", status_code=201, response_model=KeyCreated, responses=error_responses(404))
async def create_key(body: KeyCreate, gw: GatewayDep, who: AnyCaller) -> KeyCreated:
    """Create a key and return it (store it: it is not shown again)."""
    if body.scope == ADMIN:
        if not who.admin or body.app_id is not None:
            raise Forbidden("Only an admin key creates admin keys, and they belong to no app.")
        app_id = None
    else:
        app_id = _app_of_request(who, body.app_id)
        if app_id is None:
            raise RequestError("app_id: is required for a manage or send key.", code="app_required")
        if all(a.id != app_id for a in await gw.store.list_apps()):
            raise NotFound(f"No app with id '{app_id}'; see GET /v1/apps.")
    secret = new_api_key(ADMIN_PREFIX if app_id is None else APP_PREFIX)
    key = await gw.store.create_key(
        app_id=app_id,
        scope=body.scope,
        name=body.name,
        key_hash=hash_api_key(secret),
        key_prefix=display_prefix(secret),
        rate_limit=body.rate_limit,
    )
    await gw.audit(who.key_id, "key.create", key.id, app_id)
    return KeyCreated(**KeyOut.of(key).model_dump(), api_key=secret)


@router.get("", response_model=list[KeyOut])
async def list_keys(
    gw: GatewayDep,
    who: AnyCaller,
    app_id: Annotated[str | None, Query(description="One app's keys (admin).")] = None,
) -> list[KeyOut]:
    """Keys, oldest first: every key (admin) or the app's (manage key), revoked and expired
    ones too."""
    return [KeyOut.of(k) for k in await gw.store.list_keys(_app_of_request(who, app_id))]


@router.post("/{key_id}/rotate", response_model=KeyRotatedOut, responses=error_responses(404, 409))
async def rotate_key(
    key_id: str, gw: GatewayDep, who: AnyCaller, body: KeyRotation | None = None
) -> KeyRotatedOut:
    """A new key like this one (app, scope, name, limit); this one keeps working for the
    overlap."""
    old = await _visible_key(gw, who, key_id)
    until = time.time() + (body or KeyRotation()).overlap_seconds
    secret = new_api_key(ADMIN_PREFIX if old.app_id is None else APP_PREFIX)
    new = await gw.store.rotate_key(
        key_id, hash_api_key(secret), display_prefix(secret), previous_valid_until=until
    )
    if new is None:
        raise Conflict(f"Key '{key_id}' is revoked or already rotated; rotate its successor.")
    await gw.audit(who.key_id, "key.rotate", key_id, old.app_id)
    return KeyRotatedOut(
        **KeyOut.of(new).model_dump(), api_key=secret, previous_key_valid_until=until
    )


@router.delete("/{key_id}", status_code=204, responses=error_responses(404))
async def revoke_key(key_id: str, gw: GatewayDep, who: AnyCaller) -> Response:
    """Revoke a key: it stops working at once (on every gateway)."""
    key = await _visible_key(gw, who, key_id)
    if not await gw.store.revoke_key(key_id, time.time()):
        raise NotFound(f"Key '{key_id}' is already revoked.")
    await gw.audit(who.key_id, "key.revoke", key_id, key.app_id)
    return Response(status_code=204)
