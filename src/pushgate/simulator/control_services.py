"""Control API endpoints of the FCM and Web Push simulators (the table is in :mod:`.control`)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from pydantic import Field, model_validator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pushgate.simulator.control_common import (
    Body,
    ControlError,
    as_validation_error,
    limit,
    parse,
)
from pushgate.simulator.service_faults import FcmFaults, WebPushFaults

if TYPE_CHECKING:
    from pushgate.simulator.app import Simulator

_ID = r"^[A-Za-z0-9][A-Za-z0-9.:_-]{0,99}$"


class ServiceAccountIn(Body):
    """Create an account (``project_id`` only) or register one (a key or a whole JSON file)."""

    project_id: str | None = Field(None, pattern=_ID)
    project_number: str | None = Field(None, pattern=r"^[0-9]{1,20}$")
    client_email: str | None = Field(None, min_length=3, max_length=320)
    public_key_pem: str | None = None
    key_id: str | None = Field(None, min_length=1, max_length=100)
    service_account: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one_mode(self) -> ServiceAccountIn:
        if self.service_account is not None:
            if self.public_key_pem or self.client_email or self.project_id:
                raise ValueError("send service_account alone, without the other fields")
        elif self.public_key_pem is not None:
            if not (self.client_email and self.project_id):
                raise ValueError("public_key_pem needs client_email and project_id")
        elif self.project_id is None:
            raise ValueError("send project_id to create a service account")
        return self


class FcmTokenIn(Body):
    project_id: str = Field(pattern=_ID)
    token: str | None = Field(None, min_length=1, max_length=4096)


class UnregisteredTokenIn(Body):
    token: str = Field(min_length=1, max_length=4096)


class SubscriptionIn(Body):
    application_server_key: str | None = Field(None, max_length=200)


class ExpiredIn(Body):
    endpoint: str = Field(min_length=1, max_length=2048)


class _ServicesApi:
    """FCM and Web Push endpoint implementations, bound to one simulator."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def routes(self) -> list[Route]:
        return [
            Route("/fcm/inbox", self.fcm_inbox, methods=["GET"]),
            Route("/fcm/inbox", self.clear_fcm_inbox, methods=["DELETE"]),
            Route("/fcm/stats", self.fcm_stats, methods=["GET"]),
            Route("/fcm/service-accounts", self.list_service_accounts, methods=["GET"]),
            Route("/fcm/service-accounts", self.add_service_account, methods=["POST"]),
            Route("/fcm/tokens", self.add_fcm_token, methods=["POST"]),
            Route("/fcm/unregistered-tokens", self.add_unregistered, methods=["POST"]),
            Route("/fcm/faults", self.get_fcm_faults, methods=["GET"]),
            Route("/fcm/faults", self.put_fcm_faults, methods=["PUT"]),
            Route("/fcm/faults", self.delete_fcm_faults, methods=["DELETE"]),
            Route("/webpush/inbox", self.webpush_inbox, methods=["GET"]),
            Route("/webpush/inbox", self.clear_webpush_inbox, methods=["DELETE"]),
            Route("/webpush/stats", self.webpush_stats, methods=["GET"]),
            Route("/webpush/subscriptions", self.add_subscription, methods=["POST"]),
            Route("/webpush/expired", self.expire_subscription, methods=["POST"]),
            Route("/webpush/faults", self.get_webpush_faults, methods=["GET"]),
            Route("/webpush/faults", self.put_webpush_faults, methods=["PUT"]),
            Route("/webpush/faults", self.delete_webpush_faults, methods=["DELETE"]),
        ]

    # FCM ----------------------------------------------------------------------------------------

    async def fcm_inbox(self, request: Request) -> Response:
        query = request.query_params
        found = self.sim.fcm_inbox.query(
            project_id=query.get("project_id"),
            token=query.get("token"),
            topic=query.get("topic"),
            limit=limit(query.get("limit")),
        )
        return JSONResponse({"count": len(found), "messages": [m.to_json() for m in found]})

    async def clear_fcm_inbox(self, request: Request) -> Response:
        return JSONResponse({"cleared": self.sim.fcm_inbox.clear()})

    async def fcm_stats(self, request: Request) -> Response:
        return JSONResponse(self.sim.fcm_inbox.stats())

    async def list_service_accounts(self, request: Request) -> Response:
        accounts = [a.summary() for a in self.sim.fcm_registry.accounts.values()]
        return JSONResponse({"service_accounts": accounts})

    async def add_service_account(self, request: Request) -> Response:
        body = await parse(request, ServiceAccountIn)
        if body.service_account is None and body.public_key_pem is None:
            assert body.project_id is not None
            info = await asyncio.to_thread(
                self.sim.create_service_account,
                body.project_id,
                project_number=body.project_number,
            )
            return JSONResponse(info, status_code=201)
        with as_validation_error():
            if body.service_account is not None:
                record = self.sim.register_service_account_json(body.service_account)
            else:
                assert body.client_email and body.project_id and body.public_key_pem
                record = self.sim.register_service_account(
                    body.client_email,
                    body.project_id,
                    body.public_key_pem,
                    key_id=body.key_id,
                    project_number=body.project_number,
                )
        return JSONResponse(record.summary(), status_code=201)

    async def add_fcm_token(self, request: Request) -> Response:
        body = await parse(request, FcmTokenIn)
        if body.token is None:
            token = self.sim.create_fcm_token(body.project_id)
        else:
            token = body.token
            self.sim.register_fcm_token(token, body.project_id)
        return JSONResponse({"token": token, "project_id": body.project_id}, status_code=201)

    async def add_unregistered(self, request: Request) -> Response:
        body = await parse(request, UnregisteredTokenIn)
        self.sim.mark_fcm_unregistered(body.token)
        return JSONResponse({"token": body.token}, status_code=201)

    async def get_fcm_faults(self, request: Request) -> Response:
        return JSONResponse(self.sim.fcm_faults.model_dump())

    async def put_fcm_faults(self, request: Request) -> Response:
        plan = self.sim.set_fcm_faults(await parse(request, FcmFaults))
        return JSONResponse(plan.model_dump())

    async def delete_fcm_faults(self, request: Request) -> Response:
        return JSONResponse(self.sim.clear_fcm_faults().model_dump())

    # Web Push -----------------------------------------------------------------------------------

    async def webpush_inbox(self, request: Request) -> Response:
        query = request.query_params
        found = self.sim.webpush_inbox.query(
            subscription_id=query.get("subscription_id"),
            endpoint=query.get("endpoint"),
            limit=limit(query.get("limit")),
        )
        return JSONResponse({"count": len(found), "messages": [m.to_json() for m in found]})

    async def clear_webpush_inbox(self, request: Request) -> Response:
        return JSONResponse({"cleared": self.sim.webpush_inbox.clear()})

    async def webpush_stats(self, request: Request) -> Response:
        return JSONResponse(self.sim.webpush_inbox.stats())

    async def add_subscription(self, request: Request) -> Response:
        body = await parse(request, SubscriptionIn)
        with as_validation_error():
            subscription = self.sim.create_webpush_subscription(body.application_server_key)
        return JSONResponse(subscription, status_code=201)

    async def expire_subscription(self, request: Request) -> Response:
        body = await parse(request, ExpiredIn)
        try:
            self.sim.expire_webpush_subscription(body.endpoint)
        except KeyError:
            message = "There is no such subscription; create one with POST /webpush/subscriptions."
            raise ControlError(404, "unknown_subscription", message) from None
        return JSONResponse({"endpoint": body.endpoint}, status_code=201)

    async def get_webpush_faults(self, request: Request) -> Response:
        return JSONResponse(self.sim.webpush_faults.model_dump())

    async def put_webpush_faults(self, request: Request) -> Response:
        plan = self.sim.set_webpush_faults(await parse(request, WebPushFaults))
        return JSONResponse(plan.model_dump())

    async def delete_webpush_faults(self, request: Request) -> Response:
        return JSONResponse(self.sim.clear_webpush_faults().model_dump())


def service_routes(sim: Simulator) -> list[Route]:
    """The FCM and Web Push control routes for ``sim``."""
    return _ServicesApi(sim).routes()
