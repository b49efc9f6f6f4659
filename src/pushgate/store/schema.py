"""Versioned schema migrations: numbered SQL files applied once each, in order.

A hand-rolled runner rather than Alembic: the schema is plain SQL shared by the embedded
store, the runner is a few lines, and it keeps SQLAlchemy off the send path.
"""

from __future__ import annotations

import sqlite3
import time
from importlib import resources

MIGRATIONS_PACKAGE = "pushgate.store.migrations"


def available_migrations(dialect: str = "sqlite") -> list[tuple[int, str, str]]:
    """(version, name, sql) of every shipped migration, oldest first."""
    folder = resources.files(MIGRATIONS_PACKAGE).joinpath(dialect)
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append((version, entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def current_version(conn: sqlite3.Connection) -> int:
    """The newest applied migration, 0 for an empty database."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
    )
    row = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
    return int(row[0] or 0)


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply every pending migration, each in its own transaction; returns their names."""
    applied = []
    version = current_version(conn)
    for number, name, sql in available_migrations():
        if number <= version:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (number, name, time.time()),
            )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        applied.append(name)
    return applied


def _statements(sql: str) -> list[str]:
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [part.strip() for part in "\n".join(lines).split(";") if part.strip()]
