"""Pure ASGI middleware refusing JSON bodies that parse in Python but cannot be stored.

FastAPI parses with the standard library, which takes lone surrogates (``"\\ud800"``) and
nesting a thousand levels deep; the store and the outbox write with orjson, which refuses
both (no valid UTF-8 holds a surrogate; orjson nests at most 254 levels), and PostgreSQL
stores no NUL character (``"\u0000"``) in text or JSON. Such a body once went through
validation and ended as a plain-text 500 at the first write (the NUL on PostgreSQL only; it
is refused on both backends, so a request means the same on each). A NUL in the URL's path
or query (``%00``) is refused the same way, as 422 ``malformed_url``. Checked here,
once, for pushgate's own API (``/v1/``, chat included), it is a JSON 422 ``malformed_json``
saying what to fix; the front doors call ``json_problem`` and answer in their peer's words.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pushgate.api.errors import VALIDATION_STATUS, error_response
from pushgate.config import LimitsSettings

_ORJSON_MAX_DEPTH = 254
"""orjson refuses to serialize anything nested deeper than this."""


class StrictJsonBody:
    """Refuse a JSON body orjson cannot parse, or one nested deeper than ``max_json_depth``.

    Expects the body in one message (``BodyLimits`` runs outside this middleware).
    """

    def __init__(self, app: ASGIApp, *, limits: LimitsSettings | None = None) -> None:
        self.app = app
        self.max_depth = (limits or LimitsSettings()).max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _url_holds_nul(scope):
            message = "The URL holds a NUL character (%00), which stored text cannot hold."
            await error_response(VALIDATION_STATUS, "malformed_url", message)(scope, receive, send)
            return
        if scope["type"] != "http" or not _maybe_json(scope):
            await self.app(scope, receive, send)
            return
        message = await receive()
        problem = body_problem(scope, message.get("body", b""), self.max_depth)
        if problem is not None:
            await error_response(VALIDATION_STATUS, "malformed_json", problem)(scope, receive, send)
            return
        given = False

        async def replayed() -> Message:
            nonlocal given
            if not given:
                given = True
                return message
            return await receive()

        await self.app(scope, replayed, send)


class JsonProblem(ValueError):
    """The body is not JSON pushgate can use; the text says what to fix."""


def load_json(body: bytes, max_depth: int) -> Any:
    """``body`` parsed; JsonProblem if it is not JSON orjson takes, nests deeper than
    ``max_depth`` levels of objects and arrays, or holds a NUL character."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        # orjson's message gives the position and the kind, never the text around it
        raise JsonProblem(
            f"The request body is not valid JSON ({exc.msg}); send UTF-8 JSON text."
        ) from None
    # Each level opens a bracket: with no more brackets than max_depth in the whole text
    # (strings included), the body cannot nest deeper, and the check's serialization (five
    # times the parse on a Matrix notify) is skipped.
    if body.count(b"[") + body.count(b"{") > max_depth and not _within(parsed, max_depth):
        raise JsonProblem(
            f"The request body nests deeper than {max_depth} levels of objects and "
            "arrays; flatten it."
        )
    if b"\\u0000" in body and _holds_nul(parsed):  # the escape is the only way in
        raise JsonProblem(
            "The request body holds a NUL character (\\u0000), which stored text cannot "
            "hold; remove it."
        )
    return parsed


def body_problem(scope: Scope, body: bytes, max_depth: int) -> str | None:
    """This middleware's check of one request, for endpoints served ahead of it
    (``HotRoutes``): what makes its body unusable, or None."""
    if scope["type"] != "http" or not body or not _maybe_json(scope):
        return None
    return json_problem(body, max_depth)


def json_problem(body: bytes, max_depth: int) -> str | None:
    """What makes the JSON ``body`` unusable, in a sentence; None when it is fine."""
    try:
        load_json(body, max_depth)
    except JsonProblem as exc:
        return str(exc)
    return None


def _within(parsed: Any, max_depth: int) -> bool:
    """Whether ``parsed`` nests at most ``max_depth`` levels.

    Nested in (254 - max_depth) lists, anything deeper than max_depth exceeds orjson's own
    limit: the check costs one serialization, not a walk in Python.
    """
    wrapped = parsed
    for _ in range(_ORJSON_MAX_DEPTH - max_depth):
        wrapped = [wrapped]
    try:
        orjson.dumps(wrapped)
    except orjson.JSONEncodeError:
        return False
    return True


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any("\x00" in key or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


def _url_holds_nul(scope: Scope) -> bool:
    """A NUL in a ``/v1/`` URL: the path is decoded already, the query not yet."""
    path: str = scope["path"]
    return path.startswith("/v1/") and ("\x00" in path or b"%00" in scope["query_string"])


def _maybe_json(scope: Scope) -> bool:
    """Whether a ``/v1/`` endpoint may read the body as JSON (FastAPI does with no content
    type)."""
    if scope["method"] not in ("POST", "PUT", "PATCH") or not scope["path"].startswith("/v1/"):
        return False
    content_type = dict(scope["headers"]).get(b"content-type")
    return content_type is None or b"json" in content_type.lower()
