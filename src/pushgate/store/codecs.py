"""One codec per row shape: the columns a query selects and the record built from them.

A query's select list is generated from its codec, and the codec's fields are checked
against the record type (tests/store/test_codecs.py), so a column added on one side cannot
shift the others silently. Every backend builds its SQL from the same codec.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

import orjson

from pushgate.engine.chat.preferences import PushPreference
from pushgate.queue.base import Remembered
from pushgate.store.chat import Channel, ChatMessage, ChatUser, Fetched
from pushgate.store.models import (
    ApiKey,
    App,
    AuditEntry,
    Device,
    DeviceFeedback,
    PendingDelivery,
    StoredCredential,
    Webhook,
    WebhookCall,
)

T = TypeVar("T")


def _json_object(value: Any) -> dict[str, Any]:
    if value is None or value == "":
        return {}
    if isinstance(value, dict):
        return value
    return orjson.loads(value)


@dataclasses.dataclass(frozen=True)
class RowCodec(Generic[T]):
    """How rows of one shape map to a record: field name -> column, plus conversions."""

    record: type[T]
    columns: Mapping[str, str | tuple[str, ...]]
    """Record field -> column expression (the column of the same name unless stated), or
    several columns whose values reach the field's conversion as one tuple."""
    convert: Mapping[str, Callable[[Any], Any]] = dataclasses.field(default_factory=dict)

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(self.columns)

    def select_list(self, table: str = "") -> str:
        """The columns, in field order, for a SELECT (``table.`` prefixed when given)."""
        prefix = f"{table}." if table else ""
        return ", ".join(prefix + column for column in self._flat)

    def decode(self, row: Sequence[Any]) -> T:
        """The record of one row selected with ``select_list``."""
        if len(self._flat) == len(self.columns):  # one column per field
            values = dict(zip(self.columns, row, strict=True))
        else:
            values = self._grouped(row)
        for name, convert in self.convert.items():
            values[name] = convert(values[name])
        return self.record(**values)

    def _grouped(self, row: Sequence[Any]) -> dict[str, Any]:
        if len(row) != len(self._flat):
            raise ValueError(f"{len(row)} columns for the {len(self._flat)} of {self.record}")
        values: dict[str, Any] = {}
        at = 0
        for name, column in self.columns.items():
            width = len(column) if isinstance(column, tuple) else 1
            values[name] = tuple(row[at : at + width]) if isinstance(column, tuple) else row[at]
            at += width
        return values

    @functools.cached_property
    def _flat(self) -> tuple[str, ...]:
        return tuple(
            part
            for column in self.columns.values()
            for part in (column if isinstance(column, tuple) else (column,))
        )


def _same_names(
    record: type[Any], **renamed: str | tuple[str, ...]
) -> dict[str, str | tuple[str, ...]]:
    return {f.name: renamed.get(f.name, f.name) for f in dataclasses.fields(record)}


APP = RowCodec(App, _same_names(App))
AUDIT = RowCodec(AuditEntry, _same_names(AuditEntry))
FEEDBACK = RowCodec(DeviceFeedback, _same_names(DeviceFeedback))
WEBHOOK = RowCodec(Webhook, _same_names(Webhook), {"events": orjson.loads, "secret": bytes})
WEBHOOK_CALL = RowCodec(WebhookCall, _same_names(WebhookCall))
KEY = RowCodec(ApiKey, _same_names(ApiKey))
REMEMBERED = RowCodec(Remembered, _same_names(Remembered, answer_json="answer"))
DEVICE = RowCodec(Device, _same_names(Device), {"active": bool, "extra": _json_object})
CREDENTIAL = RowCodec(
    StoredCredential, _same_names(StoredCredential), {"summary": _json_object, "secret": bytes}
)


def _json(value: Any) -> Any:
    return orjson.loads(value) if value is not None else None


def _preference(columns: tuple[Any, Any]) -> PushPreference:
    level, until = columns
    return PushPreference(level, until)


_PUSH = ("push_level", "push_disabled_until")
CHAT_USER = RowCodec(ChatUser, _same_names(ChatUser, push=_PUSH), {"push": _preference})
CHANNEL = RowCodec(
    Channel,
    _same_names(Channel, push=_PUSH),
    {"push_notifications": bool, "push": _preference},
)
CHAT_MESSAGE = RowCodec(
    ChatMessage,
    _same_names(ChatMessage),
    {
        "mentioned": orjson.loads,
        "skip_push": bool,
        "decisions": _json,
        "notification_ids": _json,
    },
)
"""``mentioned``, ``decisions`` and ``notification_ids`` are JSON text on both backends."""
FETCHED = RowCodec(Fetched, _same_names(Fetched))

PENDING_FIELDS = tuple(f.name for f in dataclasses.fields(PendingDelivery))
"""PendingDelivery's fields in order. Outbox pages build it positionally (it is made once
per delivery on the send path, where keyword construction costs twice as much), so every
backend's page query selects exactly these, in this order (checked by the codec test)."""

REPORT_HEAD_FIELDS = (
    "id",
    "created_at",
    "deadline",
    "total",
    "skipped",
    "message",
    "renders",
    "acknowledged_at",
)
"""The notification columns a report starts with (``message`` and ``renders`` are JSON
text)."""
REPORT_FIELDS = (
    "delivery_id",
    "device_id",
    "user_id",
    "platform",
    "token",
    "status",
    "attempts",
    "reason",
    "status_code",
    "provider_id",
    "unregistered_at",
    "updated_at",
)
"""The keys of one device's entry in a notification report."""
REPORT_COLUMNS = {
    "delivery_id": "id",
    "status": "state",
    **{name: name for name in REPORT_FIELDS if name not in ("delivery_id", "status")},
}
"""Report key -> deliveries column."""


def report_select_list(table: str = "") -> str:
    """The deliveries columns of a report, in ``REPORT_FIELDS`` order."""
    prefix = f"{table}." if table else ""
    return ", ".join(prefix + REPORT_COLUMNS[name] for name in REPORT_FIELDS)


def build_report(
    head: Mapping[str, Any],
    rows: Sequence[Sequence[Any]],
    counts: dict[str, int] | None = None,
) -> dict[str, Any]:
    """A notification's report from its head (``REPORT_HEAD_FIELDS``) and its delivery rows
    selected with ``report_select_list``; ``counts`` by state, else counted from the rows."""
    results = [dict(zip(REPORT_FIELDS, row[: len(REPORT_FIELDS)], strict=True)) for row in rows]
    if counts is None:
        counts = {}
        for result in results:
            counts[result["status"]] = counts.get(result["status"], 0) + 1
    renders = head["renders"]
    return {
        "id": head["id"],
        "created_at": head["created_at"],
        "deadline": head["deadline"],
        "total": head["total"],
        "skipped": orjson.loads(head["skipped"]),
        "counts": counts,
        "complete": counts.get("pending", 0) == 0,
        "message": orjson.loads(head["message"]),
        "renders": orjson.loads(renders) if renders else {},
        "acknowledged_at": head["acknowledged_at"],
        "results": results,
    }


def results_of(
    notification_ids: Sequence[str], rows: Sequence[Sequence[Any]]
) -> list[list[dict[str, Any]] | None]:
    """The report ``results`` of each notification, from rows of (notification id, then the
    ``report_select_list`` columns, all NULL for a notification without deliveries) in
    delivery id order; None for a notification no row names."""
    found: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        results = found.setdefault(row[0], [])
        if row[1] is not None:
            results.append(dict(zip(REPORT_FIELDS, row[1:], strict=True)))
    return [found.get(notification_id) for notification_id in notification_ids]


def push_log(
    heads: Sequence[Sequence[Any]],
    results: Sequence[Sequence[Any]],
    counts: Sequence[Sequence[Any]],
    results_each: int,
) -> list[dict[str, Any]]:
    """The push log's reports from its three reads: heads (``REPORT_HEAD_FIELDS``), delivery
    rows (``report_select_list`` + notification id, at most ``results_each + 1`` per
    notification) and (notification id, state, count) rows."""
    by_id: dict[str, list[Sequence[Any]]] = {head[0]: [] for head in heads}
    for row in results:
        by_id[row[len(REPORT_FIELDS)]].append(row)
    tallies: dict[str, dict[str, int]] = {head[0]: {} for head in heads}
    for notification_id, state, count in counts:
        tallies[notification_id][state] = count
    listed = []
    for head in heads:
        rows = by_id[head[0]]
        report = build_report(
            dict(zip(REPORT_HEAD_FIELDS, head, strict=True)), rows[:results_each], tallies[head[0]]
        )
        report["results_truncated"] = len(rows) > results_each
        listed.append(report)
    return listed


__all__ = [
    "APP",
    "AUDIT",
    "CHANNEL",
    "CHAT_MESSAGE",
    "CHAT_USER",
    "CREDENTIAL",
    "DEVICE",
    "FEEDBACK",
    "FETCHED",
    "KEY",
    "PENDING_FIELDS",
    "REPORT_FIELDS",
    "REPORT_HEAD_FIELDS",
    "WEBHOOK",
    "WEBHOOK_CALL",
    "RowCodec",
    "build_report",
    "push_log",
    "report_select_list",
]
