"""Migration 0080 (apns_environment_fcm_credential) on a database of the schema before it: the one ``environment`` column of
devices and deliveries becomes ``apns_environment`` and ``fcm_credential``, every row keeping
its value under the name its platform meant."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import asyncpg
import pytest

from backends import BACKENDS, POSTGRES_URL, store_settings
from pushgate.config import Settings, StoreSettings
from pushgate.store.backends import backend_for
from pushgate.store.copy import copy_to_postgresql
from pushgate.store.schema import available_migrations

SPLIT = 80
"""The migration that splits the column; the database is built from the ones before it."""

NOW = time.time()
DEVICES = [  # platform, token, environment: an FCM credential may be named "sandbox" too
    ("apns", "a" * 64, "sandbox"),
    ("fcm", "fcm-token-1", "sandbox"),
    ("fcm", "fcm-token-2", "eu"),
    ("webpush", "https://push.example/1", None),
]
DELIVERIES = [*DEVICES, ("fcm", "/topics/news", "default")]  # the last: an app-level send
EXPECTED = [  # apns_environment, fcm_credential, in the order above
    ("sandbox", None),
    (None, "sandbox"),
    (None, "eu"),
    (None, None),
    (None, "default"),
]


def _literal(value: str | None) -> str:
    return "NULL" if value is None else f"'{value}'"


def _old_rows(postgres: bool) -> list[str]:
    """Rows written with the previous schema's column (the same SQL on both backends)."""
    column, value = ("", "") if postgres else ("api_key_hash, ", "'hash', ")  # keys apart
    statements = [
        f"INSERT INTO apps (id, name, {column}api_key_prefix, created_at) "
        f"VALUES ('app_1', 'chat', {value}'pgapp_x', {NOW})",
        "INSERT INTO notifications (id, app_id, message, created_at, deadline, total) "
        f"VALUES ('ntf_1', 'app_1', '{{}}', {NOW}, {NOW + 600}, {len(DELIVERIES)})",
    ]
    for platform, token, environment in DEVICES:
        statements.append(
            "INSERT INTO devices (app_id, user_id, platform, token, environment, created_at, "
            f"updated_at) VALUES ('app_1', 'u', '{platform}', '{token}', "
            f"{_literal(environment)}, {NOW}, {NOW})"
        )
    for platform, token, environment in DELIVERIES:
        statements.append(
            "INSERT INTO deliveries (notification_id, app_id, platform, token, environment, "
            f"next_attempt_at, updated_at) VALUES ('ntf_1', 'app_1', '{platform}', "
            f"'{token}', {_literal(environment)}, {NOW}, {NOW})"
        )
    if postgres:  # pending rows are claimed through their lease in the outbox table
        statements.append("INSERT INTO outbox (id, claimable_at) SELECT id, 0 FROM deliveries")
    return statements


def _previous_schema_sqlite(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute(
            "CREATE TABLE schema_migrations "
            "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
        )
        for number, name, sql in available_migrations("sqlite"):
            if number < SPLIT:
                conn.executescript(sql)
                conn.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", (number, name, NOW))
        for statement in _old_rows(postgres=False):
            conn.execute(statement)
    finally:
        conn.close()


async def _previous_schema_postgres(schema: str) -> None:
    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        await conn.execute(f'SET search_path TO "{schema}"')
        await conn.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, "
            "name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)"
        )
        for number, name, sql in available_migrations("postgresql"):
            if number < SPLIT:
                await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO schema_migrations VALUES ($1, $2, $3)", number, name, NOW
                )
        for statement in _old_rows(postgres=True):
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.mark.parametrize("kind", BACKENDS)
async def test_the_environment_column_is_split_by_platform(kind: str, tmp_path: Path) -> None:
    async with store_settings(kind, tmp_path) as store:
        if kind == "sqlite":
            _previous_schema_sqlite(Path(store["path"]))
        else:
            await _previous_schema_postgres(store["schema_name"])
        backend = backend_for(Settings(data_dir=tmp_path, store=store))
        applied = await backend.open()
        try:
            assert applied[0].startswith(f"{SPLIT:04d}_")
            devices = sorted(await backend.store.list_devices("app_1", "u"), key=lambda d: d.id)
            pending = sorted(await backend.outbox.claim(0, 100), key=lambda d: d.id)
        finally:
            await backend.close()

    assert [(d.platform, d.token) for d in devices] == [(p, t) for p, t, _ in DEVICES]
    assert [(d.apns_environment, d.fcm_credential) for d in devices] == EXPECTED[: len(DEVICES)]
    assert [(d.platform, d.token) for d in pending] == [(p, t) for p, t, _ in DELIVERIES]
    assert [(d.apns_environment, d.fcm_credential) for d in pending] == EXPECTED


async def test_a_store_of_the_previous_schema_is_copied_to_postgresql_split(
    tmp_path: Path,
) -> None:
    """``pushgate store migrate`` on a file the new version never opened: the copy brings it
    to this schema first, so it reads the split columns rather than failing on them."""
    source = tmp_path / "old.db"
    _previous_schema_sqlite(source)
    async with store_settings("postgresql", tmp_path) as store:
        target = StoreSettings(**store)
        await copy_to_postgresql(source, target)
        backend = backend_for(Settings(data_dir=tmp_path, store=store))
        await backend.open()
        try:
            devices = sorted(await backend.store.list_devices("app_1", "u"), key=lambda d: d.id)
            pending = sorted(await backend.outbox.claim(0, 100), key=lambda d: d.id)
        finally:
            await backend.close()

    assert [(d.apns_environment, d.fcm_credential) for d in devices] == EXPECTED[: len(DEVICES)]
    assert [(d.apns_environment, d.fcm_credential) for d in pending] == EXPECTED
