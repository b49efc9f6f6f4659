"""Send notifications (one or a batch) and read what happened to every device."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from pushgate.api.answers import BatchAnswer, PushLog, Report, SendAccepted
from pushgate.api.auth import CurrentApp, GatewayDep
from pushgate.api.errors import error_responses
from pushgate.api.idempotency import IdempotencyKeyDep, accept_answer
from pushgate.engine.accept import AcceptedNotification, Submission, fcm_target
from pushgate.engine.push_log import MAX_LIMIT, recent_notifications
from pushgate.errors import NotFound
from pushgate.message import Message
from pushgate.notification_ids import LAST_TIMESTAMP

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

    def submission(self) -> Submission:
        """The request for the accept use case. The message part is built from fields
        already validated (no second validation)."""
        message = Message.model_construct(
            _fields_set=self.model_fields_set - _TARGET_FIELDS,
            **{name: getattr(self, name) for name in Message.model_fields},
        )
        targets = []
        if self.fcm_topic:
            targets.append({"topic": self.fcm_topic.removeprefix("/topics/")})
        if self.fcm_condition:
            targets.append({"condition": self.fcm_condition})
        direct = [fcm_target(target, self.fcm_credential) for target in targets]
        return Submission(message, self.tokens, self.user_ids, direct)


class BatchRequest(BaseModel):
    """Up to 1,000 send requests accepted in one durable write."""

    model_config = ConfigDict(extra="forbid")
    notifications: list[SendRequest] = Field(min_length=1, max_length=MAX_BATCH)


_SENT_ONCE = error_responses(429)
_SENT = {
    **_SENT_ONCE,
    200: {
        "model": Report,
        "description": "With `wait=true`, once every device has a result: the notification's "
        "report, as `GET /v1/notifications/{notification_id}` gives it.",
    },
    202: {
        "model": SendAccepted,
        "description": "Accepted: `{id, deliveries, skipped}`. With `wait=true` and results "
        "still pending after `dispatch.wait_timeout`: the report as it stands.",
    },
}


def _one_answer(accepted: list[AcceptedNotification]) -> dict[str, Any]:
    (first,) = accepted
    return {"id": first.id, "deliveries": first.deliveries, "skipped": first.skipped}


def _batch_answer(accepted: list[AcceptedNotification]) -> dict[str, Any]:
    return {
        "ids": [a.id for a in accepted],
        "deliveries": sum(a.deliveries for a in accepted),
        "skipped": {a.id: a.skipped for a in accepted if a.skipped},
    }


@router.post("", status_code=202, responses=_SENT)
async def send(
    body: SendRequest,
    app: CurrentApp,
    gw: GatewayDep,
    key: IdempotencyKeyDep,
    wait: bool = Query(default=False, description="Answer only when every device has a result."),
) -> JSONResponse:
    """Accept a notification: it is on disk before this answers. ``wait`` returns the results.

    With ``Idempotency-Key``, a repeat of the request returns the first answer and sends
    nothing again."""
    answer = await accept_answer(gw, app.id, [body.submission()], key, _one_answer)
    if wait:
        report = await gw.acceptor.wait_for_report(app.id, answer["id"])
        return JSONResponse(report, status_code=200 if report["complete"] else 202)
    return JSONResponse(answer, status_code=202)


@router.post(
    "/batch",
    status_code=202,
    response_model=None,
    responses={**_SENT_ONCE, 202: {"model": BatchAnswer, "description": "Accepted."}},
)
async def send_batch(
    body: BatchRequest, app: CurrentApp, gw: GatewayDep, key: IdempotencyKeyDep
) -> dict[str, Any]:
    """Accept many notifications in one durable write; all or none are accepted (once per
    ``Idempotency-Key``)."""
    submissions = [r.submission() for r in body.notifications]
    return await accept_answer(gw, app.id, submissions, key, _batch_answer)


@router.get("", response_model=None, responses={200: {"model": PushLog, "description": "A page."}})
async def list_notifications(
    app: CurrentApp,
    gw: GatewayDep,
    user_id: str | None = Query(
        default=None, max_length=256, description="Only notifications to this user."
    ),
    since: float | None = Query(
        default=None,
        ge=0,
        le=LAST_TIMESTAMP,
        description="Only those accepted at or after this time (epoch s).",
    ),
    before: str | None = Query(
        default=None, max_length=64, description="Page on: the previous answer's next_before."
    ),
    limit: int = Query(default=50, ge=1, le=MAX_LIMIT),
) -> dict[str, Any]:
    """Recent notifications, newest first, each with its per-device results (the push log)."""
    return await recent_notifications(
        gw.backend.outbox, app.id, user_id=user_id, since=since, before=before, limit=limit
    )


@router.get(
    "/{notification_id}",
    response_model=None,
    responses={**error_responses(404), 200: {"model": Report, "description": "The report."}},
)
async def report(notification_id: str, app: CurrentApp, gw: GatewayDep) -> dict[str, Any]:
    """What happened to every device of a notification.

    Each result's ``status``: ``pending`` (being sent or retried), ``delivered``,
    ``unregistered`` (the token is dead; the device is now inactive), ``rejected`` (refused for
    good, with the reason), ``failed`` (the retries ran out) or ``unknown`` (sent, and no
    answer came: it may have been delivered; repeated only with a ``collapse_id``).
    ``acknowledged_at``: when a device first confirmed receiving it (fetched an ID-only chat
    push's content, or a Mattermost server forwarded its ack), else null.
    """
    found = await gw.acceptor.report(app.id, notification_id)
    if found is None:
        raise NotFound("No notification with that id exists for this app.")
    return found
