"""The console's pages: sign-in, apps and credential health, devices, push log, test push, rates.

Every page reads through the same store and engine functions as the JSON API; the test push
goes through the API's own send handler with ``wait``, so what it shows is what an app gets.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.resources import files
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import ValidationError

from pushgate.api import notifications
from pushgate.api.auth import gateway
from pushgate.console.payloads import provider_requests
from pushgate.console.rates import DeliveryRates
from pushgate.console.session import (
    COOKIE,
    COOKIE_PATH,
    LOGIN_COOKIE,
    LOGIN_SECONDS,
    SESSION_SECONDS,
    Session,
    SessionCodec,
    tokens_match,
)
from pushgate.engine.push_log import recent_notifications
from pushgate.errors import RequestError
from pushgate.gateway import Caller, Gateway
from pushgate.keys import SEND
from pushgate.store import App

router = APIRouter(prefix="/console", include_in_schema=False)
GatewayDep = Annotated[Gateway, Depends(gateway)]

_templates = Environment(
    loader=PackageLoader("pushgate.console", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}
PUSH_LOG_WINDOWS = {"15 minutes": 900, "1 hour": 3600, "24 hours": 86400, "all": None}


class SignInRequired(Exception):
    """No valid console session: the browser goes to the sign-in page."""


class NotVisible(Exception):
    """The page does not exist, or the signed-in key may not see it."""


class FormExpired(Exception):
    """A form came without the session's CSRF token (stale, or from another site)."""


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is looking: the session, and the admin or the one app their key belongs to."""

    session: Session
    admin: bool
    app: App | None


def _codec(request: Request) -> SessionCodec:
    return request.app.state.console_sessions  # type: ignore[no-any-return]


async def viewer(request: Request, gw: GatewayDep) -> Viewer:
    """The signed-in viewer; the key is identified again on every request."""
    session = _codec(request).open(request.cookies.get(COOKIE))
    if session is None:
        raise SignInRequired
    caller = await _console_caller(gw, session.api_key)
    if caller is None:
        raise SignInRequired
    return Viewer(session=session, admin=caller.admin, app=caller.app)


ViewerDep = Annotated[Viewer, Depends(viewer)]


async def _console_caller(gw: Gateway, api_key: str) -> Caller | None:
    """The caller of an admin or manage key; None for a send key (the console changes
    credentials) and for an unknown one."""
    caller = await gw.identify(api_key)
    return caller if caller is not None and caller.scope != SEND else None


async def _visible_app(gw: Gateway, who: Viewer, app_id: str) -> App:
    """The app ``app_id`` if the viewer may see it: the admin any, an app key only its own."""
    if who.app is not None:
        if who.app.id != app_id:
            raise NotVisible
        return who.app
    for app in await gw.store.list_apps():
        if app.id == app_id:
            return app
    raise NotVisible


def _check_csrf(who: Viewer, token: str) -> None:
    if not tokens_match(who.session.csrf, token):
        raise FormExpired


def _page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = _templates.get_template(name).render(**context)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=SECURITY_HEADERS)


# -- signing in and out ------------------------------------------------------------------


@router.get("")
async def home(who: ViewerDep) -> Response:
    """The viewer's start page (the sign-in page when signed out)."""
    return _see_other(_start_page(who))


def _start_page(who: Viewer) -> str:
    """Every app for the admin; an app key's own app."""
    return f"/console/apps/{who.app.id}" if who.app is not None else "/console/apps"


@router.get("/login")
async def login_page(request: Request) -> Response:
    """The sign-in form."""
    return _login_form(request)


def _login_form(request: Request, status: int = 200, error: str | None = None) -> Response:
    """The sign-in form; a cookie of its own holds the form's CSRF token."""
    token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(32)
    response = _page("login.html", status=status, login_token=token, error=error)
    _set_cookie(request, response, LOGIN_COOKIE, token, LOGIN_SECONDS)
    return response


def _set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    """HttpOnly (no page script reads it), SameSite=Strict (no other site sends it)."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


@router.post("/login")
async def login(
    request: Request,
    gw: GatewayDep,
    api_key: Annotated[str, Form(max_length=512)] = "",
    login_token: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    """Check the key (from the form body, never a URL) and start a session."""
    if not tokens_match(request.cookies.get(LOGIN_COOKIE), login_token):
        return _login_form(request, 403, "The sign-in form expired; sign in again.")
    key = api_key.strip()
    if not key or await _console_caller(gw, key) is None:
        return _login_form(
            request,
            401,
            "That key is not valid here: use an admin key or an app's manage key "
            "(a send key only sends).",
        )
    _, value = _codec(request).new(key)
    response = _see_other("/console")
    _set_cookie(request, response, COOKIE, value, SESSION_SECONDS)
    response.delete_cookie(LOGIN_COOKIE, path=COOKIE_PATH)
    return response


@router.post("/logout")
async def logout(who: ViewerDep, csrf: Annotated[str, Form(max_length=128)] = "") -> Response:
    """End the session (the cookie goes; the key itself stays valid)."""
    _check_csrf(who, csrf)
    response = _see_other("/console/login")
    response.delete_cookie(COOKIE, path=COOKIE_PATH)
    return response


# -- apps and credentials ----------------------------------------------------------------


@router.get("/apps")
async def apps_page(who: ViewerDep, gw: GatewayDep) -> Response:
    """Every app (admin), with links to each one's pages."""
    if not who.admin:
        return _see_other(_start_page(who))
    return _page("apps.html", who=who, apps=await gw.store.list_apps())


@router.get("/apps/{app_id}")
async def app_page(app_id: str, who: ViewerDep, gw: GatewayDep) -> Response:
    """An app's credentials and their health."""
    app = await _visible_app(gw, who, app_id)
    credentials = await gw.registry.summaries(app.id)
    return _page("app.html", who=who, app=app, credentials=credentials, section="credentials")


@router.get("/apps/{app_id}/devices")
async def devices_page(
    app_id: str, who: ViewerDep, gw: GatewayDep, user_id: str | None = None
) -> Response:
    """A user's devices (or the app's first ones) with state and inactive reason."""
    app = await _visible_app(gw, who, app_id)
    user = user_id.strip() if user_id and user_id.strip() else None
    devices = await gw.store.list_devices(app.id, user, limit=200)
    return _page("devices.html", who=who, app=app, devices=devices, user_id=user, section="devices")


@router.get("/apps/{app_id}/notifications")
async def push_log_page(
    app_id: str,
    who: ViewerDep,
    gw: GatewayDep,
    user_id: str | None = None,
    window: str = "1 hour",
    before: str | None = None,
) -> Response:
    """The push log: recent notifications with every device's outcome."""
    app = await _visible_app(gw, who, app_id)
    user = user_id.strip() if user_id and user_id.strip() else None
    seconds = PUSH_LOG_WINDOWS.get(window, 3600)
    log = await recent_notifications(
        gw.backend.outbox,
        app.id,
        user_id=user,
        since=time.time() - seconds if seconds is not None else None,
        before=before,
        limit=25,
    )
    return _page(
        "notifications.html",
        who=who,
        app=app,
        log=log,
        user_id=user,
        window=window if window in PUSH_LOG_WINDOWS else "1 hour",
        windows=list(PUSH_LOG_WINDOWS),
        section="notifications",
    )


@router.get("/apps/{app_id}/notifications/{notification_id}")
async def notification_page(
    app_id: str, notification_id: str, who: ViewerDep, gw: GatewayDep
) -> Response:
    """One notification: every device's outcome and what each push service was sent."""
    app = await _visible_app(gw, who, app_id)
    report = await gw.acceptor.report(app.id, notification_id)
    if report is None:
        raise NotVisible
    return _page(
        "notification.html",
        who=who,
        app=app,
        report=report,
        requests=provider_requests(report, await _apns_topics(gw, app)),
        section="notifications",
    )


async def _apns_topics(gw: Gateway, app: App) -> dict[str, str]:
    return {
        c["name"]: c["topic"]
        for c in await gw.registry.summaries(app.id)
        if c["platform"] == "apns" and c.get("topic")
    }


# -- test push ---------------------------------------------------------------------------


@router.get("/apps/{app_id}/test-push")
async def test_push_page(app_id: str, who: ViewerDep, gw: GatewayDep) -> Response:
    """The test push form."""
    app = await _visible_app(gw, who, app_id)
    return _page("test_push.html", who=who, app=app, form={}, section="test-push")


@router.post("/apps/{app_id}/test-push")
async def test_push(
    app_id: str,
    who: ViewerDep,
    gw: GatewayDep,
    csrf: Annotated[str, Form(max_length=128)] = "",
    user_id: Annotated[str, Form(max_length=256)] = "",
    tokens: Annotated[str, Form(max_length=20_000)] = "",
    title: Annotated[str, Form(max_length=1000)] = "",
    body: Annotated[str, Form(max_length=4000)] = "",
    push_type: Annotated[str, Form(max_length=32)] = "alert",
    data: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Send through the API's send path with ``wait``; show its answer and the renders."""
    _check_csrf(who, csrf)
    app = await _visible_app(gw, who, app_id)
    form = {"user_id": user_id, "tokens": tokens, "title": title, "body": body,
            "push_type": push_type, "data": data}  # fmt: skip
    try:
        request = _send_request(form)
        answer = await notifications.send(request, app, gw, key=None, wait=True)
    except (RequestError, ValueError) as exc:
        return _page("test_push.html", status=400, who=who, app=app, form=form,
                     error=_error_text(exc), section="test-push")  # fmt: skip
    report = orjson.loads(answer.body)
    return _page(
        "test_push.html",
        who=who,
        app=app,
        form=form,
        report=report,
        requests=provider_requests(report, await _apns_topics(gw, app)),
        section="test-push",
    )


def _send_request(form: dict[str, str]) -> notifications.SendRequest:
    """The form as the API's send request (validated by the same model)."""
    body: dict[str, Any] = {"push_type": form["push_type"] or "alert"}
    if form["user_id"].strip():
        body["user_ids"] = [form["user_id"].strip()]
    listed = [t.strip() for t in form["tokens"].split() if t.strip()]
    if listed:
        body["tokens"] = listed
    alert = {k: form[k] for k in ("title", "body") if form[k].strip()}
    if alert:
        body["alert"] = alert
    if form["data"].strip():
        try:
            body["data"] = json.loads(form["data"])
        except json.JSONDecodeError:
            raise ValueError('Data must be a JSON object, e.g. {"chat_id": "42"}.') from None
    return notifications.SendRequest.model_validate(body)


def _error_text(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "form"
        return f"{where}: {first.get('msg', 'invalid')}"
    if isinstance(exc, RequestError):
        return exc.message
    return str(exc)


# -- delivery rates ----------------------------------------------------------------------


@router.get("/rates")
async def rates_page(who: ViewerDep) -> Response:
    """Live delivery rates by platform and outcome (gateway-wide: admin only)."""
    if not who.admin:
        raise NotVisible
    return _page("rates.html", who=who, section="rates")


@router.get("/rates.json")
async def rates_data(request: Request, who: ViewerDep) -> Response:
    """The samples the rates chart draws."""
    if not who.admin:
        raise NotVisible
    rates: DeliveryRates = request.app.state.console_rates
    return JSONResponse(rates.report(), headers=SECURITY_HEADERS)


# -- wiring ------------------------------------------------------------------------------


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return ""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _age(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


_templates.filters["when"] = _when
_templates.filters["age"] = _age


async def _sign_in_required(request: Request, exc: Exception) -> Response:
    return _see_other("/console/login")


async def _not_visible(request: Request, exc: Exception) -> Response:
    return _page("not_found.html", status=404)


async def _form_expired(request: Request, exc: Exception) -> Response:
    return _page("form_expired.html", status=403)


def install_console(app: FastAPI, gw: Gateway) -> DeliveryRates:
    """Mount the console on ``app``; returns the rates sampler for the lifespan to run."""
    app.state.console_sessions = SessionCodec(gw.secret_box)
    rates = DeliveryRates()
    app.state.console_rates = rates
    app.include_router(router)
    static = files("pushgate.console").joinpath("static")
    app.mount("/console/static", StaticFiles(directory=str(static)), name="console-static")
    app.add_exception_handler(SignInRequired, _sign_in_required)
    app.add_exception_handler(NotVisible, _not_visible)
    app.add_exception_handler(FormExpired, _form_expired)
    return rates
