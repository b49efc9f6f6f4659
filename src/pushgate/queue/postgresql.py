"""The outbox in PostgreSQL, shared by every gateway on the database, handed out by leases.

The ``outbox`` table holds a row per pending delivery: its lease. A dispatcher *claims* a
page of them (``FOR UPDATE SKIP LOCKED``, so two claims never take the same row) and becomes
their ``lease_owner`` until ``claimable_at``; it renews that lease while it holds them, and a
final result deletes the row. Keeping the leases out of ``deliveries`` keeps those writes
small, and a delivery's final update a HOT update (it changes no indexed column). A gateway that dies stops renewing, and once its leases run
out (``store.lease_seconds``) another gateway's claim takes the rows over. Normal operation
sends each delivery from one gateway; after a takeover, a row the dead gateway had in flight
may be sent twice (at-least-once, bounded by what it held).

Every accept announces itself on the ``pushgate_outbox`` channel (at commit), and every
dispatcher LISTENs, so a send accepted by any gateway is claimed at once rather than at the
next poll. The statements take whole batches as arrays (``unnest``), one round trip each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg
import orjson

from pushgate.config import StoreSettings
from pushgate.queue.base import (
    Accepted,
    KeyTaken,
    OutboxDepth,
    OutboxEvents,
    Remember,
    Remembered,
    WriteStep,
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
from pushgate.store.postgresql import (
    CREDENTIALS_CHANNEL,
    OUTBOX_CHANNEL,
    PostgresDatabase,
    channel_sql,
    json_text,
)

log = logging.getLogger("pushgate.queue")

RECONNECT_DELAY = 1.0
"""Seconds before a lost LISTEN connection is opened again."""

DEPTH_SHARD = "pg_backend_pid() % 16"
"""The depth counter row a connection adds to: one per connection (mostly), so concurrent
accepts and result writes seldom wait on one row's lock."""
_DEPTH_CHANGE = (
    "INSERT INTO outbox_depth (app_id, shard, pending) "
    "SELECT a, {shard}, {sign}c FROM (SELECT '' AS a, count(*) AS c FROM {rows} UNION ALL "
    "SELECT app_id, count(*) FROM {rows} GROUP BY app_id) AS x WHERE c > 0 ORDER BY a "
    "ON CONFLICT (app_id, shard) DO UPDATE SET pending = outbox_depth.pending + excluded.pending"
)
"""Add (or with ``sign`` "-", take) the rows of CTE ``rows`` (with their ``app_id``) to the
depth counters, in one lock order ('' first, then by app id)."""
_DEPTH_ADDED = "depth AS (" + _DEPTH_CHANGE.format(shard=DEPTH_SHARD, sign="", rows="d") + ")"
_RESULTS_OF = (
    f"SELECT n.id, {report_select_list('d')} FROM notifications n "
    "LEFT JOIN deliveries d ON d.notification_id = n.id "
    "WHERE n.app_id = $1 AND n.id = ANY($2::text[]) ORDER BY d.id"
)
_DEPTH = (
    "SELECT app_id, sum(pending)::bigint FROM outbox_depth WHERE app_id IN ('', $1) GROUP BY app_id"
)
_REMEMBER = (
    "INSERT INTO idempotency_keys (app_id, key, fingerprint, status, answer, expires_at) "
    "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (app_id, key) DO UPDATE SET "
    "fingerprint = excluded.fingerprint, status = excluded.status, answer = excluded.answer, "
    "expires_at = excluded.expires_at WHERE idempotency_keys.expires_at <= $7 RETURNING 1"
)
"""Takes the key unless it is live (an expired one is taken over); no row: held. A request
racing for the same key waits on the first one's row lock, then sees it held."""
_FORGET_EXPIRED = "DELETE FROM idempotency_keys WHERE expires_at <= $1"
_REMEMBERED = (
    f"SELECT {REMEMBERED.select_list()} FROM idempotency_keys "
    "WHERE app_id = $1 AND key = $2 AND expires_at > $3"
)
_KEYED = "x.{id} IN (SELECT notification_id FROM k) OR NOT x.{id} = ANY($21::text[])"


def _accept_statement(*, keyed: bool) -> str:
    """The accept, one statement: notifications, deliveries, their outbox rows (claimable at
    once), their count in the depth counters and the wake-up every dispatcher hears once it commits. ``keyed`` adds $19-$22
    (app id, key, notification id, expiry of each keyed notification): a key another
    transaction holds makes the insert wait for it to commit, then skips that notification
    and its deliveries, so two identical accepts, on any gateways, write one notification."""
    keys = (
        "k AS (INSERT INTO notification_keys (app_id, key, notification_id, expires_at) "
        "SELECT * FROM unnest($19::text[], $20::text[], $21::text[], $22::float8[]) "
        "ON CONFLICT DO NOTHING RETURNING notification_id), "
        if keyed
        else ""
    )
    of_kept_notifications = f" WHERE {_KEYED.format(id='id')}" if keyed else ""
    of_kept_deliveries = f" WHERE {_KEYED.format(id='n_id')}" if keyed else ""
    answer = (
        "SELECT (SELECT count(*) FROM d) AS rows, ARRAY(SELECT notification_id FROM k) AS kept, "
        f"pg_notify({channel_sql(OUTBOX_CHANNEL)}, '')"
        if keyed
        else f"SELECT count(*) AS rows, pg_notify({channel_sql(OUTBOX_CHANNEL)}, '') FROM d"
    )
    return (
        f"WITH {keys}n AS (INSERT INTO notifications (id, app_id, message, created_at, "
        "deadline, total, skipped, renders) SELECT * FROM unnest($1::text[], $2::text[], "
        "$3::text[], $4::float8[], $5::float8[], $6::int[], $7::text[], $8::text[]) "
        f"AS x(id, a, m, c, dl, t, s, r){of_kept_notifications}), "
        "d AS (INSERT INTO deliveries (notification_id, app_id, device_id, user_id, platform, "
        "token, apns_environment, fcm_credential, extra, next_attempt_at, updated_at) "
        "SELECT n_id, a_id, dev, usr, plat, tok, env, cred, ext, $9, $9 FROM unnest("
        "$10::text[], $11::text[], $12::bigint[], $13::text[], $14::text[], $15::text[], "
        "$16::text[], $17::text[], $18::text[]) "
        f"AS x(n_id, a_id, dev, usr, plat, tok, env, cred, ext){of_kept_deliveries} "
        "RETURNING id, app_id), "
        f"o AS (INSERT INTO outbox (id, claimable_at) SELECT id, $9 FROM d), {_DEPTH_ADDED} "
        f"{answer}"
    )


_ACCEPT = _accept_statement(keyed=False)
_ACCEPT_KEYED = _accept_statement(keyed=True)
_KEY_HOLDERS = (
    "SELECT x.mine, k.notification_id FROM unnest($1::text[], $2::text[], $3::text[]) "
    "AS x(mine, a, ky) JOIN notification_keys k ON k.app_id = x.a AND k.key = x.ky"
)
_PURGE_KEYS = (
    "DELETE FROM notification_keys WHERE ctid = ANY(ARRAY(SELECT ctid FROM notification_keys "
    "WHERE expires_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED))"
)
"""Up to twice as many expired keys as an accept adds: the table stays bounded by the keys
kept."""

_PAGE_COLUMNS = {
    "id": "c.id",
    "notification_id": "c.notification_id",
    "app_id": "c.app_id",
    "device_id": "c.device_id",
    "platform": "c.platform",
    "token": "c.token",
    "apns_environment": "c.apns_environment",
    "fcm_credential": "c.fcm_credential",
    "attempts": "c.attempts",
    "next_attempt_at": "c.next_attempt_at",
    "message_json": "n.message",
    "deadline": "n.deadline",
    "created_at": "n.created_at",
    "extra": "c.extra",
    "renders": "n.renders",
}
"""PendingDelivery field -> claim column, in PendingDelivery's field order."""
_EXTRA_AT = PENDING_FIELDS.index("extra")
_RENDERS_AT = PENDING_FIELDS.index("renders")
_CLAIM = (
    "WITH o AS (UPDATE outbox SET lease_owner = $1, claimable_at = $2 WHERE id = "
    "ANY(ARRAY(SELECT id FROM outbox WHERE claimable_at <= $3 "
    "ORDER BY claimable_at, id LIMIT $4 FOR UPDATE SKIP LOCKED)) RETURNING id) "
    "SELECT " + ", ".join(_PAGE_COLUMNS.values()) + " FROM o "
    "JOIN deliveries c ON c.id = o.id JOIN notifications n ON n.id = c.notification_id "
    "ORDER BY c.id"
)
"""The page's ids come from an ARRAY sub-select, so the planner sees a handful of ids and
takes the ordered claim index and key look-ups, whatever its statistics say (a semi-join
plan scanned and sorted the whole backlog for each page)."""
_RENEW = (
    "UPDATE outbox SET claimable_at = $1 WHERE id = ANY(ARRAY(SELECT id FROM outbox "
    "WHERE id = ANY($2::bigint[]) AND lease_owner = $3 FOR UPDATE SKIP LOCKED))"
)
"""Rows a result write holds locked are skipped rather than waited for (waiting could
deadlock with it); the next renewal, a third of a lease later, covers them."""
_RECORD_RESULTS = (
    "WITH delivered AS (UPDATE deliveries SET state = 'delivered', attempts = r.attempts, "
    "provider_id = r.provider_id, updated_at = $1 FROM unnest($2::int[], $3::text[], "
    "$4::bigint[]) AS r(attempts, provider_id, id) WHERE deliveries.id = r.id), "
    "other AS (UPDATE deliveries SET state = r.state, attempts = r.attempts, "
    "next_attempt_at = r.next_attempt_at, reason = r.reason, status_code = r.status_code, "
    "provider_id = r.provider_id, unregistered_at = r.unregistered_at, updated_at = $1 "
    "FROM unnest($5::bigint[], $6::text[], $7::int[], $8::float8[], $9::text[], $10::int[], "
    "$11::text[], $12::float8[]) AS r(id, state, attempts, next_attempt_at, reason, "
    "status_code, provider_id, unregistered_at) WHERE deliveries.id = r.id), "
    "dead AS (UPDATE devices SET active = FALSE, inactive_reason = r.reason, "
    "inactive_since = r.since, updated_at = $1 FROM unnest($13::bigint[], $14::text[], "
    "$15::float8[]) AS r(id, reason, since) "
    "WHERE devices.id = r.id AND devices.active AND devices.created_at <= r.since "
    "RETURNING devices.id, devices.app_id, devices.platform, devices.token, r.reason, r.since), "
    "feedback AS (INSERT INTO device_feedback (app_id, device_id, platform, token, reason, "
    "provider_at, recorded_at) SELECT app_id, id, platform, token, reason, since, $1 FROM dead "
    "ORDER BY id RETURNING id, app_id, device_id, platform, token, reason, provider_at), "
    "dead_calls AS (INSERT INTO webhook_calls (webhook_id, event, body, next_attempt_at, "
    "created_at) SELECT w.id, 'device.deactivated', jsonb_build_object('event', "
    "'device.deactivated', 'cursor', f.id, 'app_id', f.app_id, 'device_id', f.device_id, "
    "'platform', f.platform, 'token', f.token, 'reason', f.reason, 'provider_timestamp', "
    "f.provider_at, 'at', $1::float8)::text, $1, $1 FROM feedback f JOIN webhooks w "
    "ON w.app_id = f.app_id WHERE w.events::jsonb ? 'device.deactivated'), "
    "new_state AS (SELECT id, 'delivered' AS state FROM unnest($4::bigint[]) AS id "
    "UNION ALL SELECT id, state FROM unnest($5::bigint[], $6::text[]) AS r(id, state)), "
    "touched AS (SELECT DISTINCT d.notification_id AS id, d.app_id FROM deliveries d "
    "WHERE d.id = ANY($16::bigint[]) AND EXISTS (SELECT 1 FROM webhooks w "
    "WHERE w.app_id = d.app_id)), "
    "done AS (SELECT t.id, t.app_id FROM touched t WHERE NOT EXISTS (SELECT 1 FROM deliveries p "
    "WHERE p.notification_id = t.id AND p.state = 'pending' AND NOT p.id = ANY($16::bigint[]))), "
    "finished_calls AS (INSERT INTO webhook_calls (webhook_id, event, body, next_attempt_at, "
    "created_at) SELECT w.id, 'notification.finished', jsonb_build_object('event', "
    "'notification.finished', 'app_id', done.app_id, 'notification_id', done.id, "
    "'at', $1::float8, 'counts', (SELECT jsonb_object_agg(c.state, c.n) FROM (SELECT "
    "COALESCE(s.state, d.state) AS state, count(*) AS n FROM deliveries d LEFT JOIN new_state s "
    "ON s.id = d.id WHERE d.notification_id = done.id GROUP BY 1) AS c))::text, $1, $1 "
    "FROM done JOIN webhooks w ON w.app_id = done.app_id "
    "WHERE w.events::jsonb ? 'notification.finished'), "
    "leave AS (DELETE FROM outbox WHERE id = ANY($16::bigint[]) RETURNING id), "
    "left_rows AS (SELECT d.app_id FROM leave JOIN deliveries d ON d.id = leave.id), "
    "depth AS ("
    + _DEPTH_CHANGE.format(shard=DEPTH_SHARD, sign="-", rows="left_rows")
    + ") SELECT set_config('synchronous_commit', 'off', true)"
)
"""Successful sends, the other outcomes, device deactivations and the final rows' exit from
the outbox in one statement: one round trip and one commit, which does not wait for its WAL flush (``set_config`` local to the
statement's transaction): a result lost in a crash only means a re-send. A device registered
again after the service's timestamp stays active. A deactivation appends its feedback row
and queues the app's webhook calls; a notification whose last pending deliveries this write
finishes ($16: the ids that leave pending) queues a ``notification.finished`` call, its counts
read through the new states (the CTEs all see the statement's starting snapshot). Two
gateways finishing one notification's last deliveries at once may each see the other's as
pending: that notification then gets no call. The rows that really left the outbox (a row
finished twice leaves once) leave the depth counters."""


_PURGE_FINISHED = (
    "WITH gone AS (DELETE FROM notifications WHERE id IN (SELECT n.id FROM notifications n "
    "WHERE n.id < $1 AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.notification_id = n.id "
    "AND d.state = 'pending') ORDER BY n.id LIMIT $2) RETURNING id), "
    "d AS (DELETE FROM deliveries WHERE notification_id IN (SELECT id FROM gone)) "
    "SELECT count(*) FROM gone"
)
"""Deliveries go with their notification (no foreign key does it: migration 0083)."""


class PostgresOutbox:
    """``queue.base.Outbox`` over PostgreSQL; one instance per dispatcher (its lease owner)."""

    page_size = 1000
    """A claim is a round trip that leaves the event loop free, so a page costs its rows, not
    the loop; bench/run dispatch --backend postgresql: 15.8k/s with pages of 200."""

    def __init__(self, database: PostgresDatabase, settings: StoreSettings) -> None:
        self._db = database
        self._lease = settings.lease_seconds
        self.poll_interval = max(0.5, self._lease / 6)
        """Claims run at least this often, so expired leases are taken over promptly."""
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"

    async def accept(
        self,
        batch: Sequence[NewNotification],
        remember: Remember | None = None,
        also: WriteStep | None = None,
    ) -> Accepted:
        """Write the notifications with their deliveries in one statement (one commit); a
        keyed one whose key is taken is left out (``_ACCEPT_KEYED``). With ``remember`` (its
        answer, then) ``also``, those are written first, in the same transaction."""
        now = time.time()
        if remember is None and also is None:
            return await self._accept(None, batch, now)
        async with self._db.pool.acquire() as conn, conn.transaction():
            if remember is not None:
                await conn.execute(_FORGET_EXPIRED, now)
                taken = await conn.fetchval(
                    _REMEMBER,
                    remember.app_id,
                    remember.key,
                    remember.fingerprint,
                    remember.status,
                    remember.answer_json,
                    remember.expires_at,
                    now,
                )
                if taken is None:
                    raise KeyTaken(remember.key)
            if also is not None:
                await also(conn)
            return await self._accept(conn, batch, now)

    async def remembered(self, app_id: str, key: str, now: float) -> Remembered | None:
        """The live answer kept for the app's idempotency key, if any."""
        found = await self._db.pool.fetchrow(_REMEMBERED, app_id, key, now)
        return None if found is None else REMEMBERED.decode(found)

    async def depth(self, app_id: str) -> OutboxDepth:
        """The app's and all apps' undelivered deliveries (the sums of their shards)."""
        found = dict(await self._db.pool.fetch(_DEPTH, app_id))
        return OutboxDepth(app=found.get(app_id, 0), total=found.get("", 0))

    async def _accept(
        self, conn: asyncpg.Connection | None, batch: Sequence[NewNotification], now: float
    ) -> Accepted:
        """The accept's statements, on ``conn`` (a transaction of the caller's) or the pool."""
        deliveries = [(n, d) for n in batch for d in n.deliveries]
        values = [
            [n.id for n in batch],
            [n.app_id for n in batch],
            [n.message_json for n in batch],
            [now] * len(batch),
            [n.deadline for n in batch],
            [len(n.deliveries) for n in batch],
            [json_text(n.skipped) for n in batch],
            [n.renders_json for n in batch],
            now,
            [n.id for n, _ in deliveries],
            [n.app_id for n, _ in deliveries],
            [d.device_id for _, d in deliveries],
            [d.user_id for _, d in deliveries],
            [d.platform for _, d in deliveries],
            [d.token for _, d in deliveries],
            [d.apns_environment for _, d in deliveries],
            [d.fcm_credential for _, d in deliveries],
            [json_text(d.extra) if d.extra else None for _, d in deliveries],
        ]
        keyed = [n for n in batch if n.key is not None]
        if not keyed:
            count = await (conn or self._db.pool).fetchval(_ACCEPT, *values)
            return Accepted(int(count), None)
        if conn is None:
            async with self._db.pool.acquire() as conn:
                return await self._accept_keyed(conn, keyed, values, now)
        return await self._accept_keyed(conn, keyed, values, now)

    @staticmethod
    async def _accept_keyed(
        conn: asyncpg.Connection, keyed: list[NewNotification], values: list[Any], now: float
    ) -> Accepted:
        found = await conn.fetchrow(
            _ACCEPT_KEYED,
            *values,
            [n.app_id for n in keyed],
            [n.key for n in keyed],
            [n.id for n in keyed],
            [n.key_expires_at for n in keyed],
        )
        kept = set(found["kept"])
        lost = [n for n in keyed if n.id not in kept]
        earlier: dict[str, str] = {}
        if lost:
            holders = await conn.fetch(
                _KEY_HOLDERS,
                [n.id for n in lost],
                [n.app_id for n in lost],
                [n.key for n in lost],
            )
            earlier = {mine: holder for mine, holder in holders}
        await conn.execute(_PURGE_KEYS, now, 2 * len(keyed))
        return Accepted(int(found["rows"]), None, earlier)

    async def acknowledge(self, app_id: str, notification_id: str, at: float) -> float | None:
        """Set ``acknowledged_at`` unless set; the first acknowledgement's time."""
        found = await self._db.pool.fetchrow(
            "WITH u AS (UPDATE notifications SET acknowledged_at = $3 WHERE id = $1 "
            "AND app_id = $2 AND acknowledged_at IS NULL RETURNING acknowledged_at) "
            "SELECT (SELECT acknowledged_at FROM u) AS now_set, (SELECT acknowledged_at "
            "FROM notifications WHERE id = $1 AND app_id = $2) AS before, "
            "EXISTS (SELECT 1 FROM notifications WHERE id = $1 AND app_id = $2) AS found",
            notification_id,
            app_id,
            at,
        )
        if not found["found"]:
            return None
        return found["now_set"] if found["now_set"] is not None else found["before"]

    async def notification_for_key(self, app_id: str, key: str) -> str | None:
        found: str | None = await self._db.pool.fetchval(
            "SELECT notification_id FROM notification_keys WHERE app_id = $1 AND key = $2",
            app_id,
            key,
        )
        return found

    async def claim(self, after_id: int, limit: int) -> list[PendingDelivery]:
        """Up to ``limit`` claimable rows (new, or whose lease ran out), oldest claimable
        first; ``after_id`` is not used: the lease, not a position, says what is ours."""
        now = time.time()
        records = await self._db.pool.fetch(_CLAIM, self.owner, now + self._lease, now, limit)
        pages: list[PendingDelivery] = []
        notification_id, parsed = None, None
        for record in records:
            row = list(record)
            extra = row[_EXTRA_AT]
            row[_EXTRA_AT] = orjson.loads(extra) if extra else None
            if row[1] != notification_id:  # a fan-out's rows share one parse of its renders
                render = row[_RENDERS_AT]
                notification_id, parsed = row[1], orjson.loads(render) if render else None
            row[_RENDERS_AT] = parsed
            pages.append(PendingDelivery(*row))
        return pages

    async def record_results(
        self,
        results: Iterable[DeliveryResult],
        delivered: Sequence[tuple[int, str | None, int]] = (),
    ) -> None:
        """Write delivery outcomes (and device deactivations) in one statement, without
        waiting for its WAL flush: a result lost in a crash only means a re-send."""
        rows = list(results)
        if not rows and not delivered:
            return
        now = time.time()
        rows.sort(key=lambda r: r.delivery_id)  # one lock order for every writer
        delivered = sorted(delivered, key=lambda d: d[2])
        dead = sorted(
            (r for r in rows if r.deactivate_device_id is not None),
            key=lambda r: r.deactivate_device_id or 0,
        )
        await self._db.pool.execute(
            _RECORD_RESULTS,
            now,
            [d[0] for d in delivered],
            [d[1] for d in delivered],
            [d[2] for d in delivered],
            [r.delivery_id for r in rows],
            [r.state for r in rows],
            [r.attempts for r in rows],
            [r.next_attempt_at for r in rows],
            [r.reason for r in rows],
            [r.status_code for r in rows],
            [r.provider_id for r in rows],
            [r.unregistered_at for r in rows],
            [r.deactivate_device_id for r in dead],
            [r.reason for r in dead],
            [r.unregistered_at or now for r in dead],
            [d[2] for d in delivered] + [r.delivery_id for r in rows if r.state != "pending"],
        )

    async def backlog(self) -> tuple[int, float | None]:
        """Pending deliveries (the outbox table's rows): how many, and the earliest time one
        becomes claimable (its due time, or its lease's end)."""
        row = await self._db.pool.fetchrow("SELECT count(*), min(claimable_at) FROM outbox")
        return int(row[0]), row[1]

    async def purge_finished(self, before_id: str, limit: int) -> int:
        """Erase old notifications whose deliveries are all finished, with the deliveries."""
        return int(await self._db.pool.fetchval(_PURGE_FINISHED, before_id, limit))

    async def serve(self, events: OutboxEvents) -> None:
        """Hear other gateways' accepts and credential changes; renew this dispatcher's
        leases every third of their length."""
        renewer = asyncio.create_task(self._renew_loop(events), name="pushgate-lease-renewal")
        try:
            await self._listen_loop(events)
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer

    async def _listen_loop(self, events: OutboxEvents) -> None:
        outbox_channel = self._db.channel(OUTBOX_CHANNEL)
        credentials_channel = self._db.channel(CREDENTIALS_CHANNEL)

        def heard(_conn: Any, _pid: int, channel: str, payload: str) -> None:
            if channel == outbox_channel:
                events.new_rows()
            else:
                events.credentials_changed(payload)

        while True:
            try:
                conn = await self._db.connect()
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("LISTEN connection failed (%s); retrying", type(exc).__name__)
                await asyncio.sleep(RECONNECT_DELAY)
                continue
            lost = asyncio.Event()
            conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
            try:
                await conn.add_listener(outbox_channel, heard)
                await conn.add_listener(credentials_channel, heard)
                events.new_rows()  # whatever was accepted while nobody listened
                await lost.wait()
                log.warning("LISTEN connection lost; reconnecting")
            finally:
                with contextlib.suppress(Exception):
                    await conn.close()
            await asyncio.sleep(RECONNECT_DELAY)

    async def _renew_loop(self, events: OutboxEvents) -> None:
        while True:
            await asyncio.sleep(self._lease / 3)
            held = list(events.held_ids())
            if not held:
                continue
            try:
                await self._db.pool.execute(_RENEW, time.time() + self._lease, held, self.owner)
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("renewing %d leases failed (%s)", len(held), type(exc).__name__)

    async def notification_report(self, app_id: str, notification_id: str) -> dict[str, Any] | None:
        """A notification with the state of each of its deliveries, or None."""
        async with self._db.pool.acquire() as conn:
            head = await conn.fetchrow(
                f"SELECT {', '.join(REPORT_HEAD_FIELDS)} FROM notifications "
                "WHERE id = $1 AND app_id = $2",
                notification_id,
                app_id,
            )
            if head is None:
                return None
            rows = await conn.fetch(
                f"SELECT {report_select_list()} FROM deliveries WHERE notification_id = $1 "
                "ORDER BY id",
                notification_id,
            )
        return build_report(dict(head), [tuple(r) for r in rows])

    async def delivery_results(
        self, app_id: str, notification_ids: Sequence[str]
    ) -> list[list[dict[str, Any]] | None]:
        """Each notification's delivery results, in one read."""
        rows = await self._db.pool.fetch(_RESULTS_OF, app_id, list(notification_ids))
        return results_of(notification_ids, [tuple(row) for row in rows])

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
        of_user = "($3::text IS NULL OR d.user_id = $3)"
        async with self._db.pool.acquire() as conn:
            heads = await conn.fetch(
                f"SELECT {', '.join('n.' + f for f in REPORT_HEAD_FIELDS)} "
                "FROM notifications n WHERE n.app_id = $1 AND n.id >= $2 "
                "AND ($4::text IS NULL OR n.id < $4) AND ($3::text IS NULL OR EXISTS (SELECT 1 "
                "FROM deliveries d WHERE d.notification_id = n.id AND d.user_id = $3)) "
                "ORDER BY n.id DESC LIMIT $5",
                app_id,
                from_id,
                user_id,
                before_id,
                limit,
            )
            ids = [head["id"] for head in heads]
            results = await conn.fetch(
                f"SELECT * FROM (SELECT {report_select_list('d')}, d.notification_id, "
                "row_number() OVER (PARTITION BY d.notification_id ORDER BY d.id) AS rank "
                f"FROM deliveries d WHERE d.notification_id = ANY($1::text[]) AND {of_user}) r "
                "WHERE rank <= $2 + 1 ORDER BY 1",
                ids,
                results_each,
                user_id,
            )
            counts = await conn.fetch(
                "SELECT d.notification_id, d.state, count(*) FROM deliveries d "
                f"WHERE d.notification_id = ANY($1::text[]) AND {of_user.replace('$3', '$2')} "
                "GROUP BY d.notification_id, d.state",
                ids,
                user_id,
            )
        return push_log(heads, results, counts, results_each)
