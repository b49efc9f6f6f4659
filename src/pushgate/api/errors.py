"""Every API error is ``{"error": {"code", "message", ...}}`` with a fitting 4xx status.

Handlers turn pushgate's exceptions and request-validation failures into that shape, so a
client never sees a 500 for bad input, nor a traceback, nor a secret.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from pushgate.errors import ConfigurationError, CredentialError, PushgateError, RequestError

log = logging.getLogger("pushgate.api")


def error_response(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    """The one error body shape."""
    return JSONResponse({"error": {"code": code, "message": message, **extra}}, status_code=status)


def _field_path(location: tuple[Any, ...]) -> str:
    parts = [str(p) for p in location if p != "body"]
    return ".".join(parts) or "body"


async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return error_response(
            400, "malformed_json", "The request body is not valid JSON; send a JSON object."
        )
    details = [
        {"field": _field_path(tuple(e.get("loc", ()))), "message": e.get("msg", "invalid")}
        for e in errors
    ]
    first = details[0] if details else {"field": "body", "message": "invalid"}
    return error_response(
        422,
        "validation_error",
        f"Field '{first['field']}': {first['message']}. Fix the listed fields and retry.",
        details=details,
    )


async def _request_error(request: Request, exc: RequestError) -> JSONResponse:
    return error_response(exc.status, exc.code, exc.message)


async def _credential_error(request: Request, exc: CredentialError) -> JSONResponse:
    return error_response(422, exc.code, exc.message)


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


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app`` (most specific exception classes first)."""
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(RequestError, _request_error)  # type: ignore[arg-type]
    app.add_exception_handler(CredentialError, _credential_error)  # type: ignore[arg-type]
    app.add_exception_handler(ConfigurationError, _configuration_error)  # type: ignore[arg-type]
    app.add_exception_handler(PushgateError, _pushgate_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
