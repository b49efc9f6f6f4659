"""Bearer API keys: the admin key manages apps; an app key reaches only that app's data."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from pushgate.errors import RequestError
from pushgate.gateway import Caller, Gateway
from pushgate.store import App


class Unauthorized(RequestError):
    """No API key, or one pushgate does not know."""

    code = "unauthorized"
    status = 401


class Forbidden(RequestError):
    """A valid key that may not do this."""

    code = "forbidden"
    status = 403


def gateway(request: Request) -> Gateway:
    """The gateway serving this request."""
    return request.app.state.gateway  # type: ignore[no-any-return]


bearer = HTTPBearer(
    auto_error=False,
    scheme_name="apiKey",
    description="An app API key (pgapp_...) or the admin key (pgadm_...).",
)
"""Declares the scheme in the OpenAPI description (so /docs can authorize); our own errors."""


async def caller(
    gw: Annotated[Gateway, Depends(gateway)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> Caller:
    """Identify the caller from ``Authorization: Bearer <key>``."""
    key = credentials.credentials.strip() if credentials else ""
    if not key:
        raise Unauthorized("Send your API key as 'Authorization: Bearer <key>'.")
    found = await gw.identify(key)
    if found is None:
        raise Unauthorized("The API key is not valid. Check it, or ask the admin for a new one.")
    return found


async def admin(who: Annotated[Caller, Depends(caller)]) -> Caller:
    """Only the admin key passes."""
    if not who.admin:
        raise Forbidden("This endpoint needs the admin API key, not an app key.")
    return who


async def current_app(who: Annotated[Caller, Depends(caller)]) -> App:
    """Only an app key passes; the app it belongs to."""
    if who.app is None:
        raise Forbidden("This endpoint needs an app API key; create an app with the admin key.")
    return who.app


async def actor(who: Annotated[Caller, Depends(caller)]) -> str:
    """The key id the audit log records for this request."""
    return who.key_id


Actor = Annotated[str, Depends(actor)]
AdminCaller = Annotated[Caller, Depends(admin)]
AnyCaller = Annotated[Caller, Depends(caller)]
CurrentApp = Annotated[App, Depends(current_app)]
GatewayDep = Annotated[Gateway, Depends(gateway)]
