"""What only the SQLite backend has: its reader modes and its group-committing writer."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from pushgate.store.schema import available_migrations
from pushgate.store.sqlite import SqliteDatabase, SqliteStore


@pytest.fixture
def database(tmp_path: Path):
    db = SqliteDatabase(tmp_path / "db.sqlite")
    db.open()
    yield db
    db.close()


@pytest.mark.parametrize(
    ("options", "threads"),
    [
        ({}, {"pushgate-db-writer", "pushgate-db-reader", "pushgate-db-checkpointer"}),
        ({"inline_reads": True}, {"pushgate-db-writer", "pushgate-db-checkpointer"}),
        ({"checkpoints": False}, {"pushgate-db-writer", "pushgate-db-reader"}),
    ],
    ids=["default", "inline-reads", "checkpoints-elsewhere"],
)
def test_the_threads_a_database_starts(
    tmp_path: Path, options: dict[str, bool], threads: set[str]
) -> None:
    """Inline reads start no reader thread; a database whose WAL another process on the same
    file checkpoints (the dispatcher process's) starts no checkpointer."""
    before = {thread.name for thread in threading.enumerate()}
    database = SqliteDatabase(tmp_path / "db.sqlite", **options)
    database.open()
    try:
        assert {thread.name for thread in threading.enumerate()} - before == threads
    finally:
        database.close()


def test_migrations_are_recorded_and_not_reapplied(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    first = SqliteDatabase(path)
    assert first.open() == [name for _, name, _ in available_migrations()]
    first.close()
    second = SqliteDatabase(path)
    assert second.open() == []
    second.close()
    versions = sqlite3.connect(path).execute("SELECT version FROM schema_migrations").fetchall()
    assert versions == [(v,) for v, _, _ in available_migrations()]


async def test_a_failing_job_does_not_undo_others_in_its_group(database: SqliteDatabase) -> None:
    store = SqliteStore(database)
    await store.create_app("one", "h", "p")
    with pytest.raises(sqlite3.IntegrityError):
        await database.writer.run(lambda c: c.execute("INSERT INTO apps (id) VALUES (NULL)"))
    assert [a.name for a in await store.list_apps()] == ["one"]


async def test_only_groups_with_durable_work_are_fsynced(database: SqliteDatabase) -> None:
    def synchronous(conn: sqlite3.Connection) -> int:
        return int(conn.execute("PRAGMA synchronous").fetchone()[0])

    assert await database.writer.run(synchronous, durable=False) == 1  # NORMAL
    assert await database.writer.run(synchronous) == 2  # FULL


async def test_a_write_waits_for_another_process_lock_and_then_commits(
    database: SqliteDatabase,
) -> None:
    other = sqlite3.connect(database.path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process (the dispatcher) is writing
    released = threading.Timer(0.2, other.execute, ("COMMIT",))
    released.start()
    try:
        store = SqliteStore(database)
        app = await store.create_app("waited", "h", "p")
    finally:
        released.join()
        other.close()
    assert app is not None
    assert [a.name for a in await store.list_apps()] == ["waited"]


async def test_a_write_fails_when_the_lock_is_held_past_the_timeout(
    database: SqliteDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pushgate.store._worker.LOCK_TIMEOUT", 0.1)
    other = sqlite3.connect(database.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            await SqliteStore(database).create_app("late", "h", "p")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert await SqliteStore(database).list_apps() == []


async def test_the_wal_reaches_the_database_file_with_no_commit_checkpointing(
    database: SqliteDatabase,
) -> None:
    size_before = database.path.stat().st_size

    def write_a_megabyte(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE filler (data BLOB)")
        conn.execute("INSERT INTO filler VALUES (zeroblob(1048576))")

    await database.writer.run(write_a_megabyte)  # 256 pages: no commit checkpoints that few
    deadline = time.monotonic() + 5
    while database.path.stat().st_size < size_before + 1_000_000:
        assert time.monotonic() < deadline, "the WAL's pages never reached the database file"
        await asyncio.sleep(0.05)
