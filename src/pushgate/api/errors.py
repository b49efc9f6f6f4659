"""Every API error is ``{"error": {"code", "message", ...}}`` with a fitting 4xx status.

Handlers turn pushgate's exceptions and request-validation failures into that shape, so a
client never sees a 500 for bad input, nor a traceback, nor a secret. One status per kind:
401 no or unknown key, 403 wrong kind of key, 404 unknown resource, 408 a request body that
stalled, 409 conflict with stored state, 413 too large, 422 anything in the request that is
refused (malformed JSON, a field that fails validation, a credential that does not load), 429
come back later (always with ``Retry-After``, see :func:`too_many_requests`).

Validation messages name the field as the client wrote it (``subscription.keys.auth``), never
pydantic's internals (union tags, "Value error," prefixes).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from pushgate.api.access_log import route_template
from pushgate.errors import (
    ConfigurationError,
    CredentialError,
    PushgateError,
    RequestError,
    TooManyRequests,
)
from pushgate.logs import get_logger

log = logging.getLogger("pushgate.api")
events = get_logger("pushgate.api")

VALIDATION_STATUS = 422
"""The one status of every refused request body or parameter."""

_PYDANTIC_PREFIXES = ("Value error, ", "Assertion failed, ")


class FieldProblem(BaseModel):
    """One refused field of a request."""

    field: str
    message: str


class ErrorDetail(BaseModel):
    """What went wrong: a stable machine-readable code and a sentence saying what to fix."""

    code: str
    message: str
    details: list[FieldProblem] | None = None
    retry_after: int | None = None
    """On 429: the seconds to wait, as in the ``Retry-After`` header."""


class ErrorBody(BaseModel):
    """The body of every error answer."""

    error: ErrorDetail


_STATUS_TEXT = {
    401: "No API key, or one pushgate does not know (`unauthorized`).",
    403: "A valid key of the wrong kind or scope: admin key for app data or the reverse, a "
    "send key for anything but sending (`forbidden`).",
    404: "The resource does not exist for this app (`not_found`).",
    409: "The request conflicts with what is stored (e.g. `conflict`, `vapid_key_exists`).",
    408: "The request body stalled: no byte arrived for `limits.body_timeout` seconds "
    "(`body_timeout`); the connection is closed.",
    410: "It existed and is no longer kept (`content_expired`).",
    413: "The rendered notification or the request body is too large "
    "(`payload_too_large`, `request_too_large`).",
    422: "The request was refused: malformed JSON, a field that fails validation (with "
    "`details`), or a credential that does not load.",
    429: "Too much at once: come back after the `Retry-After` seconds "
    "(e.g. `outbox_full`, `rate_limited`); nothing of this request was accepted.",
    502: "A service pushgate relies on refused or could not be reached (`simulator_refused`).",
    503: "Not ready (`not_ready`): `details` names each failing check and why.",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for these error statuses, all in the real error shape."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        responses[status] = {"model": ErrorBody, "description": _STATUS_TEXT[status]}
        if status == 429:
            responses[status]["headers"] = {
                "Retry-After": {
                    "description": "Seconds to wait before sending again.",
                    "schema": {"type": "integer", "minimum": 1},
                }
            }
    return responses


def error_response(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    """The one error body shape."""
    return JSONResponse({"error": {"code": code, "message": message, **extra}}, status_code=status)


def retry_after_header(seconds: float) -> dict[str, str]:
    """``Retry-After`` in whole seconds, at least 1 (front doors answer 429 in their own
    words but with this header)."""
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


def too_many_requests(
    code: str, message: str, retry_after: float, headers: dict[str, str] | None = None
) -> JSONResponse:
    """A 429 in the error shape with ``Retry-After`` (whole seconds, at least 1).

    The one way to answer "not now": outbox backpressure and rate limits both use it, so
    every 429 a client sees carries the header it needs to back off.
    """
    header = retry_after_header(retry_after)
    response = error_response(429, code, message, retry_after=int(header["Retry-After"]))
    response.headers.update(header)
    if headers:
        response.headers.update(headers)
    return response


def field_path(location: tuple[Any, ...], body: Any) -> str:
    """The field a pydantic error location points at, as the client wrote it.

    Locations of discriminated unions carry the tag (``("body", "apns", "user_id")`` for
    ``{"platform": "apns", ...}``): a part that is not a key of the object but one of its
    values is such a tag and is left out.
    """
    parts: list[str] = []
    current = body
    for part in location[1:] if location and location[0] in ("body", "query", "path") else location:
        if isinstance(current, dict) and part not in current and part in current.values():
            continue
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(("." if parts else "") + str(part))
        if isinstance(current, dict):
            current = current.get(part)
        elif isinstance(current, list) and isinstance(part, int) and part < len(current):
            current = current[part]
        else:
            current = None
    return "".join(parts) or "body"


def field_message(error: dict[str, Any]) -> str:
    """Pydantic's sentence for one error, without its internal wording."""
    context = error.get("ctx") or {}
    kind = error.get("type")
    if kind == "union_tag_invalid":
        return f"must be one of {context.get('expected_tags')} (got '{context.get('tag')}')"
    if kind == "union_tag_not_found":
        return "is required: it says which kind of object this is"
    if kind == "extra_forbidden":
        return "is not a known field; remove it"
    message = str(error.get("msg", "is invalid"))
    for prefix in _PYDANTIC_PREFIXES:
        message = message.removeprefix(prefix)
    return message


def describe_problems(errors: list[dict[str, Any]], body: Any) -> list[dict[str, str]]:
    """One ``{"field", "message"}`` per validation error, in the client's terms."""
    problems = []
    for error in errors:
        path = field_path(tuple(error.get("loc", ())), body)
        if error.get("type") in ("union_tag_invalid", "union_tag_not_found"):
            tag = str((error.get("ctx") or {}).get("discriminator", "")).strip("'")
            path = tag if path == "body" else f"{path}.{tag}"
        problems.append({"field": path, "message": field_message(error)})
    return problems


async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return error_response(
            VALIDATION_STATUS,
            "malformed_json",
            "The request body is not valid JSON; send a JSON object.",
        )
    details = describe_problems(list(errors), exc.body)
    first = details[0] if details else {"field": "body", "message": "is invalid"}
    more = f" (and {len(details) - 1} more, see details)" if len(details) > 1 else ""
    return error_response(
        VALIDATION_STATUS,
        "validation_error",
        f"{first['field']}: {first['message']}{more}.",
        details=details,
    )


async def _too_many(request: Request, exc: TooManyRequests) -> JSONResponse:
    return too_many_requests(exc.code, exc.message, exc.retry_after)


async def _request_error(request: Request, exc: RequestError) -> JSONResponse:
    return error_response(exc.status, exc.code, exc.message)


async def _credential_error(request: Request, exc: CredentialError) -> JSONResponse:
    return error_response(VALIDATION_STATUS, exc.code, exc.message)


async def _configuration_error(request: Request, exc: ConfigurationError) -> JSONResponse:
    return error_response(409, exc.code, exc.message)


async def _pushgate_error(request: Request, exc: PushgateError) -> JSONResponse:
    route = request.scope.get("route")
    where = getattr(route, "path", "?")  # the template: paths may hold device tokens
    log.error("unhandled pushgate error %s on %s %s", exc.code, request.method, where)
    return error_response(500, exc.code, exc.message)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}
    message = exc.detail if isinstance(exc.detail, str) else "Request refused."
    if exc.status_code == 404 and message == "Not Found":
        message = f"No such endpoint: {request.method} {request.url.path}. See /openapi.json."
    response = error_response(exc.status_code, codes.get(exc.status_code, "http_error"), message)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


_Handler = Callable[[Request, Any], Awaitable[JSONResponse]]


def _logged(handler: _Handler) -> _Handler:
    """``handler``, plus a ``request_refused`` event (status and code; never the message,
    which may quote what the client sent)."""

    async def handle(request: Request, exc: Any) -> JSONResponse:
        response = await handler(request, exc)
        events.info(
            "request_refused",
            method=request.method,
            route=route_template(request.scope),
            status=response.status_code,
            code=orjson.loads(response.body)["error"]["code"],
        )
        return response

    return handle


_HANDLERS: tuple[tuple[type[Exception], _Handler], ...] = tuple(
    (exception, _logged(handler))
    for exception, handler in (
        (RequestValidationError, _validation),
        (TooManyRequests, _too_many),
        (RequestError, _request_error),
        (CredentialError, _credential_error),
        (ConfigurationError, _configuration_error),
        (PushgateError, _pushgate_error),
        (StarletteHTTPException, _http_error),
    )
)
"""Most specific exception classes first."""


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    for exception, handler in _HANDLERS:
        app.add_exception_handler(exception, handler)


async def error_answer(request: Request, exc: Exception) -> JSONResponse | None:
    """The answer (and log event) the application's handlers give ``exc``, for endpoints
    served ahead of the application (``HotRoutes``); None for an exception none handles."""
    for exception, handler in _HANDLERS:
        if isinstance(exc, exception):
            return await handler(request, exc)
    return None
