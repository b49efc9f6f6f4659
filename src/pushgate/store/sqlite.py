"""The embedded store: apps, credentials, devices, notifications and the outbox in one SQLite file.

All writes go through one writer thread (group commit, see ``_worker``); reads use a second
connection, so a read never waits for an fsync. WAL mode lets them run side by side.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from operator import itemgetter
from pathlib import Path
from typing import Any, TypeVar, overload

import orjson

from pushgate.store import schema
from pushgate.store._worker import SqliteWorker
from pushgate.store.models import (
    PLATFORMS,
    App,
    DeliveryResult,
    Device,
    NewDelivery,
    PendingDelivery,
    StoredCredential,
)

T = TypeVar("T")

AcceptRow = tuple[str, str, str, float, Sequence[NewDelivery], list[dict[str, Any]], str | None]
"""(notification id, app id, message JSON, deadline, deliveries, skipped targets, renders
JSON)."""

_DEVICE_COLUMNS = (
    "id, app_id, user_id, platform, token, environment, active, inactive_reason, "
    "inactive_since, created_at, extra"
)


# The hot statements take and give whole batches as one JSON text (json_each in,
# json_group_array out): one sqlite3 call per batch instead of one per row. Each call releases
# the GIL, and under load the event-loop thread holds it, so per-row calls made the writer
# thread wait for the GIL once per row (bench/ingest: the writer was the bottleneck at 5k/s).


def _from_json(count: int) -> str:
    """Columns 0..count-1 of each array in the JSON list bound to the last parameter."""
    return ", ".join(f"json_extract(value, '$[{i}]')" for i in range(count))


_NEXT_DELIVERY_ID = "SELECT COALESCE(MAX(id), 0) + 1 FROM deliveries"
_INSERT_NOTIFICATIONS = (
    "INSERT INTO notifications (id, app_id, message, created_at, deadline, total, skipped, "
    f"renders) SELECT {_from_json(8)} FROM json_each(?)"
)
_INSERT_DELIVERIES = (
    "INSERT INTO deliveries (id, notification_id, app_id, device_id, user_id, platform, token, "
    f"environment, extra, next_attempt_at, updated_at) SELECT ?1 + key, {_from_json(10)} "
    "FROM json_each(?2)"
)
"""Ids are consecutive from ?1 in the order of the list (one writer: no races)."""
_MARK_DELIVERED = (
    "UPDATE deliveries SET state = 'delivered', attempts = r.attempts, "
    "provider_id = r.provider_id, updated_at = ?1 FROM (SELECT "
    "json_extract(value, '$[0]') AS attempts, json_extract(value, '$[1]') AS provider_id, "
    "json_extract(value, '$[2]') AS id FROM json_each(?2)) AS r WHERE deliveries.id = r.id"
)
_UPDATE_RESULTS = (
    "UPDATE deliveries SET state = r.state, attempts = r.attempts, "
    "next_attempt_at = r.next_attempt_at, reason = r.reason, status_code = r.status_code, "
    "provider_id = r.provider_id, unregistered_at = r.unregistered_at, updated_at = ?1 "
    "FROM (SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS state, "
    "json_extract(value, '$[2]') AS attempts, json_extract(value, '$[3]') AS next_attempt_at, "
    "json_extract(value, '$[4]') AS reason, json_extract(value, '$[5]') AS status_code, "
    "json_extract(value, '$[6]') AS provider_id, "
    "json_extract(value, '$[7]') AS unregistered_at FROM json_each(?2)) AS r "
    "WHERE deliveries.id = r.id"
)
_PENDING_PAGE = (
    "SELECT json_group_array(json_array(d.id, d.notification_id, d.app_id, d.device_id, "
    "d.platform, d.token, d.environment, d.attempts, d.next_attempt_at, n.deadline, "
    "n.created_at, json(d.extra))), group_concat(n.message, char(30)), "
    "group_concat(ifnull(n.renders, ''), char(30)) FROM (SELECT id FROM deliveries "
    "WHERE state = 'pending' AND id > ? ORDER BY id LIMIT ?) AS page "
    "JOIN deliveries d ON d.id = page.id JOIN notifications n ON n.id = d.notification_id"
)
"""The message and renders (JSON text of ours) come joined by U+001E rather than inside the
JSON array: escaping them as JSON strings was a third of the query's cost. JSON text never
holds a raw control character (RFC 8259 §7), so the separator cannot occur inside. Both
aggregates see the rows in the same order."""
_DEVICES_OF_USERS = (
    f"SELECT json_group_array(json_array({_DEVICE_COLUMNS})) FROM devices WHERE app_id = ? "
    "AND user_id IN (SELECT value FROM json_each(?)) AND active = 1"
)
_DEVICES_BY_TOKENS = (
    f"SELECT json_group_array(json_array({_DEVICE_COLUMNS})) FROM devices WHERE app_id = ? "
    f"AND platform IN {PLATFORMS!r} AND token IN (SELECT value FROM json_each(?))"
)
"""Naming every platform lets the (app_id, platform, token) index find the tokens."""


def _json_rows(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> list[list[Any]]:
    """The rows of a ``json_group_array(json_array(...))`` query, as lists."""
    rows: list[list[Any]] = orjson.loads(conn.execute(sql, params).fetchone()[0])
    return rows


class SqliteStore:
    """Repository over one SQLite database file."""

    def __init__(
        self, path: Path, *, synchronous: str = "FULL", inline_reads: bool = False
    ) -> None:
        """``inline_reads`` runs reads on the caller's thread (see SqliteWorker)."""
        self.path = path
        self._synchronous = synchronous
        self._writer = SqliteWorker(
            self._connect, name="pushgate-db-writer", writer=True, synchronous=synchronous
        )
        self._reader = SqliteWorker(
            self._connect, name="pushgate-db-reader", writer=False, inline=inline_reads
        )

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=5000")
        return conn

    def open(self) -> list[str]:
        """Create the file if needed, apply migrations, start the worker threads."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = self._connect()
        try:
            applied = schema.migrate(conn)
        finally:
            conn.close()
        self._writer.start()
        self._reader.start()
        return applied

    def close(self) -> None:
        """Drain queued writes and close both connections."""
        self._writer.stop()
        self._reader.stop()

    async def write(self, job: Callable[[sqlite3.Connection], T], *, durable: bool = True) -> T:
        """Run ``job(conn)`` on the writer connection, in its own savepoint of a group commit.

        For repositories that share this database file (``chat_sqlite``). ``durable=False``:
        see ``SqliteWorker.run``.
        """
        result: T = await self._writer.run(job, durable=durable)
        return result

    async def read(self, job: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``job(conn)`` on the reader connection."""
        result: T = await self._reader.run(job)
        return result

    # -- meta ---------------------------------------------------------------------------

    async def get_meta(self, key: str) -> str | None:
        """A value of the key/value meta table."""
        row = await self._reader.run(
            lambda c: c.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        )
        return row[0] if row else None

    async def set_meta_if_absent(self, key: str, value: str) -> bool:
        """Store ``value`` unless the key exists; True when it was stored."""

        def write(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (key, value)
            )
            return cur.rowcount == 1

        return await self._writer.run(write)

    async def set_meta(self, key: str, value: str) -> None:
        """Store ``value`` under the key, replacing any."""
        await self._writer.run(
            lambda conn: conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )
        )

    # -- apps ---------------------------------------------------------------------------

    async def create_app(self, name: str, api_key_hash: str, api_key_prefix: str) -> App | None:
        """A new app, or None when the name is taken."""
        app = App(
            id="app_" + secrets.token_hex(8),
            name=name,
            api_key_prefix=api_key_prefix,
            created_at=time.time(),
        )

        def write(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "INSERT OR IGNORE INTO apps (id, name, api_key_hash, api_key_prefix, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (app.id, name, api_key_hash, api_key_prefix, app.created_at),
            )
            return cur.rowcount == 1

        return app if await self._writer.run(write) else None

    async def list_apps(self) -> list[App]:
        """Every app, oldest first."""
        rows = await self._reader.run(
            lambda c: c.execute(
                "SELECT id, name, api_key_prefix, created_at FROM apps ORDER BY created_at"
            ).fetchall()
        )
        return [App(id=r[0], name=r[1], api_key_prefix=r[2], created_at=r[3]) for r in rows]

    async def app_by_key_hash(self, api_key_hash: str) -> App | None:
        """The app whose API key (or previous key, within its overlap) hashes to this value."""
        row = await self._reader.run(
            lambda c: c.execute(
                "SELECT id, name, api_key_prefix, created_at FROM apps WHERE api_key_hash = ? "
                "UNION ALL SELECT id, name, api_key_prefix, created_at FROM apps "
                "WHERE previous_key_hash = ? AND previous_key_until > ? LIMIT 1",
                (api_key_hash, api_key_hash, time.time()),
            ).fetchone()
        )
        return (
            App(id=row[0], name=row[1], api_key_prefix=row[2], created_at=row[3]) if row else None
        )

    async def rotate_app_key(
        self,
        app_id: str,
        api_key_hash: str,
        api_key_prefix: str,
        *,
        previous_valid_until: float | None = None,
    ) -> bool:
        """Give an app a new key; the old one keeps working until ``previous_valid_until``
        (None: stops at once). False when there is no such app."""

        def write(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE apps SET previous_key_hash = CASE WHEN ? IS NULL THEN NULL "
                "ELSE api_key_hash END, previous_key_until = ?, "
                "api_key_hash = ?, api_key_prefix = ? WHERE id = ?",
                (previous_valid_until, previous_valid_until, api_key_hash, api_key_prefix, app_id),
            )
            return cur.rowcount == 1

        return await self._writer.run(write)

    async def delete_app(self, app_id: str) -> bool:
        """Remove an app with its credentials, devices and notifications; False if unknown."""

        def write(conn: sqlite3.Connection) -> bool:  # the rest goes by ON DELETE CASCADE
            return conn.execute("DELETE FROM apps WHERE id = ?", (app_id,)).rowcount == 1

        return await self._writer.run(write)

    # -- credentials --------------------------------------------------------------------

    async def put_credential(
        self, app_id: str, platform: str, name: str, summary: dict[str, Any], secret: bytes
    ) -> StoredCredential:
        """Store a credential, replacing one of the same platform and name."""
        record = StoredCredential(
            id="cred_" + secrets.token_hex(8),
            app_id=app_id,
            platform=platform,
            name=name,
            summary=summary,
            secret=secret,
            created_at=time.time(),
        )
        await self._writer.run(
            lambda c: c.execute(
                "INSERT INTO credentials (id, app_id, platform, name, summary, secret, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (app_id, platform, name) DO UPDATE SET "
                "id = excluded.id, summary = excluded.summary, secret = excluded.secret, "
                "created_at = excluded.created_at",
                (record.id, app_id, platform, name, json.dumps(summary), secret, record.created_at),
            )
        )
        return record

    async def list_credentials(
        self, app_id: str, platform: str | None = None
    ) -> list[StoredCredential]:
        """An app's credentials (with their encrypted secrets), optionally of one platform."""
        sql = (
            "SELECT id, app_id, platform, name, summary, secret, created_at FROM credentials "
            "WHERE app_id = ?"
            + (" AND platform = ?" if platform else "")
            + " ORDER BY platform, name"
        )
        params = (app_id, platform) if platform else (app_id,)
        rows = await self._reader.run(lambda c: c.execute(sql, params).fetchall())
        return [_credential(row) for row in rows]

    async def record_credential_problem(
        self, app_id: str, platform: str, name: str, reason: str, at: float
    ) -> None:
        """Show a configuration fault the push service reported on the credential's summary."""
        await self.annotate_credential(
            app_id, platform, name, "last_error", {"reason": reason, "at": at}
        )

    async def annotate_credential(
        self, app_id: str, platform: str, name: str, field: str, value: Any
    ) -> None:
        """Set ``field`` of a credential's summary (what the dispatcher learns while sending)."""
        await self._writer.run(
            lambda c: c.execute(
                "UPDATE credentials SET summary = json_set(summary, '$.' || ?, json(?)) "
                "WHERE app_id = ? AND platform = ? AND name = ?",
                (field, json.dumps(value), app_id, platform, name),
            ),
            durable=False,
        )

    async def delete_credential(self, app_id: str, platform: str, name: str) -> bool:
        """Remove a credential; False when there was none."""
        cur = await self._writer.run(
            lambda c: c.execute(
                "DELETE FROM credentials WHERE app_id = ? AND platform = ? AND name = ?",
                (app_id, platform, name),
            )
        )
        return cur.rowcount == 1

    # -- devices ------------------------------------------------------------------------

    async def register_device(
        self,
        *,
        app_id: str,
        user_id: str,
        platform: str,
        token: str,
        environment: str | None,
        extra: dict[str, Any] | None,
        max_per_user: int,
    ) -> tuple[Device, list[Device]]:
        """Register (or move, or reactivate) a token; returns it and the devices dropped."""

        def write(conn: sqlite3.Connection) -> tuple[Device, list[Device]]:
            now = time.time()
            conn.execute(
                "INSERT INTO devices (app_id, user_id, platform, token, environment, extra, "
                "active, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?) "
                "ON CONFLICT (app_id, platform, token) DO UPDATE SET user_id = excluded.user_id, "
                "environment = excluded.environment, extra = excluded.extra, active = 1, "
                "inactive_reason = NULL, inactive_since = NULL, created_at = excluded.created_at, "
                "updated_at = excluded.updated_at",
                (app_id, user_id, platform, token, environment, _json_or_none(extra), now, now),
            )
            device = _device(
                conn.execute(
                    f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE app_id = ? AND platform = ? "
                    "AND token = ?",
                    (app_id, platform, token),
                ).fetchone()
            )
            return device, _drop_oldest(conn, app_id, user_id, max_per_user)

        return await self._writer.run(write)

    async def list_devices(
        self, app_id: str, user_id: str | None = None, *, limit: int = 1000
    ) -> list[Device]:
        """An app's devices (of one user when given), oldest first."""
        where, params = "app_id = ?", [app_id]
        if user_id is not None:
            where += " AND user_id = ?"
            params.append(user_id)
        sql = f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE {where} ORDER BY created_at, id LIMIT ?"
        rows = await self._reader.run(lambda c: c.execute(sql, (*params, limit)).fetchall())
        return [_device(row) for row in rows]

    async def delete_device(self, app_id: str, token: str, platform: str | None = None) -> int:
        """Delete a device by token; returns how many rows went."""
        sql = "DELETE FROM devices WHERE app_id = ? AND token = ?"
        params: tuple[Any, ...] = (app_id, token)
        if platform:
            sql, params = sql + " AND platform = ?", (*params, platform)
        cur = await self._writer.run(lambda c: c.execute(sql, params))
        return cur.rowcount

    async def active_devices_of_users(self, app_id: str, user_ids: Sequence[str]) -> list[Device]:
        """Active devices of these users."""
        return await self._select_devices(_DEVICES_OF_USERS, app_id, user_ids)

    async def devices_by_tokens(self, app_id: str, tokens: Sequence[str]) -> list[Device]:
        """Devices (active or not) with these tokens."""
        return await self._select_devices(_DEVICES_BY_TOKENS, app_id, tokens)

    async def _select_devices(self, sql: str, app_id: str, values: Sequence[str]) -> list[Device]:
        def read(conn: sqlite3.Connection) -> list[Device]:
            return _json_rows(conn, sql, (app_id, _json_text(list(values))))

        found = await self._reader.run(read)
        found.sort(key=itemgetter(9, 0))  # created_at, id: aggregate order is not promised
        return [_device(row) for row in found]

    # -- notifications and the outbox ---------------------------------------------------

    async def accept_notification(
        self,
        *,
        notification_id: str,
        app_id: str,
        message_json: str,
        deadline: float,
        deliveries: Sequence[NewDelivery],
        skipped: list[dict[str, Any]],
        renders: str | None = None,
    ) -> AcceptedRows:
        """Write a notification and its deliveries durably; returns them as outbox rows."""
        return await self.accept_notifications(
            [(notification_id, app_id, message_json, deadline, deliveries, skipped, renders)]
        )

    async def accept_notifications(
        self,
        batch: Sequence[AcceptRow],
    ) -> AcceptedRows:
        """Write many notifications with their deliveries in one transaction."""
        now = time.time()
        notifications = _json_text(
            [
                (nid, app_id, message, now, deadline, len(deliveries), _json_text(skipped), renders)
                for nid, app_id, message, deadline, deliveries, skipped, renders in batch
            ]
        )
        deliveries = _json_text(
            [
                (nid, app_id, d.device_id, d.user_id, d.platform, d.token, d.environment,
                 _json_or_none(d.extra), now, now)
                for nid, app_id, _, _, new, _, _ in batch
                for d in new
            ]
        )  # fmt: skip

        def write(conn: sqlite3.Connection) -> int:
            first_id: int = conn.execute(_NEXT_DELIVERY_ID).fetchone()[0]
            conn.execute(_INSERT_NOTIFICATIONS, (notifications,))
            conn.execute(_INSERT_DELIVERIES, (first_id, deliveries))
            return first_id

        first_id = await self._writer.run(write)
        return AcceptedRows(batch, first_id, now)

    async def record_results(
        self,
        results: Iterable[DeliveryResult],
        delivered: Sequence[tuple[int, str | None, int]] = (),
    ) -> None:
        """Write delivery outcomes (and device deactivations) in one transaction.

        ``delivered`` holds (attempts, provider id, delivery id) of successful sends: the
        common case, written with a narrower statement.
        """
        rows = list(results)
        now = time.time()
        delivered_json = _json_text(delivered) if delivered else None
        others_json = (
            _json_text(
                [
                    (r.delivery_id, r.state, r.attempts, r.next_attempt_at, r.reason,
                     r.status_code, r.provider_id, r.unregistered_at)
                    for r in rows
                ]
            )
            if rows
            else None
        )  # fmt: skip
        dead = [
            (
                r.reason,
                r.unregistered_at or now,
                now,
                r.deactivate_device_id,
                r.unregistered_at or now,
            )
            for r in rows
            if r.deactivate_device_id is not None
        ]

        def write(conn: sqlite3.Connection) -> None:
            if delivered_json is not None:
                conn.execute(_MARK_DELIVERED, (now, delivered_json))
            if others_json is not None:
                conn.execute(_UPDATE_RESULTS, (now, others_json))
            if dead:
                conn.executemany(
                    "UPDATE devices SET active = 0, inactive_reason = ?, inactive_since = ?, "
                    "updated_at = ? WHERE id = ? AND active = 1 AND created_at <= ?",
                    dead,
                )

        if rows or delivered:
            # Not fsynced on its own: a result lost in a power cut only means a re-send.
            await self._writer.run(write, durable=False)

    async def pending_deliveries(
        self, after_id: int = 0, limit: int = 10_000
    ) -> list[PendingDelivery]:
        """Outbox rows still to send, in id order, for loading at start-up."""
        found = await self._reader.run(lambda c: _pending_page(c, after_id, limit))
        found.sort(key=itemgetter(0))  # aggregate order is not promised
        return [PendingDelivery(*row) for row in found]

    async def notification_report(self, app_id: str, notification_id: str) -> dict[str, Any] | None:
        """A notification with the state of each of its deliveries, or None."""

        def read(conn: sqlite3.Connection) -> dict[str, Any] | None:
            head = conn.execute(
                f"SELECT {_REPORT_HEAD} FROM notifications n WHERE n.id = ? AND n.app_id = ?",
                (notification_id, app_id),
            ).fetchone()
            if head is None:
                return None
            rows = conn.execute(
                f"SELECT {_REPORT_RESULT} FROM deliveries d WHERE d.notification_id = ? "
                "ORDER BY d.id",
                (notification_id,),
            ).fetchall()
            return _report(head, rows)

        return await self._reader.run(read)

    # -- the push log: recent notifications with their outcomes -------------------------

    async def recent_notifications(
        self,
        app_id: str,
        *,
        from_id: str,
        before_id: str | None = None,
        user_id: str | None = None,
        limit: int = 50,
        results_each: int = 100,
    ) -> list[dict[str, Any]]:
        """An app's notifications with ids in [from_id, before_id), newest first.

        Notification ids are time-ordered, so the id range walks the primary key backwards
        instead of scanning the table. With ``user_id``, only notifications that reached that
        user, and only that user's deliveries. At most ``results_each`` deliveries per
        notification (``results_truncated`` says when there were more).
        """
        user_clause = (
            " AND EXISTS (SELECT 1 FROM deliveries d WHERE d.notification_id = n.id "
            "AND d.user_id = :user)"
            if user_id is not None
            else ""
        )
        heads_sql = (
            f"SELECT {_REPORT_HEAD} FROM notifications n WHERE n.app_id = :app AND n.id >= :from_id"
            + (" AND n.id < :before_id" if before_id is not None else "")
            + user_clause
            + " ORDER BY n.id DESC LIMIT :limit"
        )
        results_sql = (
            f"SELECT * FROM (SELECT {_REPORT_RESULT}, d.notification_id, row_number() OVER (PARTITION BY d.notification_id ORDER BY d.id) AS rank "
            "FROM deliveries d WHERE d.notification_id IN (SELECT value FROM json_each(:ids))"
            + (" AND d.user_id = :user" if user_id is not None else "")
            + ") WHERE rank <= :each + 1 ORDER BY id"
        )
        counts_sql = (
            "SELECT d.notification_id, d.state, count(*) FROM deliveries d "
            "WHERE d.notification_id IN (SELECT value FROM json_each(:ids))"
            + (" AND d.user_id = :user" if user_id is not None else "")
            + " GROUP BY d.notification_id, d.state"
        )
        params: dict[str, Any] = {
            "app": app_id,
            "from_id": from_id,
            "before_id": before_id,
            "user": user_id,
            "limit": limit,
            "each": results_each,
        }

        def read(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            heads = conn.execute(heads_sql, params).fetchall()
            by_id: dict[str, list[tuple[Any, ...]]] = {head[0]: [] for head in heads}
            ids = _json_text(list(by_id))
            for row in conn.execute(results_sql, {**params, "ids": ids}):
                by_id[row[-2]].append(row)
            counts: dict[str, dict[str, int]] = {head[0]: {} for head in heads}
            for notification_id, state, count in conn.execute(counts_sql, {**params, "ids": ids}):
                counts[notification_id][state] = count
            listed = []
            for head in heads:
                rows = by_id[head[0]]
                report = _report(head, rows[:results_each], counts[head[0]])
                report["results_truncated"] = len(rows) > results_each
                listed.append(report)
            return listed

        return await self._reader.run(read)


class AcceptedRows(Sequence[PendingDelivery]):
    """The outbox rows a batch became, with the ids ``_INSERT_DELIVERIES`` gave them.

    Built only when iterated: a dispatcher in another process reads them from the store, and
    the API needs only their number.
    """

    def __init__(self, batch: Sequence[AcceptRow], first_id: int, now: float) -> None:
        self._batch = batch
        self._first_id = first_id
        self._now = now
        self._count = sum(len(row[4]) for row in batch)

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> PendingDelivery: ...
    @overload
    def __getitem__(self, index: slice) -> list[PendingDelivery]: ...
    def __getitem__(self, index: int | slice) -> PendingDelivery | list[PendingDelivery]:
        return list(self)[index]

    def __iter__(self) -> Iterator[PendingDelivery]:
        next_id, now = self._first_id, self._now
        for notification_id, app_id, message_json, deadline, deliveries, _, renders in self._batch:
            parsed = orjson.loads(renders) if renders else None
            for d in deliveries:
                yield PendingDelivery(
                    id=next_id,
                    notification_id=notification_id,
                    app_id=app_id,
                    device_id=d.device_id,
                    platform=d.platform,
                    token=d.token,
                    environment=d.environment,
                    attempts=0,
                    next_attempt_at=now,
                    message_json=message_json,
                    deadline=deadline,
                    created_at=now,
                    extra=d.extra,
                    renders=parsed,
                )
                next_id += 1


def _drop_oldest(conn: sqlite3.Connection, app_id: str, user_id: str, keep: int) -> list[Device]:
    rows = conn.execute(
        f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE app_id = ? AND user_id = ? "
        "ORDER BY created_at DESC, id DESC LIMIT -1 OFFSET ?",
        (app_id, user_id, keep),
    ).fetchall()
    dropped = [_device(row) for row in rows]
    conn.executemany("DELETE FROM devices WHERE id = ?", [(d.id,) for d in dropped])
    return dropped


_REPORT_HEAD = "n.id, n.created_at, n.deadline, n.total, n.skipped, n.message, n.renders"
_REPORT_RESULT = (
    "d.id, d.device_id, d.user_id, d.platform, d.token, d.state, d.attempts, d.reason, "
    "d.status_code, d.provider_id, d.unregistered_at, d.updated_at"
)
"""The columns ``_report`` reads, in its order."""


def _report(
    head: tuple[Any, ...],
    rows: list[tuple[Any, ...]],
    counts: dict[str, int] | None = None,
) -> dict[str, Any]:
    """The report of a notification; ``counts`` by state, else counted from ``rows``."""
    results = [
        {
            "delivery_id": r[0],
            "device_id": r[1],
            "user_id": r[2],
            "platform": r[3],
            "token": r[4],
            "status": r[5],
            "attempts": r[6],
            "reason": r[7],
            "status_code": r[8],
            "provider_id": r[9],
            "unregistered_at": r[10],
            "updated_at": r[11],
        }
        for r in rows
    ]
    if counts is None:
        counts = {}
        for result in results:
            counts[result["status"]] = counts.get(result["status"], 0) + 1
    return {
        "id": head[0],
        "created_at": head[1],
        "deadline": head[2],
        "total": head[3],
        "skipped": json.loads(head[4]),
        "counts": counts,
        "complete": counts.get("pending", 0) == 0,
        "message": json.loads(head[5]),
        "renders": json.loads(head[6]) if head[6] else {},
        "results": results,
    }


def _device(row: tuple[Any, ...]) -> Device:
    return Device(
        id=row[0],
        app_id=row[1],
        user_id=row[2],
        platform=row[3],
        token=row[4],
        environment=row[5],
        active=bool(row[6]),
        inactive_reason=row[7],
        inactive_since=row[8],
        created_at=row[9],
        extra=json.loads(row[10]) if row[10] else {},
    )


def _credential(row: tuple[Any, ...]) -> StoredCredential:
    return StoredCredential(
        id=row[0],
        app_id=row[1],
        platform=row[2],
        name=row[3],
        summary=json.loads(row[4]),
        secret=bytes(row[5]),
        created_at=row[6],
    )


def _pending_page(conn: sqlite3.Connection, after_id: int, limit: int) -> list[list[Any]]:
    """Rows of ``_PENDING_PAGE`` with PendingDelivery's fields in order."""
    fixed, messages, renders = conn.execute(_PENDING_PAGE, (after_id, limit)).fetchone()
    rows: list[list[Any]] = orjson.loads(fixed)
    if not rows:
        return rows
    separator = "\x1e"
    notification_id, parsed = None, None
    for row, message, render in zip(
        rows, messages.split(separator), renders.split(separator), strict=True
    ):
        row.insert(9, message)
        if row[1] != notification_id:  # a fan-out's rows share one parse of its renders
            notification_id, parsed = row[1], orjson.loads(render) if render else None
        row.append(parsed)
    return rows


def _json_or_none(value: dict[str, Any] | None) -> str | None:
    return _json_text(value) if value else None


def _json_text(value: Any) -> str:
    """JSON as text: SQLite's JSON functions refuse BLOBs, which is what bytes bind as."""
    return orjson.dumps(value).decode()
