"""Migration 0051 on both backends: an older database's app keys (and a previous key still in
its overlap) become the apps' default manage keys and keep working."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import asyncpg
import pytest

from backends import POSTGRES_URL, store_settings
from pushgate.config import Settings
from pushgate.store.backends import backend_for
from pushgate.store.schema import available_migrations, current_version

KEYS = 51
OLD_APP = (
    "INSERT INTO apps (id, name, api_key_hash, api_key_prefix, created_at, previous_key_hash, "
    "previous_key_until) VALUES ('app_1', 'a', 'h-now', 'pgapp_n', 1, 'h-before', 4e9)"
)


def _old_sqlite(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    current_version(conn)
    for version, name, sql in available_migrations():
        if version < KEYS:
            conn.executescript(sql)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, 0)",
                (version, name),
            )
    conn.execute(OLD_APP)
    conn.close()


async def _old_postgresql(schema: str) -> None:
    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"; SET search_path TO "{schema}"')
        await conn.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
            "applied_at DOUBLE PRECISION NOT NULL)"
        )
        for version, name, sql in available_migrations("postgresql"):
            if version < KEYS:
                await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO schema_migrations VALUES ($1, $2, 0)", version, name
                )
        await conn.execute(OLD_APP)
    finally:
        await conn.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_app_keys_of_an_older_database_move_to_api_keys(tmp_path: Path, kind: str) -> None:
    async with store_settings(kind, tmp_path) as store:
        if kind == "sqlite":
            _old_sqlite(Path(store["path"]))
        else:
            await _old_postgresql(store["schema_name"])
        backend = backend_for(Settings(data_dir=tmp_path, store=store))
        assert "0051_api_keys.sql" in await backend.open()
        try:
            current = await backend.store.key_by_hash("h-now", 2e9)
            previous = await backend.store.key_by_hash("h-before", 2e9)
            assert current is not None and previous is not None
            key, app = current
            assert (key.scope, key.name, key.expires_at) == ("manage", "default", None)
            assert app is not None and app.id == "app_1" and previous[1] == app
            assert previous[0].expires_at == 4e9
            assert await backend.store.key_by_hash("h-before", 4e9 + 1) is None
            assert [a.api_key_prefix for a in await backend.store.list_apps()] == ["pgapp_n"]
        finally:
            await backend.close()
