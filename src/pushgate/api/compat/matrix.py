"""The Matrix Push Gateway API: ``POST /_matrix/push/v1/notify``.

A homeserver's HTTP pusher whose ``url`` points here needs no other change. The answer waits
(up to ``[matrix] wait_timeout``) for the push services' verdicts, so that ``rejected`` can
name the pushkeys that are dead; only those, never one that failed for a transient or
configuration reason, since the homeserver deletes the pusher of every rejected pushkey.
Anything short of a malformed request is answered 200: the homeserver stops sending to a
pusher that gets errors until it gets a 2xx.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from prometheus_client import Counter
from starlette.types import Scope

from pushgate.api.compat._deliver import Accepted, AppNames, Push, accept, verdicts
from pushgate.api.compat.matrix_push import (
    BadNotify,
    Device,
    apns_message,
    apns_token,
    fcm_message,
    parse_notify,
)
from pushgate.api.errors import retry_after_header
from pushgate.api.hot_routes import Answer, HotRoute
from pushgate.api.json_body import JsonProblem, load_json
from pushgate.config import MatrixDoor
from pushgate.engine.accept import door_key
from pushgate.errors import TooManyRequests
from pushgate.gateway import Gateway

log = logging.getLogger(__name__)

NOTIFY_PATH = "/_matrix/push/v1/notify"

SKIPPED = Counter(
    "pushgate_matrix_skipped_devices_total",
    "Notify devices not sent to, by why (none of them is reported rejected).",
    ["reason"],
)
REJECTED = Counter("pushgate_matrix_rejected_pushkeys_total", "Pushkeys answered as rejected.")

NEVER_VALID = "never_valid"


def _error(
    status: int, errcode: str, message: str, headers: dict[str, str] | None = None
) -> Answer:
    raw = tuple((name.encode(), value.encode()) for name, value in (headers or {}).items())
    return Answer(status, orjson.dumps({"errcode": errcode, "error": message}), headers=raw)


async def serve_notify(scope: Scope, body: bytes) -> Answer:
    """``POST /_matrix/push/v1/notify``, served by ``HotRoutes``."""
    state = scope["app"].state
    return await notify(state.gateway, state.app_names, body)


ROUTES = [HotRoute(NOTIFY_PATH, serve_notify)]


async def notify(gw: Gateway, app_names: AppNames, body: bytes) -> Answer:
    """Accept one notification for its devices; answer which pushkeys are dead."""
    try:
        notification, devices = parse_notify(load_json(body, gw.settings.limits.max_json_depth))
    except JsonProblem:
        return _error(400, "M_NOT_JSON", "The body is not valid JSON.")
    except BadNotify as exc:
        return _error(400, exc.errcode, str(exc))
    door = gw.settings.matrix
    assert door is not None
    event_id = notification.get("event_id") or ""
    waiting: list[tuple[Device, tuple[str, str]]] = []
    never_valid: list[str] = []
    new: dict[str, list[tuple[Device, Push]]] = {}
    for device in devices:
        routed = await _push_for(gw, app_names, door, notification, device, event_id)
        if routed == NEVER_VALID:
            never_valid.append(device.pushkey)
        elif routed is not None:
            new.setdefault(routed[0], []).append((device, routed[1]))
    for app_id, pairs in new.items():
        try:
            answers = await accept(gw, app_id, [push for _, push in pairs])
        except TooManyRequests as exc:  # a non-2xx makes the homeserver back off and send again
            return _error(429, "M_LIMIT_EXCEEDED", exc.message, retry_after_header(exc.retry_after))
        for (device, _), answer in zip(pairs, answers, strict=True):
            if not isinstance(answer, Accepted):
                SKIPPED.labels(answer.code).inc()
                log.warning("Matrix notify: a device's push was refused: %s", answer.message)
                continue
            waiting.append((device, (app_id, answer.notification_id)))
    results = await verdicts(gw, [accepted for _, accepted in waiting], door.wait_timeout)
    rejected = never_valid + [
        device.pushkey
        for (device, _), result in zip(waiting, results, strict=True)
        if result.status == "unregistered"
    ]
    REJECTED.inc(len(rejected))
    return Answer(200, orjson.dumps({"rejected": list(dict.fromkeys(rejected))}))


async def _push_for(
    gw: Gateway,
    app_names: AppNames,
    door: MatrixDoor,
    notification: dict[str, Any],
    device: Device,
    event_id: str,
) -> tuple[str, Push] | str | None:
    """The app id and push for one device; NEVER_VALID for a pushkey that cannot be a token;
    None (counted and logged) when the configuration gives it nowhere to go.

    An event's push is keyed by (app_id, event_id, pushkey), so a homeserver's retry, to any
    gateway on the store, is answered with the first push instead of sending again. Badge
    updates (no event id) are idempotent and not keyed."""
    target = door.app_ids.get(device.app_id)
    if target is None:
        return _skip("unknown_app_id", f"no [matrix.app_ids] entry for {device.app_id!r}")
    app_id = await app_names.id_of(gw, target.app)
    if app_id is None:
        return _skip("unknown_app", f"no pushgate app named {target.app!r}")
    token = apns_token(device.pushkey) if target.platform == "apns" else device.pushkey
    if token is None:
        return NEVER_VALID
    build = apns_message if target.platform == "apns" else fcm_message
    try:
        key = door_key("matrix", device.app_id, event_id, device.pushkey) if event_id else None
        return app_id, Push(build(notification, device), target, token, key=key)
    except ValueError as exc:  # e.g. a default_payload pushgate cannot send
        return _skip(
            "bad_payload", f"{device.app_id!r}: no sendable payload ({type(exc).__name__})"
        )


def _skip(reason: str, why: str) -> None:
    SKIPPED.labels(reason).inc()
    log.warning("Matrix notify: a device was skipped: %s", why)
    return None
