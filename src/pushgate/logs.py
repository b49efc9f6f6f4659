"""Structured logs (structlog): one event per thing an operator acts on, JSON or console.

Both processes (the API and the dispatcher child) call :func:`configure_logging` with the same
settings and write to the stderr they share, so the events of one gateway land in one stream.
Standard-library loggers (uvicorn, ``logging.getLogger``) go through the same renderer.

What is never logged: message text, device tokens (only :func:`token_ref`, a short hash that
correlates events without revealing the token), keys, certificates, passwords. The
:func:`_redact` processor is the safety net: a field with a secret-looking name is masked
whatever the caller passed.
"""

from __future__ import annotations

import hashlib
import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from pushgate.config import Settings

REDACTED = "[redacted]"
_SECRET_FIELDS = frozenset(
    {
        "token",
        "device_token",
        "api_key",
        "authorization",
        "password",
        "private_key",
        "key_p8",
        "secret",
        "secret_key",
        "alert",
        "body",
        "title",
        "subtitle",
        "text",
        "payload",
        "message_text",
    }
)
"""Field names whose values are never written: tokens, secrets and notification text."""


def token_ref(token: str) -> str:
    """A stable 12-hex-digit reference to a device token (SHA-256 prefix): the same device
    gets the same reference in every event, and the token cannot be read back from it."""
    return hashlib.sha256(token.encode()).hexdigest()[:12]


def _redact(
    logger: Any, method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for name in _SECRET_FIELDS.intersection(event_dict):
        event_dict[name] = REDACTED
    return event_dict


def configure_logging(settings: Settings) -> None:
    """Send structlog and standard-library logging through one renderer on stderr."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if settings.log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    for uvicorn_logger in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(uvicorn_logger).handlers[:] = []
        logging.getLogger(uvicorn_logger).propagate = True


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structured logger for ``name`` (a module's dotted name)."""
    return structlog.stdlib.get_logger(name)  # type: ignore[no-any-return]
