"""PostgreSQL for the benchmarks: a fresh schema per run, bulk device rows, an outbox probe.

The probe and the bulk insert use psycopg 3 (synchronous), apart from the gateway's asyncpg,
so measuring never shares a connection with the code measured.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
CHUNK = 50_000


@dataclass(frozen=True, slots=True)
class PostgresTarget:
    """One schema of a PostgreSQL database that a benchmark's gateways share."""

    url: str
    schema: str

    def store_section(self) -> dict[str, Any]:
        """The gateway's ``[store]`` settings."""
        return {"backend": "postgresql", "url": self.url, "schema_name": self.schema}

    def connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.url, autocommit=True, options=f"-c search_path={self.schema}")

    def insert_devices(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """(id, app_id, user_id, token, created_at, updated_at) rows as active APNs devices."""
        with self.connect() as conn:
            for first in range(0, len(rows), CHUNK):
                chunk = rows[first : first + CHUNK]
                ids, apps, users, tokens, created, updated = (
                    list(c) for c in zip(*chunk, strict=True)
                )
                conn.execute(
                    "INSERT INTO devices (id, app_id, user_id, platform, token, apns_environment, "
                    "active, created_at, updated_at) OVERRIDING SYSTEM VALUE SELECT i, a, u, "
                    "'apns', t, 'production', TRUE, c, m FROM unnest(%s::bigint[], %s::text[], "
                    "%s::text[], %s::text[], %s::float8[], %s::float8[]) AS x(i, a, u, t, c, m)",
                    (ids, apps, users, tokens, created, updated),
                )
            conn.execute(
                "SELECT setval(pg_get_serial_sequence('devices', 'id'), "
                "(SELECT max(id) FROM devices))"
            )


@contextmanager
def fresh_schema(url: str = DEFAULT_URL) -> Iterator[PostgresTarget]:
    """A schema name no one uses (the gateway creates it), dropped afterwards."""
    target = PostgresTarget(url, f"bench_{secrets.token_hex(4)}")
    try:
        yield target
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{target.schema}" CASCADE')


class PostgresProbe:
    """Reads the outbox's progress: the outbox table holds exactly the pending deliveries, so
    counting them reads no delivery."""

    def __init__(self, target: PostgresTarget) -> None:
        self._conn = target.connect()

    def pending(self) -> int:
        """Deliveries still to send."""
        return self.progress()[1]

    def progress(self) -> tuple[int, int]:
        """(deliveries written so far, deliveries still pending), from one snapshot."""
        row = self._conn.execute(
            "SELECT (SELECT coalesce(max(id), 0) FROM deliveries), (SELECT count(*) FROM outbox)"
        ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])

    def states(self) -> dict[str, int]:
        """How many deliveries are in each state."""
        rows = self._conn.execute("SELECT state, count(*) FROM deliveries GROUP BY state")
        return {state: int(count) for state, count in rows}

    def close(self) -> None:
        self._conn.close()
