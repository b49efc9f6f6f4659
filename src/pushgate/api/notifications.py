"""Send notifications (one or a batch) and read what happened to every device."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from pushgate.api.auth import CurrentApp, GatewayDep
from pushgate.api.errors import error_responses
from pushgate.engine.accept import Submission, accept, checked_renders, wait_for_results
from pushgate.engine.fanout import Recipients, Targets, resolve_many
from pushgate.engine.push_log import MAX_LIMIT, recent_notifications
from pushgate.errors import NotFound, RequestError
from pushgate.gateway import Gateway
from pushgate.message import Message
from pushgate.providers.fcm_client import render as render_fcm
from pushgate.store import NewDelivery

router = APIRouter(prefix="/v1/notifications", tags=["notifications"])

_TARGET_FIELDS = {"tokens", "user_ids", "fcm_topic", "fcm_condition", "fcm_credential"}
MAX_TOKENS = 10_000
MAX_USERS = 10_000
MAX_BATCH = 1_000


class SendRequest(Message):
    """A message and who should get it: device tokens and/or user ids."""

    tokens: list[str] = Field(default_factory=list, max_length=MAX_TOKENS)
    user_ids: list[str] = Field(default_factory=list, max_length=MAX_USERS)
    fcm_topic: str | None = Field(default=None, description="App-level send to an FCM topic.")
    fcm_condition: str | None = Field(
        default=None, description="App-level send to an FCM condition over topics."
    )
    fcm_credential: str = Field(
        default="default", description="The FCM credential (project) for topic/condition sends."
    )

    @model_validator(mode="after")
    def _has_targets(self) -> SendRequest:
        if not (self.tokens or self.user_ids or self.fcm_topic or self.fcm_condition):
            raise ValueError(
                "give at least one of 'tokens', 'user_ids', 'fcm_topic' or 'fcm_condition'"
            )
        return self

    def message(self) -> Message:
        """The message part, built from fields already validated (no second validation)."""
        return Message.model_construct(
            _fields_set=self.model_fields_set - _TARGET_FIELDS,
            **{name: getattr(self, name) for name in Message.model_fields},
        )

    def app_level_targets(self) -> list[dict[str, str]]:
        """FCM topic/condition targets, as delivery ``extra`` data."""
        targets = []
        if self.fcm_topic:
            targets.append({"topic": self.fcm_topic.removeprefix("/topics/")})
        if self.fcm_condition:
            targets.append({"condition": self.fcm_condition})
        return targets


class BatchRequest(BaseModel):
    """Up to 1,000 send requests accepted in one durable write."""

    model_config = ConfigDict(extra="forbid")
    notifications: list[SendRequest] = Field(min_length=1, max_length=MAX_BATCH)


@dataclass(slots=True)
class _Prepared:
    """A validated send request: its message (and JSON) and its recipients."""

    message: Message
    message_json: str
    recipients: Recipients
    renders_json: str | None = None

    def submission(self) -> Submission:
        return Submission(
            self.message,
            self.recipients.deliveries,
            self.recipients.skipped,
            self.renders_json,
            self.message_json,
        )


async def _prepare_many(
    gw: Gateway, app_id: str, requests: Sequence[SendRequest]
) -> list[_Prepared]:
    """Validate, resolve and render-check requests; errors name the request's index."""
    targets = [Targets(r.tokens, r.user_ids) for r in requests]
    resolved = await resolve_many(gw.store, app_id, targets)
    checked: dict[tuple[str, frozenset[str]], str | None] = {}
    prepared = []
    for index, (request, recipients) in enumerate(zip(requests, resolved, strict=True)):
        message = request.message()
        item = _Prepared(message, message.model_dump_json(exclude_defaults=True), recipients)
        try:
            _check(item, request, checked)
        except RequestError as exc:
            if len(requests) > 1:
                exc.message = f"notifications[{index}]: {exc.message}"
            raise
        prepared.append(item)
    return prepared


def _check(
    item: _Prepared, request: SendRequest, checked: dict[tuple[str, frozenset[str]], str | None]
) -> None:
    """Render-check once per distinct message and platform set; add app-level targets."""
    key = (item.message_json, frozenset(item.recipients.platforms))
    if key not in checked:
        checked[key] = checked_renders(item.message, key[1])
    item.renders_json = checked[key]
    for target in request.app_level_targets():
        render_fcm(item.message, "", target, now=time.time())
        item.recipients.deliveries.append(
            NewDelivery(
                device_id=None,
                user_id=None,
                platform="fcm",
                token=_describe(target),
                environment=request.fcm_credential,
                extra=target,
            )
        )


def _describe(target: dict[str, str]) -> str:
    if "topic" in target:
        return f"/topics/{target['topic']}"
    return f"condition: {target['condition']}"


@router.post("", status_code=202)
async def send(
    body: SendRequest,
    app: CurrentApp,
    gw: GatewayDep,
    wait: bool = Query(default=False, description="Answer only when every device has a result."),
) -> JSONResponse:
    """Accept a notification: it is on disk before this answers. ``wait`` returns the results."""
    (item,) = await _prepare_many(gw, app.id, [body])
    recipients = item.recipients
    (notification_id,), rows = await accept(gw, app.id, [item.submission()])
    if wait:
        report = await wait_for_results(gw, app.id, notification_id)
        return JSONResponse(report, status_code=200 if report["complete"] else 202)
    return JSONResponse(
        {"id": notification_id, "deliveries": len(rows), "skipped": recipients.skipped},
        status_code=202,
    )


@router.post("/batch", status_code=202)
async def send_batch(body: BatchRequest, app: CurrentApp, gw: GatewayDep) -> dict[str, Any]:
    """Accept many notifications in one durable write; all or none are accepted."""
    prepared = await _prepare_many(gw, app.id, body.notifications)
    ids, rows = await accept(gw, app.id, [p.submission() for p in prepared])
    return {
        "ids": ids,
        "deliveries": len(rows),
        "skipped": {
            nid: p.recipients.skipped
            for nid, p in zip(ids, prepared, strict=True)
            if p.recipients.skipped
        },
    }


@router.get("")
async def list_notifications(
    app: CurrentApp,
    gw: GatewayDep,
    user_id: str | None = Query(
        default=None, max_length=256, description="Only notifications to this user."
    ),
    since: float | None = Query(
        default=None, ge=0, description="Only those accepted at or after this time (epoch s)."
    ),
    before: str | None = Query(
        default=None, max_length=64, description="Page on: the previous answer's next_before."
    ),
    limit: int = Query(default=50, ge=1, le=MAX_LIMIT),
) -> dict[str, Any]:
    """Recent notifications, newest first, each with its per-device results (the push log)."""
    return await recent_notifications(
        gw.store, app.id, user_id=user_id, since=since, before=before, limit=limit
    )


@router.get("/{notification_id}", responses=error_responses(404))
async def report(notification_id: str, app: CurrentApp, gw: GatewayDep) -> dict[str, Any]:
    """What happened to every device of a notification.

    ``acknowledged_at``: when a device fetched an ID-only chat push's content (else null).
    """
    found = await gw.store.notification_report(app.id, notification_id)
    if found is None:
        raise NotFound("No notification with that id exists for this app.")
    found["acknowledged_at"] = await gw.chat.acknowledged_at(app.id, notification_id)
    return found
