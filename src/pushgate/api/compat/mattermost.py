"""The Mattermost push proxy's HTTP API: ``send_push``, ``ack``, ``/version`` and ``/``.

A Mattermost server whose push notification server URL points here needs no other change.
Every answer is HTTP 200 with the proxy's status body; the server waits for it (30 s) and
never retries, so ``send_push`` answers once the push service has (within the door's
``wait_timeout``), the notification being durable in the outbox before that.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import Callable
from dataclasses import replace

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import Counter
from starlette.types import Scope

from pushgate import __version__
from pushgate.api.compat._deliver import Accepted, AppNames, Push, accept, verdicts
from pushgate.api.compat.mattermost_push import (
    GoDecodeError,
    Platform,
    PushNotification,
    PushNotificationAck,
    answer_for,
    apns_message,
    fcm_message,
    go_decode,
    prepared,
)
from pushgate.api.errors import retry_after_header
from pushgate.api.hot_routes import Answer, HotRoute
from pushgate.api.json_body import json_problem
from pushgate.config import MattermostDoor
from pushgate.engine.accept import door_key
from pushgate.errors import TooManyRequests
from pushgate.gateway import Gateway

log = logging.getLogger(__name__)

SECRET_PREFIX = "/mm/{secret}"
"""Where each door with a ``url_secret`` is served: the server's push URL is
``https://<host>/mm/<secret>``."""

ANSWERS = Counter("pushgate_mattermost_answers_total", "send_push answers by status.", ["status"])
ACKS = Counter(
    "pushgate_mattermost_acks_total",
    "Delivery receipts forwarded by Mattermost servers; recorded: whether pushgate knew the "
    "push it acknowledges.",
    ["platform", "type", "recorded"],
)


def status_answer(status: str, error: str | None = None) -> Answer:
    """The proxy's answer: Go's ``json.Encoder`` output (sorted keys, HTML-escaped, newline)."""
    fields = {"error": error, "status": status} if error is not None else {"status": status}
    text = json.dumps(fields, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e")):
        text = text.replace(char, escaped)
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return Answer(200, (text + "\n").encode(), b"text/plain; charset=utf-8")


def status_body(status: str, error: str | None = None) -> Response:
    """``status_answer`` as a response, for the routes FastAPI serves."""
    answer = status_answer(status, error)
    return Response(answer.body, media_type=answer.content_type.decode())


DoorOf = Callable[[Request], MattermostDoor]
"""How a route finds the door a request is for (HTTPException 404 when there is none)."""


def door_on_main(request: Request) -> MattermostDoor:
    """The door bound to the main listener."""
    gw: Gateway = request.app.state.gateway
    for door in gw.settings.mattermost:
        if door.main_listener:
            return door
    raise HTTPException(404)


def door_by_secret(request: Request) -> MattermostDoor:
    """The door whose ``url_secret`` is in the path, compared in constant time."""
    secret = str(request.path_params.get("secret", "")).encode()
    gw: Gateway = request.app.state.gateway
    found = None
    for door in gw.settings.mattermost:  # compare with every door: no timing hint
        if door.url_secret and hmac.compare_digest(
            door.url_secret.get_secret_value().encode(), secret
        ):
            found = door
    if found is None:
        raise HTTPException(404)
    return found


def door_fixed(door: MattermostDoor) -> DoorOf:
    """Always ``door``: for a listener of its own."""
    return lambda request: door


def router(door_of: DoorOf, prefix: str = "") -> APIRouter:
    """The proxy's routes under ``prefix`` but send_push (``send_push_route``), for the door
    ``door_of`` finds."""
    routes = APIRouter(prefix=prefix, tags=["mattermost"], include_in_schema=False)

    @routes.post("/api/v1/ack")
    async def receipt(request: Request) -> Response:
        return await ack(request, door_of(request))

    @routes.get("/version")
    async def version_route(request: Request) -> Response:
        door_of(request)
        return version()

    @routes.get("/")
    async def root_route(request: Request) -> Response:
        door_of(request)
        return root()

    return routes


def send_push_route(door_of: DoorOf, prefix: str = "") -> HotRoute:
    """``POST {prefix}/api/v1/send_push`` for the door ``door_of`` finds, served by
    ``HotRoutes`` (without a door, the application answers 404)."""

    async def serve(scope: Scope, body: bytes) -> Answer | None:
        request = Request(scope)
        try:
            door = door_of(request)
        except HTTPException:
            return None
        state = request.app.state
        return await send_push(state.gateway, state.app_names, door, body)

    return HotRoute(prefix + "/api/v1/send_push", serve)


async def send_push(gw: Gateway, app_names: AppNames, door: MattermostDoor, body: bytes) -> Answer:
    """Validate as the proxy does, accept durably, answer with the push service's verdict."""
    try:
        push = go_decode(PushNotification, body, "model.PushNotification")
    except GoDecodeError as exc:
        return _answer("FAIL", f"Failed to read message body: {exc}")
    problem = json_problem(body, gw.settings.limits.max_json_depth)  # what Go reads, we cannot
    if problem is not None:
        return _answer("FAIL", f"Failed to read message body: {problem}")
    if not push.server_id:
        return _answer("FAIL", "Failed because of missing server Id")
    if not push.device_id:
        return _answer("FAIL", f"Failed because of missing device Id serverId={push.server_id}")
    platform = Platform.parse(push.platform)
    target = door.platforms.get(platform.type)
    if target is None:
        return _answer(
            "FAIL",
            "Did not send message because of missing platform property "
            f"type={platform.type} serverId={push.server_id}",
        )
    app_id = await app_names.id_of(gw, door.app)
    if app_id is None:
        log.error("Mattermost door: no pushgate app named %r", door.app)
        return _answer("FAIL", f"pushgate has no app named {door.app!r}; check [[mattermost]].")
    push = prepared(push)
    message = apns_message(push, platform) if target.platform == "apns" else fcm_message(push)
    key = door_key("mattermost", push.ack_id) if push.ack_id else None
    try:
        (accepted,) = await accept(gw, app_id, [Push(message, target, push.device_id, key=key)])
    except TooManyRequests as exc:  # the proxy's own limiter answers 429 too
        ANSWERS.labels("FAIL").inc()
        retry = retry_after_header(exc.retry_after).items()
        return replace(
            status_answer("FAIL", exc.message),
            status=429,
            headers=tuple((name.encode(), value.encode()) for name, value in retry),
        )
    if not isinstance(accepted, Accepted):
        return _answer("FAIL", accepted.message)
    (result,) = await verdicts(gw, [(app_id, accepted.notification_id)], door.wait_timeout)
    return _answer(*answer_for(result))


def _answer(status: str, error: str | None = None) -> Answer:
    ANSWERS.labels(status).inc()
    return status_answer(status, error)


async def ack(request: Request, door: MattermostDoor) -> Response:
    """A delivery receipt: validated as the proxy does, counted, and recorded as the
    acknowledgement of the notification its ``id`` (the push's ``ack_id``) was accepted as.
    An id pushgate does not know (never sent here, or past ``KEY_TTL``) is still OK, as the
    proxy answers; ``recorded`` says which."""
    try:
        receipt = go_decode(PushNotificationAck, await request.body(), "model.PushNotificationAck")
    except GoDecodeError as exc:
        return status_body("FAIL", f"Failed to read ack body: {exc}")
    for value, what in ((receipt.id, "Id"), (receipt.platform, "platform"), (receipt.type, "type")):
        if not value:
            return status_body("FAIL", f"Failed because of missing ack {what}")
    gw: Gateway = request.app.state.gateway
    app_names: AppNames = request.app.state.app_names
    app_id = await app_names.id_of(gw, door.app)
    notification_id = None
    if app_id is not None:
        key = door_key("mattermost", receipt.id)
        notification_id = await gw.acceptor.notification_for_key(app_id, key)
        if notification_id is not None:
            await gw.acceptor.acknowledge(app_id, notification_id, time.time())
    ACKS.labels(receipt.platform[:16], receipt.type[:16], "yes" if notification_id else "no").inc()
    return status_body("OK")


def root() -> Response:
    return HTMLResponse("<html><body>Mattermost Push Proxy</body></html>")


def version() -> Response:
    return JSONResponse({"hash": "", "version": __version__})
