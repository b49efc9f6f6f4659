"""Feedback: the app's deactivated devices since a cursor, and webhooks that push the same
(and notifications' final outcomes) to the app's own URL, signed (see ``pushgate.webhooks``)."""

from __future__ import annotations

import secrets
from typing import Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from pushgate.api.auth import Actor, GatewayDep, ManagedApp
from pushgate.api.errors import error_responses
from pushgate.errors import NotFound
from pushgate.store.models import MAX_ROW_ID, Webhook, WebhookCall

router = APIRouter(tags=["feedback"])

EventKind = Literal["device.deactivated", "notification.finished"]


class WebhookIn(BaseModel):
    """Where to POST the app's events, and which."""

    model_config = ConfigDict(extra="forbid")
    url: HttpUrl = Field(description="An http(s) URL the gateway can reach.")
    events: list[EventKind] = Field(
        default=["device.deactivated", "notification.finished"], min_length=1
    )


def _webhook_out(hook: Webhook) -> dict[str, Any]:
    return {"id": hook.id, "url": hook.url, "events": hook.events, "created_at": hook.created_at}


def _call_out(call: WebhookCall) -> dict[str, Any]:
    return {
        "id": call.id,
        "event": call.event,
        "state": call.state,
        "attempts": call.attempts,
        "next_attempt_at": call.next_attempt_at if call.state == "pending" else None,
        "last_status": call.last_status,
        "last_error": call.last_error,
        "delivered_at": call.delivered_at,
        "created_at": call.created_at,
    }


@router.get("/v1/feedback")
async def feedback(
    app: ManagedApp,
    gw: GatewayDep,
    after: int = Query(
        default=0, ge=0, le=MAX_ROW_ID, description="The previous answer's next_after."
    ),
    limit: int = Query(default=100, ge=1, le=1000),
) -> dict[str, Any]:
    """Devices a push service said are dead, oldest first from the cursor ``after``: reason,
    platform and the service's timestamp (``provider_timestamp``, when it gave one)."""
    found = await gw.store.list_feedback(app.id, after=after, limit=limit)
    return {
        "devices": [
            {
                "cursor": f.id,
                "device_id": f.device_id,
                "platform": f.platform,
                "token": f.token,
                "reason": f.reason,
                "provider_timestamp": f.provider_at,
                "recorded_at": f.recorded_at,
            }
            for f in found
        ],
        "next_after": found[-1].id if found else after,
    }


@router.post("/v1/webhooks", status_code=201)
async def create_webhook(body: WebhookIn, app: ManagedApp, gw: GatewayDep, by: Actor) -> dict:
    """Register a webhook; the answer holds its signing ``secret``, shown only this once."""
    secret = "whsec_" + secrets.token_urlsafe(32)
    hook = await gw.store.create_webhook(
        app.id, str(body.url), body.events, gw.secret_box.seal(secret.encode())
    )
    await gw.audit(by, "webhook.create", hook.id, app.id)
    return {**_webhook_out(hook), "secret": secret}


@router.get("/v1/webhooks")
async def list_webhooks(app: ManagedApp, gw: GatewayDep) -> list[dict[str, Any]]:
    """The app's webhooks, without their secrets."""
    return [_webhook_out(hook) for hook in await gw.store.list_webhooks(app.id)]


@router.delete("/v1/webhooks/{webhook_id}", status_code=204, responses=error_responses(404))
async def delete_webhook(webhook_id: str, app: ManagedApp, gw: GatewayDep, by: Actor) -> Response:
    """Remove a webhook; its queued calls go with it."""
    if not await gw.store.delete_webhook(app.id, webhook_id):
        raise NotFound("No webhook with that id exists for this app.")
    await gw.audit(by, "webhook.delete", webhook_id, app.id)
    return Response(status_code=204)


@router.get("/v1/webhooks/{webhook_id}/calls", responses=error_responses(404))
async def webhook_calls(
    webhook_id: str,
    app: ManagedApp,
    gw: GatewayDep,
    before: int | None = Query(
        default=None, ge=1, le=MAX_ROW_ID, description="The previous next_before."
    ),
    limit: int = Query(default=100, ge=1, le=1000),
) -> dict[str, Any]:
    """The delivery log: each event's call, newest first, with its tries and last answer."""
    if not any(hook.id == webhook_id for hook in await gw.store.list_webhooks(app.id)):
        raise NotFound("No webhook with that id exists for this app.")
    calls = await gw.store.list_webhook_calls(app.id, webhook_id, before=before, limit=limit)
    return {
        "calls": [_call_out(call) for call in calls],
        "next_before": calls[-1].id if len(calls) == limit else None,
    }
