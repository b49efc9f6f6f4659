"""The simulator's control API: a small HTTP/1.1 JSON API (Starlette, served in-process by uvicorn).

=======  ====================  ==========================================================
GET      /health               ``{"status": "ok"}``
GET      /inbox                ``?token=&topic=&limit=`` -> ``{"count", "notifications": [...]}``
DELETE   /inbox                ``{"cleared": n}`` (also resets the counters)
GET      /stats                ``{"requests", "accepted", "rejected", "rejections": {...}, "inbox"}``
POST     /apns/keys            ``{key_id, team_id, public_key_pem, bundle_ids, environment?, topics?}`` -> 201
POST     /apns/devices         ``{token, topic, environment}`` -> 201
POST     /apns/dead-tokens     ``{token, timestamp_ms?}`` -> 201 ``{token, timestamp_ms}``
POST     /apns/certificates    ``{topic, environment?, extra_topics?}`` -> 201 ``{cert_pem, key_pem}``
GET/PUT  /apns/faults          the :class:`~pushgate.simulator.faults.ApnsFaults` plan (PUT replaces it)
DELETE   /apns/faults          back to no faults
=======  ====================  ==========================================================

FCM and Web Push (:mod:`~pushgate.simulator.control_services`):

=========  ============================  ====================================================
GET        /fcm/inbox                    ``?project_id=&token=&topic=&limit=`` -> ``{"count", "messages"}``
DELETE     /fcm/inbox                    ``{"cleared": n}`` (also resets the counters)
GET        /fcm/stats                    like ``/stats``, for FCM sends
GET        /fcm/service-accounts         ``{"service_accounts": [{client_email, project_id, ...}]}``
POST       /fcm/service-accounts         ``{project_id, project_number?}`` -> 201 new service-account
                                         JSON; or register ``{client_email, project_id,
                                         public_key_pem, key_id?, project_number?}`` or
                                         ``{service_account: {...}}`` -> 201 summary
POST       /fcm/tokens                   ``{project_id, token?}`` -> 201 ``{token, project_id}``
POST       /fcm/unregistered-tokens      ``{token}`` -> 201 ``{token}``
GET/PUT    /fcm/faults                   the :class:`~pushgate.simulator.service_faults.FcmFaults` plan
DELETE     /fcm/faults                   back to no faults
GET        /webpush/inbox                ``?subscription_id=&endpoint=&limit=`` -> ``{"count", "messages"}``
DELETE     /webpush/inbox                ``{"cleared": n}``
GET        /webpush/stats                like ``/stats``, for Web Push messages
POST       /webpush/subscriptions        ``{application_server_key?}`` -> 201 ``PushSubscription.toJSON()``
POST       /webpush/expired              ``{endpoint}`` (URL or id) -> 201 ``{endpoint}``; 404 unknown
GET/PUT    /webpush/faults               the :class:`~pushgate.simulator.service_faults.WebPushFaults` plan
DELETE     /webpush/faults               back to no faults
=========  ============================  ====================================================

Errors are JSON ``{"error": code, "message": sentence, "details"?: [{"field", "message"}]}``:
400 for a body that is not JSON or a bad query parameter, 422 for a body that fails validation.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import uvicorn
from pydantic import Field
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pushgate.simulator.apns_state import KeyEnvironment
from pushgate.simulator.certs import CertificateEnvironment
from pushgate.simulator.control_common import (
    Body,
    ControlError,
    as_validation_error,
    limit,
    parse,
)
from pushgate.simulator.control_services import service_routes
from pushgate.simulator.faults import ApnsFaults
from pushgate.simulator.settings import ApnsEnvironment

if TYPE_CHECKING:
    from pushgate.simulator.app import Simulator

_TOKEN_PATTERN = r"^(?:[0-9a-fA-F]{2}){32,}$"


class KeyIn(Body):
    key_id: str = Field(min_length=1, max_length=64)
    team_id: str = Field(min_length=1, max_length=64)
    public_key_pem: str
    environment: KeyEnvironment = "both"
    bundle_ids: list[str] = Field(default_factory=list)
    """Apps of the key's team: what its team-scoped keys may push to."""
    topics: list[str] | None = None
    """Makes it a topic-specific key for these bundle ids instead."""


class DeviceIn(Body):
    token: str = Field(pattern=_TOKEN_PATTERN)
    topic: str = Field(min_length=1)
    environment: ApnsEnvironment


class DeadTokenIn(Body):
    token: str = Field(pattern=_TOKEN_PATTERN)
    timestamp_ms: int | None = Field(None, ge=0)


class CertificateIn(Body):
    topic: str = Field(min_length=1)
    environment: CertificateEnvironment = "universal"
    extra_topics: list[str] = Field(default_factory=list)


class _ControlApi:
    """Endpoint implementations, bound to one simulator."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def routes(self) -> list[Route]:
        return [
            Route("/health", self.health, methods=["GET"]),
            Route("/inbox", self.inbox, methods=["GET"]),
            Route("/inbox", self.clear_inbox, methods=["DELETE"]),
            Route("/stats", self.stats, methods=["GET"]),
            Route("/apns/keys", self.add_key, methods=["POST"]),
            Route("/apns/devices", self.add_device, methods=["POST"]),
            Route("/apns/dead-tokens", self.add_dead_token, methods=["POST"]),
            Route("/apns/certificates", self.issue_certificate, methods=["POST"]),
            Route("/apns/faults", self.get_faults, methods=["GET"]),
            Route("/apns/faults", self.put_faults, methods=["PUT"]),
            Route("/apns/faults", self.delete_faults, methods=["DELETE"]),
        ]

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def inbox(self, request: Request) -> Response:
        query = request.query_params
        found = self.sim.inbox.query(
            token=query.get("token"), topic=query.get("topic"), limit=limit(query.get("limit"))
        )
        return JSONResponse({"count": len(found), "notifications": [n.to_json() for n in found]})

    async def clear_inbox(self, request: Request) -> Response:
        return JSONResponse({"cleared": self.sim.inbox.clear()})

    async def stats(self, request: Request) -> Response:
        return JSONResponse(self.sim.inbox.stats())

    async def add_key(self, request: Request) -> Response:
        body = await parse(request, KeyIn)
        with as_validation_error():
            key = self.sim.register_key(
                body.key_id, body.team_id, body.public_key_pem, body.environment, body.topics,
                bundle_ids=body.bundle_ids,
            )  # fmt: skip
        topics = sorted(key.topics) if key.topics is not None else None
        answer = {"key_id": key.key_id, "team_id": key.team_id, "environment": key.environment}
        team_apps = sorted(self.sim.registry.team_bundle_ids[key.team_id])
        return JSONResponse({**answer, "topics": topics, "bundle_ids": team_apps}, status_code=201)

    async def add_device(self, request: Request) -> Response:
        body = await parse(request, DeviceIn)
        self.sim.register_device(body.token, body.topic, body.environment)
        return JSONResponse(body.model_dump(), status_code=201)

    async def add_dead_token(self, request: Request) -> Response:
        body = await parse(request, DeadTokenIn)
        stamp = self.sim.mark_dead(body.token, body.timestamp_ms)
        return JSONResponse({"token": body.token.lower(), "timestamp_ms": stamp}, status_code=201)

    async def issue_certificate(self, request: Request) -> Response:
        body = await parse(request, CertificateIn)
        cert_pem, key_pem = self.sim.issue_client_certificate(
            body.topic, body.environment, extra_topics=tuple(body.extra_topics)
        )
        answer = {"cert_pem": cert_pem.decode(), "key_pem": key_pem.decode()}
        return JSONResponse(answer, status_code=201)

    async def get_faults(self, request: Request) -> Response:
        return JSONResponse(self.sim.faults.model_dump())

    async def put_faults(self, request: Request) -> Response:
        plan = self.sim.set_faults(await parse(request, ApnsFaults))
        return JSONResponse(plan.model_dump())

    async def delete_faults(self, request: Request) -> Response:
        return JSONResponse(self.sim.clear_faults().model_dump())


def build_control_app(sim: Simulator) -> Starlette:
    """The control API for ``sim``."""
    return Starlette(
        routes=[*_ControlApi(sim).routes(), *service_routes(sim)],
        exception_handlers={ControlError: _control_error, HTTPException: _http_error},
    )


class ControlServer:
    """Runs an ASGI app with uvicorn inside the current event loop, on a plain HTTP port."""

    def __init__(self, app: Starlette, host: str, port: int) -> None:
        self._app = app
        self._host = host
        self._port = port
        self._server: _InProcessServer | None = None
        self._task: asyncio.Task[None] | None = None
        self._bound_port = 0

    @property
    def url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._bound_port}"

    async def start(self) -> None:
        """Bind, start serving, and return once uvicorn accepts connections."""
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        sock = socket.create_server((self._host, self._port), family=family)
        self._bound_port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app, log_config=None, log_level="warning", access_log=False, lifespan="off"
        )
        self._server = _InProcessServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                sock.close()
                raise RuntimeError(f"the control API could not start on {self.url}")
            await asyncio.sleep(0.01)

    async def aclose(self) -> None:
        """Stop serving and wait for uvicorn to finish."""
        if self._server is None or self._task is None:
            return
        self._server.stop()
        await self._task
        self._server = self._task = None


class _InProcessServer(uvicorn.Server):
    """uvicorn for embedding: no signal handlers (the program owns SIGINT/SIGTERM), and a main
    loop that wakes up at once when asked to stop instead of polling every 0.1 s."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._stop = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):
            counter += 10  # uvicorn refreshes its Date header on every 10th tick: once a second
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 1.0)

    def stop(self) -> None:
        """Ask the server to shut down now."""
        self.should_exit = True
        self._stop.set()


async def _control_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ControlError)
    body: dict[str, Any] = {"error": exc.error, "message": exc.message}
    if exc.details is not None:
        body["details"] = exc.details
    return JSONResponse(body, status_code=exc.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return JSONResponse({"error": error, "message": exc.detail}, status_code=exc.status_code)
