"""Move an installation from its SQLite file to PostgreSQL: every app, key hash, credential,
device, notification and delivery (pending ones stay pending and are claimed by the first
gateway that starts on PostgreSQL), and the chat state and messages.

The target must be empty (a fresh database or schema): rows are copied with their ids, so a
notification's report reads the same after the move.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from pushgate.config import StoreSettings
from pushgate.store.postgresql import PostgresDatabase
from pushgate.store.schema import migrate

CHUNK = 5_000


@dataclass(frozen=True, slots=True)
class Table:
    """A table copied as is: its columns, and how a SQLite value becomes a PostgreSQL one."""

    name: str
    columns: tuple[str, ...]
    types: tuple[str, ...]
    """PostgreSQL array element types, for ``unnest``."""
    convert: dict[str, Callable[[Any], Any]]
    identity: str | None = None
    """An identity column whose sequence must continue after the copied values."""


def _bool(value: Any) -> bool:
    return bool(value)


def _bytes(value: Any) -> bytes:
    return bytes(value)


TABLES = (
    Table("meta", ("key", "value"), ("text", "text"), {}),
    Table(
        "apps",
        ("id", "name", "api_key_prefix", "created_at"),
        ("text", "text", "text", "float8"),
        {},
    ),
    Table(
        "api_keys",
        (
            "id",
            "app_id",
            "scope",
            "name",
            "key_hash",
            "key_prefix",
            "rate_limit",
            "created_at",
            "expires_at",
            "revoked_at",
            "last_used_at",
        ),
        ("text", "text", "text", "text", "text", "text", "int4") + ("float8",) * 4,
        {},
    ),
    Table(
        "audit_log",
        ("id", "at", "actor", "app_id", "action", "target"),
        ("int8", "float8", "text", "text", "text", "text"),
        {},
        identity="id",
    ),
    Table(
        "credentials",
        ("id", "app_id", "platform", "name", "summary", "secret", "created_at"),
        ("text", "text", "text", "text", "jsonb", "bytea", "float8"),
        {"secret": _bytes},
    ),
    Table(
        "devices",
        (
            "id",
            "app_id",
            "user_id",
            "platform",
            "token",
            "apns_environment",
            "fcm_credential",
            "extra",
            "active",
            "inactive_reason",
            "inactive_since",
            "created_at",
            "updated_at",
        ),
        (
            "int8",
            "text",
            "text",
            "text",
            "text",
            "text",
            "text",
            "text",
            "bool",
            "text",
            "float8",
            "float8",
            "float8",
        ),
        {"active": _bool},
        identity="id",
    ),
    Table(
        "notifications",
        (
            "id",
            "app_id",
            "message",
            "created_at",
            "deadline",
            "total",
            "skipped",
            "renders",
            "acknowledged_at",
        ),
        ("text", "text", "text", "float8", "float8", "int4", "text", "text", "float8"),
        {},
    ),
    Table(
        "notification_keys",
        ("app_id", "key", "notification_id", "expires_at"),
        ("text", "text", "text", "float8"),
        {},
    ),
    Table(
        "idempotency_keys",
        ("app_id", "key", "fingerprint", "status", "answer", "expires_at"),
        ("text", "text", "text", "int4", "text", "float8"),
        {},
    ),
    Table(
        "deliveries",
        (
            "id",
            "notification_id",
            "app_id",
            "device_id",
            "user_id",
            "platform",
            "token",
            "apns_environment",
            "fcm_credential",
            "extra",
            "state",
            "attempts",
            "next_attempt_at",
            "reason",
            "status_code",
            "provider_id",
            "unregistered_at",
            "updated_at",
        ),
        (
            "int8",
            "text",
            "text",
            "int8",
            "text",
            "text",
            "text",
            "text",
            "text",
            "text",
            "text",
            "int4",
            "float8",
            "text",
            "int4",
            "text",
            "float8",
            "float8",
        ),
        {},
        identity="id",
    ),
    Table("chat_settings", ("app_id", "settings"), ("text", "text"), {}),
    Table(
        "chat_users",
        ("app_id", "id", "name", "push_level", "push_disabled_until", "updated_at"),
        ("text", "text", "text", "text", "float8", "float8"),
        {},
    ),
    Table(
        "chat_channels",
        (
            "app_id",
            "id",
            "type",
            "name",
            "push_notifications",
            "content_mode",
            "push_level",
            "push_disabled_until",
            "updated_at",
        ),
        ("text", "text", "text", "text", "bool", "text", "text", "float8", "float8"),
        {"push_notifications": _bool},
    ),
    Table(
        "chat_members",
        (
            "seq",
            "app_id",
            "channel_id",
            "user_id",
            "push_level",
            "push_disabled_until",
            "muted",
            "mute_expires_at",
            "unread",
        ),
        ("int8", "text", "text", "text", "text", "float8", "bool", "float8", "int4"),
        {"muted": _bool},
        identity="seq",
    ),
    Table(
        "chat_user_mutes",
        ("app_id", "user_id", "muted_user_id", "expires_at"),
        ("text", "text", "text", "float8"),
        {},
    ),
    Table(
        "chat_thread_participants",
        ("app_id", "parent_id", "user_id"),
        ("text", "text", "text"),
        {},
    ),
    Table("chat_presence", ("app_id", "user_id", "online_until"), ("text", "text", "float8"), {}),
    Table(
        "chat_templates",
        ("app_id", "provider_type", "event_type", "source", "updated_at"),
        ("text", "text", "text", "text", "float8"),
        {},
    ),
    Table(
        "chat_messages",
        (
            "app_id",
            "id",
            "channel_id",
            "sender_id",
            "text",
            "parent_id",
            "mentioned",
            "attachments",
            "skip_push",
            "created_at",
            "content_expires_at",
            "decisions",
            "notification_ids",
        ),
        (
            "text",
            "text",
            "text",
            "text",
            "text",
            "text",
            "text",
            "int4",
            "bool",
            "float8",
            "float8",
            "text",
            "text",
        ),
        {"skip_push": _bool},
    ),
    Table(
        "chat_fetch_tokens",
        (
            "token_hash",
            "app_id",
            "message_id",
            "user_id",
            "notification_id",
            "content",
            "expires_at",
        ),
        ("text", "text", "text", "text", "text", "text", "float8"),
        {},
    ),
)
"""In the order foreign keys need."""


_RECOUNT_DEPTH = (
    "DELETE FROM outbox_depth; INSERT INTO outbox_depth (app_id, shard, pending) "
    "SELECT app_id, 0, count(*) FROM deliveries WHERE state = 'pending' GROUP BY app_id "
    "UNION ALL SELECT '', 0, count(*) FROM deliveries WHERE state = 'pending'"
)
"""The outbox depth counters of the copied rows (the outbox keeps them from then on)."""


@dataclass(frozen=True, slots=True)
class Copied:
    """Rows copied per table."""

    rows: dict[str, int]


class TargetNotEmpty(Exception):
    """The PostgreSQL schema already holds apps: a copy would mix two installations."""


async def copy_to_postgresql(
    source: Path,
    target: StoreSettings,
    *,
    progress: Callable[[str, int], None] = lambda table, rows: None,
) -> Copied:
    """Copy the SQLite file at ``source`` into the (migrated, empty) PostgreSQL ``target``,
    in one transaction: all of it lands, or none."""
    database = PostgresDatabase(target)
    await database.open()  # creates the schema and applies the migrations
    counts: dict[str, int] = {}
    try:
        async with database.pool.acquire() as conn, conn.transaction():
            if await conn.fetchval("SELECT count(*) FROM apps"):
                raise TargetNotEmpty(
                    "The PostgreSQL schema already has apps; copy into an empty database or "
                    "choose another schema (--schema)."
                )
            await conn.execute("DELETE FROM meta")
            _upgrade(source)
            reader = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
            try:
                for table in TABLES:
                    counts[table.name] = await _copy_table(conn, reader, table)
                    progress(table.name, counts[table.name])
            finally:
                reader.close()
            await conn.execute(_RECOUNT_DEPTH)
    finally:
        await database.close()
    return Copied(counts)


def _upgrade(source: Path) -> None:
    """Bring a store last opened by an older version to this schema, as ``serve`` would: the
    copy reads this version's columns."""
    conn = sqlite3.connect(source, isolation_level=None)
    try:
        migrate(conn)
    finally:
        conn.close()


async def _copy_table(conn: asyncpg.Connection, reader: sqlite3.Connection, table: Table) -> int:
    total = 0
    now = time.time()
    placeholders = ", ".join(f"${i + 1}::{t}[]" for i, t in enumerate(table.types))
    names = ", ".join(table.columns)
    insert = (
        f"INSERT INTO {table.name} ({names}) "
        f"{'OVERRIDING SYSTEM VALUE ' if table.identity else ''}"
        f"SELECT * FROM unnest({placeholders})"
    )
    if table.name == "deliveries":  # pending rows become claimable by any gateway at once
        insert = (
            f"WITH d AS ({insert} RETURNING id, state) INSERT INTO outbox (id, claimable_at) "
            f"SELECT id, {now!r} FROM d WHERE state = 'pending'"
        )
    for chunk in _chunks(reader, table):
        await conn.execute(insert, *_columns_of(chunk, table))
        total += len(chunk)
    if table.identity:
        column = table.identity
        await conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column}'), "
            f"COALESCE((SELECT MAX({column}) FROM {table.name}), 0) + 1, false)"
        )
    return total


def _chunks(reader: sqlite3.Connection, table: Table) -> Iterator[list[tuple[Any, ...]]]:
    cursor = reader.execute(f"SELECT {', '.join(table.columns)} FROM {table.name}")
    while rows := cursor.fetchmany(CHUNK):
        yield rows


def _columns_of(rows: Sequence[tuple[Any, ...]], table: Table) -> list[list[Any]]:
    columns = [list(values) for values in zip(*rows, strict=True)]
    for index, name in enumerate(table.columns):
        convert = table.convert.get(name)
        if convert is not None:
            columns[index] = [None if v is None else convert(v) for v in columns[index]]
    return columns
