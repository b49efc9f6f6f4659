"""Pure ASGI middleware: ``/metrics`` and the API docs open, behind ``server.operator_key``,
or closed (404, as if absent), per ``server.metrics`` and ``server.docs``.

The key comes as ``Authorization: Bearer <key>`` (a Prometheus scrape's ``authorization``)
or as the password of HTTP Basic (what a browser prompts for on the 401's
``WWW-Authenticate``), compared in constant time.
"""

from __future__ import annotations

import base64
import binascii
import hmac

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from pushgate.config import Exposure, ServerSettings

METRICS_PATHS = ("/metrics",)
DOCS_PATHS = ("/docs", "/redoc", "/openapi.json")
"""Prefixes: ``/docs`` covers the Swagger UI, its OAuth redirect and ``/docs-assets``."""


class OperatorAccess:
    """Guard the operator endpoints as the settings say."""

    def __init__(self, app: ASGIApp, *, settings: ServerSettings) -> None:
        self.app = app
        self._rules: list[tuple[tuple[str, ...], Exposure]] = [
            (METRICS_PATHS, settings.metrics),
            (DOCS_PATHS, settings.docs),
        ]
        secret = settings.operator_key
        self._key = secret.get_secret_value().encode() if secret else b""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            exposure = self._exposure(scope["path"])
            if exposure == "closed":
                await _answer(send, 404, "not_found", "No such endpoint.", {})
                return
            if exposure == "key" and not self._has_key(dict(scope["headers"])):
                await _answer(
                    send,
                    401,
                    "unauthorized",
                    "This endpoint needs the operator key (server.operator_key): "
                    "'Authorization: Bearer <key>' or HTTP Basic with the key as password.",
                    {"www-authenticate": 'Basic realm="pushgate operator"'},
                )
                return
        await self.app(scope, receive, send)

    def _exposure(self, path: str) -> Exposure:
        for prefixes, exposure in self._rules:
            if path.startswith(prefixes):
                return exposure
        return "open"

    def _has_key(self, headers: dict[bytes, bytes]) -> bool:
        scheme, _, value = headers.get(b"authorization", b"").partition(b" ")
        if scheme.lower() == b"basic":
            try:
                value = base64.b64decode(value.strip(), validate=True).partition(b":")[2]
            except (binascii.Error, ValueError):
                return False
        elif scheme.lower() != b"bearer":
            return False
        return bool(self._key) and hmac.compare_digest(value.strip(), self._key)


async def _answer(
    send: Send, status: int, code: str, message: str, headers: dict[str, str]
) -> None:
    body = orjson.dumps({"error": {"code": code, "message": message}})
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(name.encode(), value.encode()) for name, value in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
