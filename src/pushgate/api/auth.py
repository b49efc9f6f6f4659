"""Bearer API keys and their scopes: admin keys manage apps and keys; an app's ``manage`` key
reaches everything of that app; its ``send`` keys only send. App keys are rate limited."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from pushgate.errors import RequestError, TooManyRequests
from pushgate.gateway import Caller, Gateway
from pushgate.keys import MANAGE
from pushgate.store import App

RATE_LIMIT_SCOPE = "pushgate.rate_limit"
"""Where the request's quota waits for ``RateLimitHeaders`` (in the ASGI scope)."""


class Unauthorized(RequestError):
    """No API key, or one pushgate does not know."""

    code = "unauthorized"
    status = 401


class Forbidden(RequestError):
    """A valid key that may not do this."""

    code = "forbidden"
    status = 403


async def gateway(request: Request) -> Gateway:
    """The gateway serving this request (async: FastAPI runs a plain function dependency on
    its thread pool, a thread hop per request)."""
    return request.app.state.gateway  # type: ignore[no-any-return]


bearer = HTTPBearer(
    auto_error=False,
    scheme_name="apiKey",
    description="An app API key (pgapp_...: a manage or a send key) or an admin key (pgadm_...).",
)
"""Declares the scheme in the OpenAPI description (so /docs can authorize); our own errors."""


async def caller(
    request: Request,
    gw: Annotated[Gateway, Depends(gateway)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> Caller:
    """Identify the caller from ``Authorization: Bearer <key>`` and count the request
    against its rate limits."""
    key = credentials.credentials.strip() if credentials else ""
    if not key:
        raise Unauthorized("Send your API key as 'Authorization: Bearer <key>'.")
    found = await gw.identify(key)
    if found is None:
        raise Unauthorized("The API key is not valid. Check it, or ask the admin for a new one.")
    if found.app is not None:
        quota = await gw.rate_limiter.check(found.key_id, found.rate_limit, found.app.id)
        if quota is not None:
            request.scope[RATE_LIMIT_SCOPE] = quota
            if quota.exceeded:
                raise TooManyRequests(
                    f"This key or its app made more than {quota.limit} requests this minute; "
                    f"wait {round(quota.reset_after)} s (Retry-After) or ask for a higher limit.",
                    code="rate_limited",
                    retry_after=quota.reset_after,
                )
    return found


async def admin(who: Annotated[Caller, Depends(caller)]) -> Caller:
    """Only an admin key passes."""
    if not who.admin:
        raise Forbidden("This endpoint needs an admin API key, not an app key.")
    return who


async def current_app(who: Annotated[Caller, Depends(caller)]) -> App:
    """Any key of an app (manage or send) passes; the app it belongs to."""
    if who.app is None:
        raise Forbidden("This endpoint needs an app API key; create an app with the admin key.")
    return who.app


async def managed_app(app: Annotated[App, Depends(current_app)], who: AnyCaller) -> App:
    """Only a manage key of an app passes; the app it belongs to."""
    if who.scope != MANAGE:
        raise Forbidden(
            "This key may only send: this endpoint needs a manage key of the app (its default "
            "key is one; see POST /v1/keys)."
        )
    return app


async def actor(who: Annotated[Caller, Depends(caller)]) -> str:
    """The key id the audit log records for this request."""
    return who.key_id


AnyCaller = Annotated[Caller, Depends(caller)]
Actor = Annotated[str, Depends(actor)]
AdminCaller = Annotated[Caller, Depends(admin)]
CurrentApp = Annotated[App, Depends(current_app)]
ManagedApp = Annotated[App, Depends(managed_app)]
GatewayDep = Annotated[Gateway, Depends(gateway)]
