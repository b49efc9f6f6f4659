"""The outbox in the embedded SQLite file, owned by one dispatcher.

One gateway runs one dispatcher per SQLite file (the dispatcher process dies with its API
process), so rows need no lease: freshly accepted rows are handed to the dispatcher in
memory, and a spilled backlog is paged in by id.

The hot statements take and give whole batches as one JSON text (json_each in,
json_group_array out): one sqlite3 call per batch instead of one per row. Each call releases
the GIL, and under load the event-loop thread holds it, so per-row calls made the writer
thread wait for the GIL once per row (bench/ingest: the writer was the bottleneck at 5k/s).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from operator import attrgetter
from typing import Any, overload

import orjson

from pushgate.queue.base import (
    Accepted,
    KeyTaken,
    OutboxDepth,
    OutboxEvents,
    Remember,
    Remembered,
    WriteStep,
    depth_changes,
)
from pushgate.store.codecs import (
    PENDING_FIELDS,
    REMEMBERED,
    REPORT_HEAD_FIELDS,
    build_report,
    push_log,
    report_select_list,
    results_of,
)
from pushgate.store.models import DeliveryResult, NewNotification, PendingDelivery
from pushgate.store.sqlite import SqliteDatabase, json_or_none, json_text


def _from_json(count: int) -> str:
    """Columns 0..count-1 of each array in the JSON list bound to the last parameter."""
    return ", ".join(f"json_extract(value, '$[{i}]')" for i in range(count))


_NOTIFICATION_COLUMNS = "id, app_id, message, created_at, deadline, total, skipped, renders"
_DELIVERY_COLUMNS = (
    "notification_id, app_id, device_id, user_id, platform, token, apns_environment, "
    "fcm_credential, extra, next_attempt_at, updated_at"
)
_NEXT_DELIVERY_ID = "SELECT COALESCE(MAX(id), 0) + 1 FROM deliveries"
_INSERT_NOTIFICATIONS = (
    f"INSERT INTO notifications ({_NOTIFICATION_COLUMNS}) SELECT {_from_json(8)} FROM json_each(?)"
)
_INSERT_DELIVERIES = (
    f"INSERT INTO deliveries (id, {_DELIVERY_COLUMNS}) SELECT ?1 + key, {_from_json(11)} "
    "FROM json_each(?2)"
)
"""Ids are consecutive from ?1 in the order of the list (one writer: no races)."""
_INSERT_KEYS = (
    "INSERT OR IGNORE INTO notification_keys (app_id, key, notification_id, expires_at) "
    f"SELECT {_from_json(4)} FROM json_each(?)"
)
_KEY_HOLDERS = (
    "SELECT json_extract(j.value, '$[2]'), k.notification_id FROM json_each(?) AS j "
    "JOIN notification_keys k ON k.app_id = json_extract(j.value, '$[0]') "
    "AND k.key = json_extract(j.value, '$[1]')"
)
"""(the batch's notification id, the key's holder) per keyed notification of the batch."""
_PURGE_KEYS = (
    "DELETE FROM notification_keys WHERE rowid IN (SELECT rowid FROM notification_keys "
    "WHERE expires_at < ? LIMIT ?)"
)
_MARK_DELIVERED = (
    "UPDATE deliveries SET state = 'delivered', attempts = r.attempts, "
    "provider_id = r.provider_id, updated_at = ?1 FROM (SELECT "
    "json_extract(value, '$[0]') AS attempts, json_extract(value, '$[1]') AS provider_id, "
    "json_extract(value, '$[2]') AS id FROM json_each(?2)) AS r WHERE deliveries.id = r.id"
)
_RESULT_COLUMNS = (
    "id",
    "state",
    "attempts",
    "next_attempt_at",
    "reason",
    "status_code",
    "provider_id",
    "unregistered_at",
)
_result_values = attrgetter("delivery_id", *(name for name in _RESULT_COLUMNS if name != "id"))
"""A DeliveryResult's values in ``_RESULT_COLUMNS`` order."""
_UPDATE_RESULTS = (
    "UPDATE deliveries SET "
    + ", ".join(f"{name} = r.{name}" for name in _RESULT_COLUMNS[1:])
    + ", updated_at = ?1 FROM (SELECT "
    + ", ".join(f"json_extract(value, '$[{i}]') AS {n}" for i, n in enumerate(_RESULT_COLUMNS))
    + " FROM json_each(?2)) AS r WHERE deliveries.id = r.id"
)
_ADD_DEPTH = (
    "INSERT INTO outbox_depth (app_id, pending) VALUES (?, ?) "
    "ON CONFLICT (app_id) DO UPDATE SET pending = pending + excluded.pending"
)
_FINISH_DEPTH = (
    "WITH f AS (SELECT app_id, count(*) AS n FROM deliveries WHERE id IN "
    "(SELECT value FROM json_each(?)) AND state = 'pending' GROUP BY app_id) "
    "UPDATE outbox_depth SET pending = pending - x.n FROM (SELECT app_id, n FROM f "
    "UNION ALL SELECT '', coalesce(sum(n), 0) FROM f) AS x WHERE outbox_depth.app_id = x.app_id"
)
"""Run before the results are written: only rows still pending leave the count."""
_DEPTH = "SELECT app_id, pending FROM outbox_depth WHERE app_id IN ('', ?)"
_RESULTS_OF = (
    f"SELECT n.id, {report_select_list('d')} FROM notifications n "
    "LEFT JOIN deliveries d ON d.notification_id = n.id "
    "WHERE n.app_id = ? AND n.id IN (SELECT value FROM json_each(?)) ORDER BY d.id"
)
_REMEMBER = (
    "INSERT INTO idempotency_keys (app_id, key, fingerprint, status, answer, expires_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (app_id, key) DO UPDATE SET "
    "fingerprint = excluded.fingerprint, status = excluded.status, answer = excluded.answer, "
    "expires_at = excluded.expires_at WHERE idempotency_keys.expires_at <= ?7"
)
"""Takes the key unless it is live (an expired one is taken over); no change: held."""
_FORGET_EXPIRED = "DELETE FROM idempotency_keys WHERE expires_at <= ?"
_REMEMBERED = (
    f"SELECT {REMEMBERED.select_list()} FROM idempotency_keys "
    "WHERE app_id = ? AND key = ? AND expires_at > ?"
)
_DEACTIVATE = (
    "UPDATE devices SET active = 0, inactive_reason = ?, inactive_since = ?, updated_at = ? "
    "WHERE id = ? AND active = 1 AND created_at <= ?"
)
"""A device registered again after the service's timestamp stays active."""
_FEEDBACK = (
    "INSERT INTO device_feedback (app_id, device_id, platform, token, reason, provider_at, "
    "recorded_at) SELECT app_id, id, platform, token, inactive_reason, inactive_since, ?1 "
    "FROM devices WHERE id IN (SELECT value FROM json_each(?2)) AND active = 0 "
    "AND updated_at = ?1 ORDER BY id"
)
"""The devices ``_DEACTIVATE`` just turned off (their ``updated_at`` is this write's)."""
_DEACTIVATED_CALLS = (
    "INSERT INTO webhook_calls (webhook_id, event, body, next_attempt_at, created_at) "
    "SELECT w.id, 'device.deactivated', json_object('event', 'device.deactivated', "
    "'cursor', f.id, 'app_id', f.app_id, 'device_id', f.device_id, 'platform', f.platform, "
    "'token', f.token, 'reason', f.reason, 'provider_timestamp', f.provider_at, "
    "'at', f.recorded_at), ?1, ?1 FROM device_feedback f JOIN webhooks w ON w.app_id = f.app_id "
    "WHERE f.id > ?2 AND EXISTS (SELECT 1 FROM json_each(w.events) "
    "WHERE value = 'device.deactivated') ORDER BY f.id"
)
_FINISHED_CALLS = (
    "WITH touched AS (SELECT DISTINCT notification_id AS id, app_id FROM deliveries "
    "WHERE id IN (SELECT value FROM json_each(?2))), "
    "done AS (SELECT t.id, t.app_id FROM touched t WHERE NOT EXISTS (SELECT 1 FROM deliveries p "
    "WHERE p.notification_id = t.id AND p.state = 'pending')) "
    "INSERT INTO webhook_calls (webhook_id, event, body, next_attempt_at, created_at) "
    "SELECT w.id, 'notification.finished', json_object('event', 'notification.finished', "
    "'app_id', done.app_id, 'notification_id', done.id, 'at', ?1, 'counts', "
    "(SELECT json_group_object(state, n) FROM (SELECT state, count(*) AS n FROM deliveries "
    "WHERE notification_id = done.id GROUP BY state))), ?1, ?1 "
    "FROM done JOIN webhooks w ON w.app_id = done.app_id WHERE EXISTS (SELECT 1 FROM "
    "json_each(w.events) WHERE value = 'notification.finished') ORDER BY done.id"
)
"""A webhook call for each notification whose last pending delivery this write finished."""

_PAGE_COLUMNS = {
    "id": "d.id",
    "notification_id": "d.notification_id",
    "app_id": "d.app_id",
    "device_id": "d.device_id",
    "platform": "d.platform",
    "token": "d.token",
    "apns_environment": "d.apns_environment",
    "fcm_credential": "d.fcm_credential",
    "attempts": "d.attempts",
    "next_attempt_at": "d.next_attempt_at",
    "message_json": None,
    "deadline": "n.deadline",
    "created_at": "n.created_at",
    "extra": "json(d.extra)",
    "renders": None,
}
"""PendingDelivery field -> page column; None: joined outside the JSON array (below)."""
_MESSAGE_AT = PENDING_FIELDS.index("message_json")
_PENDING_PAGE = (
    "SELECT json_group_array(json_array("
    + ", ".join(expr for expr in _PAGE_COLUMNS.values() if expr)
    + ")), group_concat(n.message, char(30)), "
    "group_concat(ifnull(n.renders, ''), char(30)) FROM (SELECT id FROM deliveries "
    "WHERE state = 'pending' AND id > ? ORDER BY id LIMIT ?) AS page "
    "JOIN deliveries d ON d.id = page.id JOIN notifications n ON n.id = d.notification_id"
)
"""The message and renders (JSON text of ours) come joined by U+001E rather than inside the
JSON array: escaping them as JSON strings was a third of the query's cost. JSON text never
holds a raw control character (RFC 8259 §7), so the separator cannot occur inside. Both
aggregates see the rows in the same order."""


_PURGE_FINISHED = (
    "DELETE FROM notifications WHERE id IN (SELECT n.id FROM notifications n WHERE n.id < ? "
    "AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.notification_id = n.id "
    "AND d.state = 'pending') ORDER BY n.id LIMIT ?)"
)
"""Deliveries go with their notification (ON DELETE CASCADE)."""


class SqliteOutbox:
    """``queue.base.Outbox`` over the SQLite database of one gateway."""

    poll_interval = None
    page_size = 200
    """An inline read (one CPU) holds the event loop for its whole page, about 9 µs a row; at
    200 rows the sends in flight keep the sink busy meanwhile. Measured against 500: 21-30 %
    of h2load in four runs, 21-27 % in six (within the host's noise, never worse)."""

    def __init__(self, database: SqliteDatabase) -> None:
        self._writer = database.writer
        self._reader = database.reader

    async def accept(
        self,
        batch: Sequence[NewNotification],
        remember: Remember | None = None,
        also: WriteStep | None = None,
    ) -> Accepted:
        """Write the notifications with their deliveries (and ``remember``, then ``also``)
        in one transaction, adding them to the depth counters; a keyed one whose key is
        taken (by an earlier accept or one before it in the batch) is left out."""
        now = time.time()
        notifications, deliveries = _batch_json(batch, now)
        keys = [(n.app_id, n.key, n.id, n.key_expires_at) for n in batch if n.key is not None]
        keys_json = json_text(keys) if keys else None

        def write(conn: sqlite3.Connection) -> tuple[int, dict[str, str]]:
            if remember is not None:
                conn.execute(_FORGET_EXPIRED, (now,))
                taken = conn.execute(
                    _REMEMBER,
                    (remember.app_id, remember.key, remember.fingerprint, remember.status,
                     remember.answer_json, remember.expires_at, now),
                ).rowcount  # fmt: skip
                if not taken:
                    raise KeyTaken(remember.key)
            if also is not None:
                also(conn)
            earlier: dict[str, str] = {}
            if keys_json is not None:
                earlier = _take_keys(conn, keys_json, len(keys), now)
            first_id: int = conn.execute(_NEXT_DELIVERY_ID).fetchone()[0]
            if earlier:  # rare: a peer's retry; write the others only
                kept = [n for n in batch if n.id not in earlier]
                if not kept:
                    return first_id, earlier
                conn.execute(_INSERT_NOTIFICATIONS, (_batch_json(kept, now)[0],))
                conn.execute(_INSERT_DELIVERIES, (first_id, _batch_json(kept, now)[1]))
                conn.executemany(_ADD_DEPTH, depth_changes(kept))
            else:
                conn.execute(_INSERT_NOTIFICATIONS, (notifications,))
                conn.execute(_INSERT_DELIVERIES, (first_id, deliveries))
                conn.executemany(_ADD_DEPTH, depth_changes(batch))
            return first_id, earlier

        first_id, earlier = await self._writer.run(write)
        written = [n for n in batch if n.id not in earlier] if earlier else batch
        rows = AcceptedRows(written, first_id, now)
        return Accepted(len(rows), rows, earlier)

    async def acknowledge(self, app_id: str, notification_id: str, at: float) -> float | None:
        """Set ``acknowledged_at`` unless set; the first acknowledgement's time."""

        def write(conn: sqlite3.Connection) -> float | None:
            conn.execute(
                "UPDATE notifications SET acknowledged_at = ? WHERE id = ? AND app_id = ? "
                "AND acknowledged_at IS NULL",
                (at, notification_id, app_id),
            )
            row = conn.execute(
                "SELECT acknowledged_at FROM notifications WHERE id = ? AND app_id = ?",
                (notification_id, app_id),
            ).fetchone()
            return row[0] if row else None

        result: float | None = await self._writer.run(write)
        return result

    async def notification_for_key(self, app_id: str, key: str) -> str | None:
        row = await self._reader.run(
            lambda c: c.execute(
                "SELECT notification_id FROM notification_keys WHERE app_id = ? AND key = ?",
                (app_id, key),
            ).fetchone()
        )
        return row[0] if row else None

    async def claim(self, after_id: int, limit: int) -> list[PendingDelivery]:
        """Pending rows after ``after_id`` in id order (this dispatcher owns them all)."""
        found = await self._reader.run(lambda c: _pending_page(c, after_id, limit))
        found.sort(key=lambda row: row[0])  # aggregate order is not promised
        return [PendingDelivery(*row) for row in found]

    async def record_results(
        self,
        results: Iterable[DeliveryResult],
        delivered: Sequence[tuple[int, str | None, int]] = (),
    ) -> None:
        """Write delivery outcomes (and device deactivations) in one transaction."""
        rows = list(results)
        now = time.time()
        delivered_json = json_text(delivered) if delivered else None
        others_json = json_text([_result_values(r) for r in rows]) if rows else None
        dead = [
            (r.reason, r.unregistered_at or now, now, r.deactivate_device_id,
             r.unregistered_at or now)
            for r in rows
            if r.deactivate_device_id is not None
        ]  # fmt: skip

        finished = [d[2] for d in delivered] + [r.delivery_id for r in rows if r.state != "pending"]
        finished_json = json_text(finished) if finished else None

        def write(conn: sqlite3.Connection) -> None:
            if finished_json is not None:
                conn.execute(_FINISH_DEPTH, (finished_json,))
            if delivered_json is not None:
                conn.execute(_MARK_DELIVERED, (now, delivered_json))
            if others_json is not None:
                conn.execute(_UPDATE_RESULTS, (now, others_json))
            hooks = conn.execute("SELECT EXISTS (SELECT 1 FROM webhooks)").fetchone()[0]
            if dead:
                last_feedback = conn.execute(
                    "SELECT COALESCE(MAX(id), 0) FROM device_feedback"
                ).fetchone()[0]
                conn.executemany(_DEACTIVATE, dead)
                conn.execute(_FEEDBACK, (now, json_text([d[3] for d in dead])))
                if hooks:
                    conn.execute(_DEACTIVATED_CALLS, (now, last_feedback))
            if hooks and finished_json is not None:
                conn.execute(_FINISHED_CALLS, (now, finished_json))

        if rows or delivered:
            # Not fsynced on its own: a result lost in a power cut only means a re-send.
            await self._writer.run(write, durable=False)

    async def backlog(self) -> tuple[int, float | None]:
        """Pending deliveries: how many, and the earliest due time (the partial index)."""
        count, due = await self._reader.run(
            lambda c: c.execute(
                "SELECT count(*), min(next_attempt_at) FROM deliveries WHERE state = 'pending'"
            ).fetchone()
        )
        return int(count), due

    async def purge_finished(self, before_id: str, limit: int) -> int:
        """Erase old notifications whose deliveries are all finished, with the deliveries."""
        cur = await self._writer.run(lambda c: c.execute(_PURGE_FINISHED, (before_id, limit)))
        return int(cur.rowcount)

    async def remembered(self, app_id: str, key: str, now: float) -> Remembered | None:
        """The live answer kept for the app's idempotency key, if any."""
        found = await self._reader.run(
            lambda c: c.execute(_REMEMBERED, (app_id, key, now)).fetchone()
        )
        return None if found is None else REMEMBERED.decode(found)

    async def depth(self, app_id: str) -> OutboxDepth:
        """The app's and all apps' undelivered deliveries (two counter rows)."""
        found = dict(await self._reader.run(lambda c: c.execute(_DEPTH, (app_id,)).fetchall()))
        return OutboxDepth(app=found.get(app_id, 0), total=found.get("", 0))

    async def serve(self, events: OutboxEvents) -> None:
        """Nothing to do: no other gateway shares the file (the API process tells its
        dispatcher of new rows itself), and its one dispatcher holds every row unleased."""
        await asyncio.Event().wait()

    async def notification_report(self, app_id: str, notification_id: str) -> dict[str, Any] | None:
        """A notification with the state of each of its deliveries, or None."""

        def read(conn: sqlite3.Connection) -> dict[str, Any] | None:
            found = conn.execute(
                f"SELECT {', '.join(REPORT_HEAD_FIELDS)} FROM notifications WHERE id = ? AND app_id = ?",
                (notification_id, app_id),
            ).fetchone()
            if found is None:
                return None
            head = dict(zip(REPORT_HEAD_FIELDS, found, strict=True))
            rows = conn.execute(
                f"SELECT {report_select_list()} FROM deliveries WHERE notification_id = ? "
                "ORDER BY id",
                (notification_id,),
            ).fetchall()
            return build_report(head, rows)

        return await self._reader.run(read)

    async def delivery_results(
        self, app_id: str, notification_ids: Sequence[str]
    ) -> list[list[dict[str, Any]] | None]:
        """Each notification's delivery results, in one read."""
        ids = json_text(list(notification_ids))

        def read(conn: sqlite3.Connection) -> list[Any]:
            return conn.execute(_RESULTS_OF, (app_id, ids)).fetchall()

        return results_of(notification_ids, await self._reader.run(read))

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
        """The push log (see ``Outbox.recent_notifications``)."""
        user_clause = (
            " AND EXISTS (SELECT 1 FROM deliveries d WHERE d.notification_id = n.id "
            "AND d.user_id = :user)"
            if user_id is not None
            else ""
        )
        heads_sql = (
            f"SELECT {', '.join('n.' + f for f in REPORT_HEAD_FIELDS)} "
            "FROM notifications n WHERE n.app_id = :app AND n.id >= :from_id"
            + (" AND n.id < :before_id" if before_id is not None else "")
            + user_clause
            + " ORDER BY n.id DESC LIMIT :limit"
        )
        of_these = "d.notification_id IN (SELECT value FROM json_each(:ids))" + (
            " AND d.user_id = :user" if user_id is not None else ""
        )
        results_sql = (
            f"SELECT * FROM (SELECT {report_select_list('d')}, d.notification_id, "
            "row_number() OVER (PARTITION BY d.notification_id ORDER BY d.id) AS rank "
            f"FROM deliveries d WHERE {of_these}) WHERE rank <= :each + 1 ORDER BY id"
        )
        counts_sql = (
            "SELECT d.notification_id, d.state, count(*) FROM deliveries d "
            f"WHERE {of_these} GROUP BY d.notification_id, d.state"
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
            ids = json_text([head[0] for head in heads])
            results = conn.execute(results_sql, {**params, "ids": ids}).fetchall()
            counts = conn.execute(counts_sql, {**params, "ids": ids}).fetchall()
            return push_log(heads, results, counts, results_each)

        return await self._reader.run(read)


def _batch_json(batch: Sequence[NewNotification], now: float) -> tuple[str, str]:
    """The JSON texts ``_INSERT_NOTIFICATIONS`` and ``_INSERT_DELIVERIES`` take."""
    notifications = json_text(
        [
            (n.id, n.app_id, n.message_json, now, n.deadline, len(n.deliveries),
             json_text(n.skipped), n.renders_json)
            for n in batch
        ]
    )  # fmt: skip
    deliveries = json_text(
        [
            (n.id, n.app_id, d.device_id, d.user_id, d.platform, d.token, d.apns_environment,
             d.fcm_credential, json_or_none(d.extra), now, now)
            for n in batch
            for d in n.deliveries
        ]
    )  # fmt: skip
    return notifications, deliveries


def _take_keys(conn: sqlite3.Connection, keys_json: str, count: int, now: float) -> dict[str, str]:
    """Insert the batch's free keys (this writer is the only one: no race between the insert
    and the read) and purge up to twice as many expired ones, so the table stays bounded by
    the keys kept. Returns each notification whose key was taken -> the key's holder."""
    conn.execute(_INSERT_KEYS, (keys_json,))
    holders = conn.execute(_KEY_HOLDERS, (keys_json,)).fetchall()
    conn.execute(_PURGE_KEYS, (now, 2 * count))
    return {mine: holder for mine, holder in holders if mine != holder}


class AcceptedRows(Sequence[PendingDelivery]):
    """The outbox rows a batch became, with the ids ``_INSERT_DELIVERIES`` gave them.

    Built only when iterated: a dispatcher in another process reads them from the store, and
    the API needs only their number.
    """

    def __init__(self, batch: Sequence[NewNotification], first_id: int, now: float) -> None:
        self._batch = batch
        self._first_id = first_id
        self._now = now
        self._count = sum(len(n.deliveries) for n in batch)

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
        for n in self._batch:
            parsed = orjson.loads(n.renders_json) if n.renders_json else None
            for d in n.deliveries:
                yield PendingDelivery(
                    id=next_id,
                    notification_id=n.id,
                    app_id=n.app_id,
                    device_id=d.device_id,
                    platform=d.platform,
                    token=d.token,
                    apns_environment=d.apns_environment,
                    fcm_credential=d.fcm_credential,
                    attempts=0,
                    next_attempt_at=now,
                    message_json=n.message_json,
                    deadline=n.deadline,
                    created_at=now,
                    extra=d.extra,
                    renders=parsed,
                )
                next_id += 1


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
        row.insert(_MESSAGE_AT, message)
        if row[1] != notification_id:  # a fan-out's rows share one parse of its renders
            notification_id, parsed = row[1], orjson.loads(render) if render else None
        row.append(parsed)  # renders: the last field
    return rows
