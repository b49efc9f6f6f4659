"""Notification templates: Jinja2 in its sandbox, rendering a pushgate message as JSON.

A template belongs to an app and a provider type (``apns``, ``fcm``, ``webpush``), optionally
to one event type. It renders the JSON object that ``POST /v1/notifications`` takes as its
message part (``alert``, ``badge``, ``thread_id``, ``data``, ...), so every platform's own
rules and size limits apply unchanged (``engine.render``). The sandbox keeps a template from
reaching Python internals; ``StrictUndefined`` turns a misspelt variable into an error at
save time instead of an empty string in a push.

Variables: ``sender``, ``receiver``, ``channel``, ``message``, ``thread``, ``members`` (the
first ``MEMBERS_SHOWN``), ``member_count``, ``unread_count``, ``event_type``. Filters add
``truncate(length, end="…")``, which cuts on a character boundary (Jinja's own ``truncate``
prefers word boundaries and allows a leeway, so its output length is not predictable).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final, Literal, NoReturn, get_args

import jinja2
import jinja2.meta
import markupsafe
import orjson
from jinja2.sandbox import SandboxedEnvironment
from pydantic import ValidationError

from pushgate.engine.render import render_checked
from pushgate.errors import PayloadTooLarge, RequestError
from pushgate.message import Message

ProviderType = Literal["apns", "fcm", "webpush"]
PROVIDER_TYPES: Final = get_args(ProviderType)
EVENT_MESSAGE_NEW: Final = "message.new"
MEMBERS_SHOWN: Final = 10
ELLIPSIS: Final = "…"
ALL_VARIABLES: Final = frozenset(
    ("sender", "receiver", "channel", "message", "thread", "members", "member_count",
     "unread_count", "event_type")
)  # fmt: skip
TEMPLATE_NAME: Final = "<template>"

DEFAULT_TEMPLATE: Final = """{
  "alert": {
    "title": {{ (sender.name ~ (" in #" ~ channel.name if channel.name else "")) | tojson }},
    "body": {{ message.text | tojson }}
  },
  "badge": {{ unread_count }},
  "sound": "default",
  "thread_id": {{ (thread.id or channel.id) | tojson }},
  "data": {
    "message_id": {{ message.id | tojson }},
    "channel_id": {{ channel.id | tojson }},
    "sender_id": {{ sender.id | tojson }}
  }
}"""
"""Used for every provider type an app has no template for: title from sender and channel,
the text as body (cut to the platform's limit when sent), thread = thread or channel, badge =
unread count, and the ids an app needs to open the message."""


class TemplateError(RequestError):
    """A template that cannot be used: where it failed (stage, line) and why."""

    code = "invalid_template"
    status = 422

    def __init__(self, stage: str, detail: str, line: int | None = None) -> None:
        where = f" at line {line}" if line is not None else ""
        super().__init__(f"The template fails to {stage}{where}: {detail}")
        self.stage = stage
        self.line = line


def truncate(value: object, length: int, end: str = ELLIPSIS) -> str:
    """``value`` as text of at most ``length`` characters, ``end`` marking a cut."""
    text = str(value)
    if len(text) <= length:
        return text
    return text[: max(length - len(end), 0)] + end


def tojson(value: object) -> markupsafe.Markup:
    """``value`` as JSON. Jinja's own ``tojson`` also escapes ``<>&'`` for HTML, which costs
    a third of a default render and means nothing in a JSON template."""
    try:
        return markupsafe.Markup(orjson.dumps(value).decode())
    except TypeError as exc:  # orjson.JSONEncodeError
        raise ValueError(f"tojson: {exc}") from None


def _environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)
    env.filters["truncate"] = truncate
    env.filters["tojson"] = tojson
    return env


_ENV: Final = _environment()


@lru_cache(maxsize=1024)
def compile_template(source: str) -> jinja2.Template:
    """The compiled template (cached by source); TemplateError with the line if it won't parse."""
    try:
        return _ENV.from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError("parse", exc.message or "syntax error", exc.lineno) from None


@lru_cache(maxsize=1024)
def variables_used(source: str) -> frozenset[str]:
    """The variables a template reads (every one it could, if it does not parse: the render
    then reports the syntax error)."""
    try:
        return frozenset(jinja2.meta.find_undeclared_variables(_ENV.parse(source)))
    except jinja2.TemplateSyntaxError:
        return ALL_VARIABLES


def _template_line(tb: Any) -> int | None:
    """The template line a render error was raised on (Jinja maps its frames to the source)."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == TEMPLATE_NAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def render_fields(source: str, variables: Mapping[str, Any]) -> dict[str, Any]:
    """Render and parse: the message fields the template produces, or a TemplateError."""
    template = compile_template(source)
    try:
        text = template.render(variables)
    except jinja2.TemplateError as exc:
        raise TemplateError("render", str(exc), _template_line(sys.exc_info()[2])) from None
    except Exception as exc:  # a filter or sandbox check raised: still the template's fault
        detail = f"{type(exc).__name__}: {exc}"
        raise TemplateError("render", detail, _template_line(sys.exc_info()[2])) from None
    try:
        fields = orjson.loads(text)
    except orjson.JSONDecodeError:
        _raise_json_error(text)
    if not isinstance(fields, dict):
        raise TemplateError("produce JSON", "the output must be a JSON object of message fields")
    return fields


def _raise_json_error(text: str) -> NoReturn:
    """Say where the rendered text stops being JSON (the json module reports line and column)."""
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        shown = text.splitlines()[exc.lineno - 1][:120] if text.splitlines() else ""
        raise TemplateError(
            "produce JSON",
            f"{exc.msg} at column {exc.colno} of rendered line {exc.lineno}: {shown!r}",
            exc.lineno,
        ) from None
    raise TemplateError("produce JSON", "the output is not JSON")


def to_message(fields: Mapping[str, Any]) -> Message:
    """Validate rendered fields as a message; TemplateError naming the field otherwise."""
    try:
        return Message.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "message"
        raise TemplateError("produce a valid message", f"{field}: {first['msg']}") from None


@dataclass(frozen=True, slots=True)
class Rendered:
    """One platform's message for one receiver, and whether its body had to be cut."""

    message: Message
    body_cut: bool = False


def render_message(source: str, variables: Mapping[str, Any], platform: str) -> Rendered:
    """The receiver's message for ``platform``; an over-long body is cut to fit the limit.

    The cut is found by bisection over the body's characters with the platform's own render
    check, so it honours exactly the limit that the accept path enforces.
    """
    fields = render_fields(source, variables)
    message = to_message(fields)
    try:
        render_checked(message, [platform])
        return Rendered(message)
    except PayloadTooLarge:
        body = message.alert.body if message.alert is not None else None
        if not body:
            raise
    assert message.alert is not None and body is not None

    def with_body(length: int) -> Message:
        alert = message.alert.model_copy(update={"body": truncate(body, length)})  # type: ignore[union-attr]
        return message.model_copy(update={"alert": alert})

    low, high = 0, len(body) - 1  # the longest length that fits lies in [low, high]
    while low < high:
        middle = (low + high + 1) // 2
        try:
            render_checked(with_body(middle), [platform])
            low = middle
        except PayloadTooLarge:
            high = middle - 1
    fitted = with_body(low)
    render_checked(fitted, [platform])  # even an empty body may not fit: that error stands
    return Rendered(fitted, body_cut=True)


SAMPLE_VARIABLES: Final[Mapping[str, Any]] = {
    "sender": {"id": "sample-sender", "name": "Alice Sample"},
    "receiver": {"id": "sample-receiver", "name": "Bob Sample"},
    "channel": {"id": "sample-channel", "type": "messaging", "name": "general"},
    "message": {
        "id": "sample-message",
        "text": "Hi Bob, this is a sample message to check the template.",
        "parent_id": None,
        "mentioned_user_ids": ["sample-receiver"],
        "attachments": 0,
    },
    "thread": {"id": None},
    "members": [
        {"id": "sample-sender", "name": "Alice Sample"},
        {"id": "sample-receiver", "name": "Bob Sample"},
    ],
    "member_count": 2,
    "unread_count": 3,
    "event_type": EVENT_MESSAGE_NEW,
}


def check_template(source: str, platform: str) -> Message:
    """Refuse a template before it is saved: it must render the sample data into a valid
    message within ``platform``'s limit as it stands (no body cut at save time)."""
    if platform not in PROVIDER_TYPES:
        raise RequestError(
            f"Unknown provider type {platform!r}; use one of {', '.join(PROVIDER_TYPES)}.",
            code="invalid_provider_type",
        )
    message = to_message(render_fields(source, SAMPLE_VARIABLES))
    try:
        render_checked(message, [platform])
    except RequestError as exc:
        raise TemplateError("fit the platform", exc.message) from None
    return message
