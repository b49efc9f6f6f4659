"""The ``Idempotency-Key`` header of the send endpoints, as a dependency.

A client that got no answer sends the same request again with the same key; the gateway
answers as it did the first time and sends nothing twice. The fingerprint (the endpoint and
the body's SHA-256) tells such a repeat from a different request reusing the key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.exceptions import RequestValidationError
from pydantic import StringConstraints, TypeAdapter, ValidationError

from pushgate.engine.accept import AcceptedNotification, IdempotencyKey, Submission
from pushgate.gateway import Gateway
from pushgate.queue.base import WriteStep

_KEY_RULES: dict[str, Any] = {"min_length": 1, "max_length": 255, "pattern": r"^[\x21-\x7e]+$"}
_KEY_VALUE: TypeAdapter[str] = TypeAdapter(Annotated[str, StringConstraints(**_KEY_RULES)])


async def _idempotency_key(
    request: Request,
    idempotency_key: Annotated[
        str | None,
        Header(
            **_KEY_RULES,
            description="Any unique string (e.g. a UUID) per request: a repeat with the same "
            "key returns the first answer and sends nothing twice (kept "
            "`limits.idempotency_key_seconds`, 24 h by default).",
        ),
    ] = None,
) -> IdempotencyKey | None:
    if idempotency_key is None:
        return None
    return _key(idempotency_key, request.url.path, await request.body())


def idempotency_key(path: str, value: str | None, body: bytes) -> IdempotencyKey | None:
    """The request's key from its ``Idempotency-Key`` header, checked as the dependency
    checks it, for endpoints served ahead of FastAPI; RequestValidationError if invalid."""
    if value is None:
        return None
    try:
        _KEY_VALUE.validate_python(value)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("header", "idempotency-key")} for e in exc.errors()]
        ) from None
    return _key(value, path, body)


def _key(value: str, path: str, body: bytes) -> IdempotencyKey:
    digest = hashlib.sha256(path.encode() + b"\n" + body)
    return IdempotencyKey(value, digest.hexdigest())


IdempotencyKeyDep = Annotated[IdempotencyKey | None, Depends(_idempotency_key)]


async def accept_answer(
    gw: Gateway,
    app_id: str,
    submissions: Sequence[Submission],
    key: IdempotencyKey | None,
    answer: Callable[[list[AcceptedNotification]], dict[str, Any]],
    also: Callable[[list[AcceptedNotification]], WriteStep] | None = None,
) -> dict[str, Any]:
    """Accept and answer; with an ``Idempotency-Key``, once (a repeat gets the first answer).
    ``also``: see ``Acceptor.accept``."""
    if key is None:
        return answer(await gw.acceptor.accept(app_id, submissions, also))
    return await gw.acceptor.accept_once(app_id, submissions, key, answer, also)
