"""Chat messages: post one (pushes to the right members), explain who got it, the ID-only
fetch, marking a channel read (badge update) and the test push."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.types import Scope

from pushgate.api.auth import CurrentApp, GatewayDep, bearer, caller, current_app
from pushgate.api.errors import VALIDATION_STATUS, error_answer, error_response, error_responses
from pushgate.api.hot_routes import Answer, HotRoute
from pushgate.api.idempotency import IdempotencyKeyDep, accept_answer, idempotency_key
from pushgate.api.json_body import body_problem
from pushgate.engine.accept import AcceptedNotification, Submission
from pushgate.engine.chat.anonymous import refuse_anonymous
from pushgate.engine.chat.posting import (
    NOTIFIED,
    Plan,
    PlannedPush,
    already_posted,
    content_mode,
    decide,
    devices_by_user,
    plan_message,
    plan_pushes,
    posted,
    token_hash,
    variables,
)
from pushgate.engine.chat.push_payloads import platform_payload
from pushgate.engine.fanout import delivery_to
from pushgate.engine.templates import TemplateError
from pushgate.errors import NotFound, RequestError
from pushgate.gateway import Gateway
from pushgate.message import Message
from pushgate.metrics import CHAT_FETCH_ACKS
from pushgate.queue.base import WriteStep
from pushgate.store.chat import AlreadyPosted, ChatMessage
from pushgate.store.models import MAX_COUNT

router = APIRouter(prefix="/v1/chat", tags=["chat"])

MAX_TEXT = 20_000
TEST_MESSAGE_POOL = 50
"""The test push picks at random among this many of the user's newest messages."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MessageIn(_Strict):
    id: str = Field(min_length=1, max_length=255, description="The app server's message id.")
    channel_id: str = Field(min_length=1, max_length=255)
    sender_id: str = Field(min_length=1, max_length=255)
    text: str = Field(default="", max_length=MAX_TEXT)
    parent_id: str | None = Field(default=None, max_length=255, description="Thread reply.")
    mentioned_user_ids: list[str] = Field(default_factory=list, max_length=1_000)
    attachments: int = Field(default=0, ge=0, le=MAX_COUNT)
    skip_push: bool = False
    members: list[str] | None = Field(
        default=None,
        max_length=10_000,
        description="The channel's members, for servers that do not mirror membership.",
    )


class PostedNotification(BaseModel):
    id: str
    user_ids: list[str]
    platform: str
    devices: int


class Skipped(BaseModel):
    user_id: str
    reason: str = Field(description="Why no push: a rule's reason (see docs/chat.md).")
    detail: str | None = Field(default=None, description="For `render_failed`: the error.")


class Posted(BaseModel):
    """A posted message: its notifications and every member's decision."""

    message_id: str
    notifications: list[PostedNotification]
    recipients: list[str]
    skipped: list[Skipped]


class FetchIn(_Strict):
    token: str = Field(min_length=1, max_length=200, description="The push's data.ack_token.")


class ReadIn(_Strict):
    user_id: str = Field(min_length=1, max_length=255)
    device_token: str | None = Field(
        default=None, description="The device that read: it gets no badge-update push."
    )


class TestPushIn(_Strict):
    user_id: str = Field(min_length=1, max_length=255)
    message_id: str | None = None
    template: str | None = Field(
        default=None, max_length=32_768, description="Used instead of the app's (not saved)."
    )
    dry_run: bool = Field(default=False, description="Render and explain; send nothing.")


def _submissions(pushes: Sequence[PlannedPush]) -> list[Submission]:
    return [
        Submission(push.message, direct=[delivery_to(d) for d in push.devices]) for push in pushes
    ]


async def accept_pushes(
    gw: Gateway,
    app_id: str,
    pushes: Sequence[PlannedPush],
    also: Callable[[list[AcceptedNotification]], WriteStep] | None = None,
) -> list[str]:
    """Accept the planned notifications (one durable write, with ``also``); their ids, in
    order."""
    if not pushes:
        return []
    accepted = await gw.acceptor.accept(app_id, _submissions(pushes), also=also)
    return [a.id for a in accepted]


def _recorded(
    gw: Gateway,
    app_id: str,
    pushes: Sequence[PlannedPush],
    message: ChatMessage | None = None,
    decisions: list[dict[str, Any]] | None = None,
) -> Callable[[list[AcceptedNotification]], WriteStep]:
    """What a post writes in its pushes' accept transaction, once their ids are known: the
    message (with its decisions and notification ids) and the fetch tokens (a device may
    fetch as soon as its push lands)."""

    def step(accepted: list[AcceptedNotification]) -> WriteStep:
        ids = [a.id for a in accepted]
        return gw.chat.record_step(app_id, posted(message, decisions, pushes, ids))

    return step


def _posted(message_id: str, plan: Plan, ids: Sequence[str]) -> dict[str, Any]:
    """The answer to a post: each notification, who was notified and why the others were not."""
    return {
        "message_id": message_id,
        "notifications": [
            {"id": nid, "user_ids": p.user_ids, "platform": p.platform, "devices": len(p.devices)}
            for p, nid in zip(plan.pushes, ids, strict=True)
        ],
        "recipients": [d["user_id"] for d in plan.decisions if d["reason"] == NOTIFIED],
        "skipped": [
            {**d, "detail": plan.failures[d["user_id"]]} if d["user_id"] in plan.failures else d
            for d in plan.decisions
            if d["reason"] != NOTIFIED
        ],
    }


@router.post(
    "/messages",
    status_code=202,
    response_model=None,
    responses={**error_responses(404, 409), 202: {"model": Posted, "description": "Posted."}},
)
async def post_message(
    body: MessageIn, app: CurrentApp, gw: GatewayDep, key: IdempotencyKeyDep
) -> dict[str, Any]:
    """Record a message and accept its pushes; the answer lists every member's decision.

    With ``Idempotency-Key``, a repeat of the request returns the first answer and sends
    nothing again (without one, a message id posted before is 409)."""
    if key is not None and (first := await gw.acceptor.recall(app.id, key)) is not None:
        return first
    now = time.time()
    message = ChatMessage(
        id=body.id,
        channel_id=body.channel_id,
        sender_id=body.sender_id,
        text=body.text,
        parent_id=body.parent_id,
        mentioned=list(dict.fromkeys(body.mentioned_user_ids)),
        attachments=body.attachments,
        skip_push=body.skip_push,
        created_at=now,
    )
    plan = await plan_message(gw.chat, app.id, message, body.members, now)

    def answer(accepted: list[AcceptedNotification]) -> dict[str, Any]:
        return _posted(message.id, plan, [a.id for a in accepted])

    also = _recorded(gw, app.id, plan.pushes, plan.message, plan.decisions)
    try:
        if plan.pushes or key is not None:  # a key is kept even when nothing is sent
            return await accept_answer(gw, app.id, _submissions(plan.pushes), key, answer, also)
        await gw.chat.record(app.id, posted(plan.message, plan.decisions, [], []))
        return answer([])
    except AlreadyPosted:
        raise already_posted(message.id) from None


async def serve_post_message(scope: Scope, body: bytes) -> Answer:
    """``POST /v1/chat/messages``, served by ``HotRoutes``: the checks the middleware and
    FastAPI would make for ``post_message`` (the body's JSON, the API key and its rate limit,
    the ``Idempotency-Key`` header and the body), with their functions, then ``post_message``
    itself; errors answered by the application's handlers. The post is one request per
    message, and FastAPI's routing and dependency solving were half of its API time."""
    request = Request(scope)
    gw: Gateway = scope["app"].state.gateway
    try:
        problem = body_problem(scope, body, gw.settings.limits.max_json_depth)
        if problem is not None:
            return _answer(error_response(VALIDATION_STATUS, "malformed_json", problem))
        app = await current_app(await caller(request, gw, await bearer(request)))
        errors: list[Any] = []
        try:
            key = idempotency_key(request.url.path, request.headers.get("idempotency-key"), body)
        except RequestValidationError as exc:
            errors.extend(exc.errors())
        value = _body_value(request.headers.get("content-type"), body)
        if value is None:  # FastAPI's refusal of a missing body
            errors.append({"type": "missing", "loc": ("body",), "msg": "Field required"})
        else:
            try:
                message = MessageIn.model_validate(value, from_attributes=True)  # as FastAPI
            except ValidationError as exc:
                errors.extend({**e, "loc": ("body", *e["loc"])} for e in exc.errors())
        if errors:
            raise RequestValidationError(errors, body=value)
        return Answer(202, orjson.dumps(await post_message(message, app, gw, key)))
    except Exception as exc:
        response = await error_answer(request, exc)
        if response is None:
            raise
        return _answer(response)


def _body_value(content_type: str | None, body: bytes) -> Any:
    """The body as FastAPI hands it to validation: parsed when the content type is JSON
    (``StrictJsonBody``'s check passed), else the bytes; None when there is none."""
    if not body:
        return None
    kind = (content_type or "").partition(";")[0].strip().lower()
    main, _, sub = kind.partition("/")
    if main == "application" and (sub == "json" or sub.endswith("+json")):
        return orjson.loads(body)
    return body


def _answer(response: JSONResponse) -> Answer:
    headers = tuple(
        (name, value)
        for name, value in response.raw_headers
        if name not in (b"content-type", b"content-length")
    )
    return Answer(response.status_code, bytes(response.body), headers=headers)


HOT_ROUTES = [HotRoute("/v1/chat/messages", serve_post_message)]


@router.get("/messages/{message_id}/recipients", responses=error_responses(404))
async def message_recipients(message_id: str, app: CurrentApp, gw: GatewayDep) -> dict[str, Any]:
    """Every member with the reason they were or were not notified, and their notifications."""
    message = await gw.chat.message(app.id, message_id)
    if message is None or message.decisions is None:
        raise NotFound("No posted message with that id exists for this app.")
    notifications: dict[str, list[dict[str, Any]]] = {}
    for nid in message.notification_ids or []:
        report = await gw.acceptor.report(app.id, nid)
        if report is None:
            continue
        counts: dict[str, dict[str, int]] = {}
        for result in report["results"]:
            mine = counts.setdefault(result["user_id"], {})
            mine[result["status"]] = mine.get(result["status"], 0) + 1
        for user_id, mine in counts.items():
            notifications.setdefault(user_id, []).append(
                {"id": nid, "counts": mine, "acknowledged_at": report["acknowledged_at"]}
            )
    return {
        "message_id": message.id,
        "channel_id": message.channel_id,
        "members": [
            {**d, "notifications": notifications.get(d["user_id"], [])} for d in message.decisions
        ],
    }


@router.post("/fetch", response_model=None, responses=error_responses(404, 410))
async def fetch_content(body: FetchIn, gw: GatewayDep) -> dict[str, Any] | JSONResponse:
    """ID-only push: the device trades the push's token for its content (no API key).

    The first fetch acknowledges the delivery.
    """
    now = time.time()
    found = await gw.chat.fetch(token_hash(body.token), now)
    if found is None:
        return error_response(404, "unknown_token", "No push carries this token; check it.")
    acknowledged_at = await gw.acceptor.acknowledge(found.app_id, found.notification_id, now)
    if acknowledged_at == now:
        CHAT_FETCH_ACKS.inc()
    if found.content is None:
        return error_response(
            410, "content_expired", "This message's content has expired and is no longer kept."
        )
    return {
        "message_id": found.message_id,
        "notification_id": found.notification_id,
        "acknowledged_at": acknowledged_at,
        "content": orjson.loads(found.content),
    }


@router.post("/channels/{channel_id}/read", responses=error_responses(404))
async def mark_read(
    channel_id: str, body: ReadIn, app: CurrentApp, gw: GatewayDep
) -> dict[str, Any]:
    """Zero the member's unread count and update the badge on their other devices."""
    total = await gw.chat.mark_read(app.id, channel_id, body.user_id)
    if total is None:
        raise NotFound("That user is not a member of that channel.")
    devices = [
        d
        for d in await gw.store.active_devices_of_users(app.id, [body.user_id])
        if body.device_token is None
        or d.token not in (body.device_token, body.device_token.lower())
    ]
    pushes = []
    for platform in dict.fromkeys(d.platform for d in devices):
        badge = Message(
            badge=total,
            priority=5 if platform == "apns" else None,
            data={"type": "clear", "channel_id": channel_id, "badge": total},
        )
        pushes.append(
            PlannedPush(
                body.user_id, platform, badge, [d for d in devices if d.platform == platform]
            )
        )
    ids = await accept_pushes(gw, app.id, pushes)
    return {"unread_count": total, "notifications": ids}


@router.post("/test", response_model=None, responses=error_responses(404))
async def test_push(
    body: TestPushIn, app: CurrentApp, gw: GatewayDep
) -> dict[str, Any] | JSONResponse:
    """Render a recent (or the given) message for the user's devices and send it, or with
    ``dry_run`` explain without sending: per device the payload, the answer and the outcome."""
    try:
        return await _test_push(gw, app.id, body)
    except TemplateError as exc:
        return error_response(422, exc.code, exc.message, stage=exc.stage, line=exc.line)


async def _test_push(gw: Gateway, app_id: str, body: TestPushIn) -> dict[str, Any]:
    await refuse_anonymous(gw.chat, app_id, [body.user_id])
    now = time.time()
    message_id = body.message_id
    if message_id is None:
        recent = await gw.chat.recent_message_ids_for_user(
            app_id, body.user_id, TEST_MESSAGE_POOL, now
        )
        if not recent:
            raise NotFound(
                "The user's channels hold no recent message (text is kept for the content TTL); "
                "post one or give 'message_id'."
            )
        message_id = random.choice(recent)
    message = await gw.chat.message(app_id, message_id)
    if message is None:
        raise NotFound("No message with that id exists for this app.")
    if message.text is None:
        raise RequestError(
            "That message's content has expired; pick a newer one.", code="content_expired"
        )
    settings = await gw.chat.settings(app_id)
    context = await gw.chat.message_context(app_id, message, None, now)
    decisions = {s.user_id: s.reason for s in decide(message, context, settings, now).skipped}
    devices = devices_by_user(await gw.store.active_devices_of_users(app_id, [body.user_id]))
    mine = devices.get(body.user_id, [])
    unread = (await gw.chat.unread_counts(app_id, [body.user_id])).get(body.user_id, 0)
    values = variables(message, context, body.user_id, unread)
    mode = content_mode(context, settings)
    templates = await gw.chat.templates(app_id)
    pushes = plan_pushes(body.user_id, mine, values, mode, templates, settings, now, body.template)
    explanation = {
        "message_id": message.id,
        "channel_id": message.channel_id,
        "content_mode": mode,
        "would_notify": body.user_id not in decisions,
        "rule": decisions.get(body.user_id, "notified"),
        "dry_run": body.dry_run,
    }
    reports: dict[str, dict[str, Any]] = {}
    if not body.dry_run:
        ids = await accept_pushes(gw, app_id, pushes, also=_recorded(gw, app_id, pushes))
        for nid in ids:
            report = await gw.acceptor.wait_for_report(app_id, nid)
            reports.update((r["token"], r) for r in report["results"])
    devices_out = []
    for push in pushes:
        for device in push.devices:
            result = reports.get(device.token)
            devices_out.append(
                {
                    "device_id": device.id,
                    "platform": device.platform,
                    "token": device.token,
                    "payload": platform_payload(push.message, device),
                    "outcome": result["status"] if result else None,
                    "answer": {key: result[key] for key in ("status_code", "reason", "provider_id")}
                    if result
                    else None,
                }
            )
    if not devices_out:
        explanation["note"] = "The user has no active device."
    return {**explanation, "devices": devices_out}
