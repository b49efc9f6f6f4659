"""Pieces every control API endpoint shares: the error type, body parsing, query parameters."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.requests import Request

_Model = TypeVar("_Model", bound=BaseModel)


class Body(BaseModel):
    """Base of request bodies: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class ControlError(Exception):
    """A 4xx answer of the control API."""

    def __init__(
        self, status: int, error: str, message: str, details: list[Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.error, self.message, self.details = status, error, message, details


async def parse(request: Request, model: type[_Model]) -> _Model:
    """The JSON body validated as ``model``; 400 if not JSON, 422 if invalid."""
    try:
        data = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise ControlError(400, "invalid_json", "The request body is not valid JSON.") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = [
            {"field": ".".join(str(p) for p in e["loc"]) or "(body)", "message": e["msg"]}
            for e in exc.errors()
        ]
        message = "The request body is invalid: see details."
        raise ControlError(422, "invalid_request", message, details) from None


@contextlib.contextmanager
def as_validation_error() -> Iterator[None]:
    """Turn a ValueError raised while applying a valid-looking body into a 422."""
    try:
        yield
    except ValueError as exc:
        raise ControlError(422, "invalid_request", str(exc)) from None


def limit(value: str | None) -> int | None:
    """The ``limit`` query parameter: a positive integer, or None when absent."""
    if value is None:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ControlError(400, "invalid_query", "limit must be a positive integer.")
    return int(value)
