"""Apps: created and listed by the admin; each gets its own API key, shown once."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from pushgate.api.auth import AdminCaller, GatewayDep
from pushgate.api.errors import error_responses
from pushgate.errors import Conflict
from pushgate.security import APP_PREFIX, display_prefix, hash_api_key, new_api_key

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
async def create_app(body: AppCreate, gw: GatewayDep, _: AdminCaller) -> AppCreated:
    """Create an app and return its API key (store it: it is not shown again)."""
    key = new_api_key(APP_PREFIX)
    app = await gw.store.create_app(body.name, hash_api_key(key), display_prefix(key))
    if app is None:
        raise Conflict(f"An app named '{body.name}' already exists; choose another name.")
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
