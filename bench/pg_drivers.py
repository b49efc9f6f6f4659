"""Which PostgreSQL driver for the outbox: asyncpg or psycopg 3, on the outbox's own statements.

Measures, on one connection each, against the same server in the same run: a batch insert of
1,000 delivery rows through ``unnest`` arrays, a claim of a 200-row page
(``UPDATE ... FOR UPDATE SKIP LOCKED ... RETURNING``), and one-row look-ups. Prints the
figures and appends them to bench/results.jsonl.

    .venv/bin/python -m bench.pg_drivers [--url postgresql://127.0.0.1/test] [--rounds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import psycopg

from bench._report import Figure, record

SCHEMA = f"bench_drivers_{secrets.token_hex(4)}"
TABLE = f"""
CREATE TABLE {SCHEMA}.d (id BIGSERIAL PRIMARY KEY, notification_id TEXT NOT NULL,
  token TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending', lease_owner TEXT,
  lease_until DOUBLE PRECISION)"""
INSERT = (
    f"INSERT INTO {SCHEMA}.d (notification_id, token) SELECT * FROM unnest($1::text[], $2::text[])"
)
CLAIM = (
    f"UPDATE {SCHEMA}.d SET lease_owner = $1, lease_until = $2 WHERE id IN (SELECT id FROM "
    f"{SCHEMA}.d WHERE state = 'pending' AND (lease_until IS NULL OR lease_until < $3) "
    "ORDER BY id LIMIT 200 FOR UPDATE SKIP LOCKED) RETURNING id, notification_id, token"
)
LOOKUP = f"SELECT id, token FROM {SCHEMA}.d WHERE id = $1"


async def _timed(rounds: int, step: Callable[[int], Awaitable[Any]]) -> float:
    start = time.perf_counter()
    for i in range(rounds):
        await step(i)
    return (time.perf_counter() - start) / rounds


async def run_asyncpg(url: str, rounds: int) -> dict[str, float]:
    conn = await asyncpg.connect(url)
    try:
        ids = [f"n{i}" for i in range(1000)]
        tokens = [secrets.token_hex(32) for _ in range(1000)]
        insert = await _timed(rounds, lambda _: conn.execute(INSERT, ids, tokens))
        claim = await _timed(rounds, lambda i: conn.fetch(CLAIM, f"o{i}", 1e12, 1e12 + i))
        lookup = await _timed(rounds * 20, lambda i: conn.fetchrow(LOOKUP, i + 1))
        await conn.execute(f"TRUNCATE {SCHEMA}.d")
    finally:
        await conn.close()
    return {"insert_1000_ms": insert * 1e3, "claim_200_ms": claim * 1e3, "lookup_us": lookup * 1e6}


async def run_psycopg(url: str, rounds: int) -> dict[str, float]:
    conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
    sql = {name: q.replace("$1", "%s").replace("$2", "%s").replace("$3", "%s")
           for name, q in (("insert", INSERT), ("claim", CLAIM), ("lookup", LOOKUP))}  # fmt: skip
    try:
        ids = [f"n{i}" for i in range(1000)]
        tokens = [secrets.token_hex(32) for _ in range(1000)]

        async def insert(_: int) -> None:
            await conn.execute(sql["insert"], (ids, tokens), prepare=True)

        async def claim(i: int) -> None:
            cur = await conn.execute(sql["claim"], (f"o{i}", 1e12, 1e12 + i), prepare=True)
            await cur.fetchall()

        async def lookup(i: int) -> None:
            cur = await conn.execute(sql["lookup"], (i + 1,), prepare=True)
            await cur.fetchone()

        result = {
            "insert_1000_ms": await _timed(rounds, insert) * 1e3,
            "claim_200_ms": await _timed(rounds, claim) * 1e3,
            "lookup_us": await _timed(rounds * 20, lookup) * 1e6,
        }
        await conn.execute(f"TRUNCATE {SCHEMA}.d")
    finally:
        await conn.close()
    return result


async def main(url: str, rounds: int) -> None:
    admin = await asyncpg.connect(url)
    await admin.execute(f"CREATE SCHEMA {SCHEMA}")
    await admin.execute(TABLE)
    try:
        figures = {}
        for _ in range(2):  # alternate, so neither driver always runs on a warmer server
            figures["asyncpg"] = await run_asyncpg(url, rounds)
            figures["psycopg"] = await run_psycopg(url, rounds)
    finally:
        await admin.execute(f"DROP SCHEMA {SCHEMA} CASCADE")
        await admin.close()
    labels = {"insert_1000_ms": ("insert 1,000 rows", "ms"), "claim_200_ms": ("claim 200", "ms"),
              "lookup_us": ("one-row look-up", "µs")}  # fmt: skip
    rows = [
        Figure(f"{driver}_{key}", f"{driver}: {label}", values[key], unit,
               reference=f"other driver: {figures[other][key]:.2f} {unit}")
        for driver, other in (("asyncpg", "psycopg"), ("psycopg", "asyncpg"))
        for key, (label, unit) in labels.items()
        for values in [figures[driver]]
    ]  # fmt: skip
    record("pg_drivers", rows, quick=False, details={"rounds": rounds})


if __name__ == "__main__":
    cli = argparse.ArgumentParser(description=__doc__)
    cli.add_argument("--url", default="postgresql://127.0.0.1/test")
    cli.add_argument("--rounds", type=int, default=30)
    options = cli.parse_args()
    asyncio.run(main(options.url, options.rounds))
