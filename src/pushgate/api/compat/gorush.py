"""gorush's HTTP API: ``POST /api/push``, ``/healthz``, ``/api/stat/go``, ``/api/stat/app``,
``/sys/stats``, ``/api/config``, ``/version`` and ``/``, served under ``[gorush] path_prefix``.

Unlike gorush, nothing is answered ``ok`` that was dropped: a notification pushgate will not
send (Huawei, an unknown platform, a payload a service would refuse) gets a ``failed-push``
entry in ``logs`` in either mode. In sync mode the answer waits for the push services and adds
``results``, one entry per token with its status and whether the token is dead.
"""

from __future__ import annotations

import asyncio
import gc
import os
import platform
import resource
import sys
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import yaml
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from pushgate import __version__
from pushgate.api.compat._deliver import Accepted, AppNames, Push, accept, verdicts
from pushgate.api.compat.gorush_feedback import FailedEntry, Feedback
from pushgate.api.compat.gorush_push import (
    ANDROID,
    IOS,
    MAX_FCM_TOKENS,
    PLATFORM_NAMES,
    GorushNotification,
    PushRequest,
    counted,
    fcm_message,
    ios_message,
    mask,
)
from pushgate.api.compat.gorush_stats import Stats, SysStats, TimedRoute
from pushgate.api.errors import retry_after_header
from pushgate.api.json_body import json_problem
from pushgate.config import GorushDoor, PushTarget
from pushgate.errors import TooManyRequests
from pushgate.gateway import Gateway
from pushgate.message import Message
from pushgate.store import Verdict

HEADERS = {"X-GORUSH-VERSION": __version__}
MEDIA_TYPE = "application/json; charset=utf-8"


def _json(body: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=HEADERS)


def _bad_request(message: str) -> JSONResponse:
    return _json({"code": 400, "message": message}, 400)


@dataclass(frozen=True, slots=True)
class _Sent:
    """A push of one notification to one token, remembered for the answer."""

    notification: GorushNotification
    token: str
    platform: str


def _failed(
    door: GorushDoor, n: GorushNotification, token: str, platform: str, error: str
) -> dict[str, Any]:
    """A gorush ``failed-push`` log entry (also the feedback webhook's body)."""
    entry: dict[str, Any] = {"notif_id": n.notif_id} if n.notif_id else {}
    shown = mask(token) if door.hide_token else token
    entry.update(type="failed-push", platform=platform, token=shown, message=n.message, error=error)
    return entry


def _failure_of(door: GorushDoor, item: _Sent) -> FailedEntry:
    """The ``failed-push`` entry of a token's delivery result, None unless it failed."""

    def entry(result: Verdict) -> dict[str, Any] | None:
        if result.status in ("delivered", "pending"):
            return None
        return _failed(door, item.notification, item.token, item.platform, result.reason)

    return entry


def router_for(door: GorushDoor) -> APIRouter:
    """gorush's routes under the door's path prefix."""
    router = APIRouter(
        prefix=door.path_prefix, tags=["gorush"], include_in_schema=False, route_class=TimedRoute
    )
    router.add_api_route("/api/push", push, methods=["POST"])
    router.add_api_route("/api/config", config, methods=["GET"])
    router.add_api_route("/sys/stats", sys_stats, methods=["GET"])
    router.add_api_route("/healthz", healthz, methods=["GET", "HEAD"])
    router.add_api_route("/api/stat/app", stat_app, methods=["GET"])
    router.add_api_route("/api/stat/go", stat_go, methods=["GET"])
    router.add_api_route("/version", version, methods=["GET"])
    router.add_api_route("/", welcome, methods=["GET"])
    return router


async def push(request: Request) -> JSONResponse:
    """Accept gorush's notifications array; sync mode answers with every token's result."""
    gw: Gateway = request.app.state.gateway
    body = await request.body()
    try:
        notifications = PushRequest.model_validate_json(body).notifications
    except ValidationError:
        return _bad_request("Missing notifications field.")
    if json_problem(body, gw.settings.limits.max_json_depth) is not None:  # gorush's bind error
        return _bad_request("Missing notifications field.")
    door = gw.settings.gorush
    assert door is not None
    if not notifications:
        return _bad_request("Notifications field is empty.")
    if len(notifications) > door.max_notification:
        return _bad_request(
            f"Number of notifications({len(notifications)}) over limit({door.max_notification})"
        )
    app_names: AppNames = request.app.state.app_names
    app_id = await app_names.id_of(gw, door.app)
    if app_id is None:
        return _json({"code": 500, "message": f"pushgate has no app named {door.app!r}"}, 500)
    logs: list[dict[str, Any]] = []
    pushes: list[Push] = []
    sent: list[_Sent] = []
    counts = 0
    for n in notifications:
        counts += counted(n)
        name = PLATFORM_NAMES.get(n.platform, str(n.platform))
        try:
            message, target = _render(door, n)
        except ValueError as exc:
            logs.extend(_failed(door, n, token, name, str(exc)) for token in n.all_tokens() or [""])
            continue
        for token, extra in _destinations(n):
            pushes.append(Push(message, target, token, extra))
            sent.append(_Sent(n, token, name))
    stats: Stats = request.app.state.gorush_stats
    stats.submitted += len(pushes)
    try:
        answers = await accept(gw, app_id, pushes)
    except (
        TooManyRequests
    ) as exc:  # gorush's own "max capacity" is an error too; this one says when
        return JSONResponse(
            {"code": 429, "message": exc.message},
            status_code=429,
            media_type=MEDIA_TYPE,
            headers={**HEADERS, **retry_after_header(exc.retry_after)},
        )
    waiting: list[tuple[_Sent, str]] = []
    for item, answer in zip(sent, answers, strict=True):
        if isinstance(answer, Accepted):
            waiting.append((item, answer.notification_id))
        else:
            logs.append(_failed(door, item.notification, item.token, item.platform, answer.message))
    feedback: Feedback = request.app.state.gorush_feedback
    feedback.report(
        gw, door, app_id, list(logs), [(nid, _failure_of(door, item)) for item, nid in waiting]
    )
    body: dict[str, Any] = {"counts": counts, "logs": logs, "success": "ok"}
    if door.sync:
        body["results"] = await _results(gw, app_id, door, waiting, logs, stats)
    return _json(body)


def _render(door: GorushDoor, n: GorushNotification) -> tuple[Message, PushTarget]:
    """The message and target of one notification; ValueError when pushgate will not send it."""
    if n.platform == IOS:
        production = n.production or (door.ios_production and not n.development)
        environment = "production" if production else "sandbox"
        return ios_message(n), PushTarget(platform="apns", credential=environment)
    if n.platform == ANDROID:
        if len(n.all_tokens()) > MAX_FCM_TOKENS:
            raise ValueError(f"the maximum number of tokens is {MAX_FCM_TOKENS}")
        return fcm_message(n), PushTarget(platform="fcm", credential=door.android_credential)
    if n.platform in PLATFORM_NAMES:
        raise ValueError("pushgate does not send to Huawei Push Kit yet; nothing was sent")
    raise ValueError(f"platform {n.platform} is not 1 (iOS), 2 (Android) or 3 (Huawei)")


def _destinations(n: GorushNotification) -> list[tuple[str, dict[str, str] | None]]:
    """Each token, and for Android an FCM topic or condition as an app-level delivery."""
    found: list[tuple[str, dict[str, str] | None]] = [(t, None) for t in n.all_tokens()]
    if n.platform == ANDROID and n.topic:
        topic = n.topic.removeprefix("/topics/")
        found.append((f"/topics/{topic}", {"topic": topic}))
    if n.platform == ANDROID and n.condition:
        found.append((f"condition: {n.condition}", {"condition": n.condition}))
    return found


async def _results(
    gw: Gateway,
    app_id: str,
    door: GorushDoor,
    waiting: list[tuple[_Sent, str]],
    logs: list[dict[str, Any]],
    stats: Stats,
) -> list[dict[str, Any]]:
    """Wait for the verdicts; failures go to ``logs`` as gorush writes them."""
    found = await verdicts(gw, [(app_id, nid) for _, nid in waiting], door.wait_timeout)
    results = []
    for (item, _), result in zip(waiting, found, strict=True):
        status = result.status
        entry = {
            "token": item.token,
            "platform": item.platform,
            "status": status,
            "dead": status == "unregistered",
        }
        failed = _failure_of(door, item)(result)
        if status == "delivered":
            stats.success[item.platform] += 1
        elif failed is not None:
            stats.error[item.platform] += 1
            entry["error"] = result.reason
            logs.append(failed)
        results.append(entry)
    return results


async def healthz() -> Response:
    return Response(status_code=200, headers=HEADERS)


async def stat_app(request: Request) -> JSONResponse:
    stats: Stats = request.app.state.gorush_stats
    per_platform = {
        name: {"push_success": stats.success[name], "push_error": stats.error[name]}
        for name in ("ios", "android", "huawei")
    }
    return _json(
        {
            "version": __version__,
            "busy_workers": 0,
            "success_tasks": sum(stats.success.values()),
            "failure_tasks": sum(stats.error.values()),
            "submitted_tasks": stats.submitted,
            "total_count": stats.submitted,
            **per_platform,
        }
    )


async def stat_go() -> JSONResponse:
    """gorush's runtime statistics, with this Python process's values where one exists."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    collections = sum(generation["collections"] for generation in gc.get_stats())
    return _json(
        {
            "time": time.time_ns(),
            "go_version": f"python{platform.python_version()}",
            "go_os": sys.platform,
            "go_arch": platform.machine(),
            "cpu_num": os.cpu_count() or 1,
            "goroutine_num": len(asyncio.all_tasks()),
            "gomaxprocs": len(os.sched_getaffinity(0)),
            "memory_sys": usage.ru_maxrss * 1024,
            "gc_num": collections,
        }
    )


async def sys_stats(request: Request) -> JSONResponse:
    stats: SysStats = request.app.state.gorush_sys_stats
    return _json(stats.data())


async def config(request: Request) -> Response:
    """gorush's configuration keys (YAML, as gorush serves them) with pushgate's values for
    this door; no secret: credentials live in the store, feedback header values are hidden."""
    gw: Gateway = request.app.state.gateway
    door = gw.settings.gorush
    assert door is not None
    retries = gw.settings.dispatch.max_attempts - 1
    prefix = door.path_prefix
    shown = {
        "core": {
            "enabled": True,
            "address": gw.settings.server.host,
            "port": str(gw.settings.server.port),
            "max_notification": door.max_notification,
            "sync": door.sync,
            "feedback_hook_url": _without_secrets(door.feedback_hook_url),
            "feedback_timeout": door.feedback_timeout,
            "feedback_header": [
                h.get_secret_value().partition(":")[0].strip() + ": (hidden)"
                for h in door.feedback_header
            ],
            "mode": "release",
        },
        "grpc": {"enabled": False},
        "api": {
            "push_uri": f"{prefix}/api/push",
            "stat_go_uri": f"{prefix}/api/stat/go",
            "stat_app_uri": f"{prefix}/api/stat/app",
            "config_uri": f"{prefix}/api/config",
            "sys_stat_uri": f"{prefix}/sys/stats",
            "metric_uri": "/metrics",
            "health_uri": f"{prefix}/healthz",
        },
        "android": {"enabled": True, "credential": door.android_credential, "max_retry": retries},
        "huawei": {"enabled": False},
        "ios": {"enabled": True, "production": door.ios_production, "max_retry": retries},
        "queue": {"engine": "pushgate"},
        "log": {"hide_token": door.hide_token},
    }
    text = yaml.safe_dump(shown, sort_keys=False, allow_unicode=True)
    return Response(text, media_type="application/x-yaml; charset=utf-8", headers=HEADERS)


def _without_secrets(url: str | None) -> str:
    """The URL without user info or query (either may carry a token)."""
    if url is None:
        return ""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"


async def version() -> JSONResponse:
    return _json({"source": "pushgate", "version": __version__})


async def welcome() -> JSONResponse:
    return _json({"text": "Welcome to notification server."})
