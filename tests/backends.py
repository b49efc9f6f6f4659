"""Both backends for tests: SQLite in a temporary folder, PostgreSQL in a schema of its own.

PostgreSQL is the real server on 127.0.0.1:5432 (``PUSHGATE_TEST_POSTGRES`` overrides the
URL). Each test gets a fresh schema, dropped afterwards, so suites running side by side on
one database never meet. Redis is the real server on 127.0.0.1:6379 (``PUSHGATE_TEST_REDIS``).
Without a server the cases that need it skip, except under CI, where they fail.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from pushgate.config import Settings
from pushgate.store.backends import Backend

POSTGRES_URL = os.environ.get("PUSHGATE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("PUSHGATE_TEST_REDIS", "redis://127.0.0.1:6379/0")
BACKENDS = ["sqlite", "postgresql"]


async def _reachable() -> bool:
    try:
        conn = await asyncio.wait_for(asyncpg.connect(POSTGRES_URL), 5)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True


async def require_postgres() -> None:
    """Skip (fail under CI) when the PostgreSQL server cannot be reached."""
    if await _reachable():
        return
    message = f"PostgreSQL is not reachable at {POSTGRES_URL}"
    if os.environ.get("CI"):
        pytest.fail(message + " (CI must have it: start it before the tests)")
    pytest.skip(message)


async def require_redis() -> None:
    """Skip (fail under CI) when the Redis server cannot be reached."""
    import redis.asyncio as redis_asyncio
    from redis.exceptions import RedisError

    client = redis_asyncio.from_url(REDIS_URL, socket_connect_timeout=5)
    try:
        await client.ping()
    except (OSError, RedisError):
        message = f"Redis is not reachable at {REDIS_URL}"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI must have it: start it before the tests)")
        pytest.skip(message)
    finally:
        await client.aclose()


@asynccontextmanager
async def store_settings(backend: str, tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    """The ``store`` settings section of a fresh, empty store of this backend."""
    if backend == "sqlite":
        yield {"backend": "sqlite", "path": str(tmp_path / "pushgate.db")}
        return
    await require_postgres()
    schema = f"test_{secrets.token_hex(6)}"
    try:
        yield {"backend": "postgresql", "url": POSTGRES_URL, "schema_name": schema}
    finally:
        conn = await asyncpg.connect(POSTGRES_URL)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()


_SETTINGS: dict[int, Settings] = {}


@contextmanager
def remember_settings(backend: Backend, settings: Settings) -> Iterator[None]:
    """Let ``backend_settings`` find what ``backend`` was made from while it is open."""
    _SETTINGS[id(backend)] = settings
    try:
        yield
    finally:
        del _SETTINGS[id(backend)]


def backend_settings(backend: Backend) -> Settings:
    """The settings a fixture's backend was made from (to open a second one beside it)."""
    return _SETTINGS[id(backend)]
