"""The embedded backend: one SQLite file holds the repositories and the outbox.

``SqliteDatabase`` owns the file: all writes go through one writer thread (group commit, see
``_worker``); reads use a second connection, so a read never waits for an fsync. WAL mode
lets them run side by side. ``SqliteStore`` is the repositories over it; the outbox over the
same database is ``pushgate.queue.sqlite.SqliteOutbox``.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Callable, Sequence
from operator import itemgetter
from pathlib import Path
from typing import Any, TypeVar

import orjson

from pushgate.files import DIR_MODE, private_file, tighten
from pushgate.store import schema
from pushgate.store._checkpointer import BACKSTOP_PAGES, Checkpointer
from pushgate.store._worker import LOCK_TIMEOUT, SqliteWorker
from pushgate.store.codecs import (
    APP,
    AUDIT,
    CREDENTIAL,
    DEVICE,
    FEEDBACK,
    KEY,
    WEBHOOK,
    WEBHOOK_CALL,
)
from pushgate.store.models import (
    DEFAULT_KEY,
    PLATFORMS,
    ApiKey,
    App,
    AuditEntry,
    Device,
    DeviceFeedback,
    StoredCredential,
    Webhook,
    WebhookCall,
    new_key,
)

T = TypeVar("T")

_DEVICE_COLUMNS = DEVICE.select_list()
_DEVICE_ORDER = itemgetter(DEVICE.fields.index("created_at"), DEVICE.fields.index("id"))
_APP_COLUMNS = APP.select_list()
_CREDENTIAL_COLUMNS = CREDENTIAL.select_list()
_AUDIT_COLUMNS = AUDIT.select_list()
_FEEDBACK_COLUMNS = FEEDBACK.select_list()
_WEBHOOK_COLUMNS = WEBHOOK.select_list()
_WEBHOOK_CALL_COLUMNS = WEBHOOK_CALL.select_list()
_KEY_COLUMNS = KEY.select_list()


# The hot statements take and give whole batches as one JSON text (json_each in,
# json_group_array out): one sqlite3 call per batch instead of one per row. Each call releases
# the GIL, and under load the event-loop thread holds it, so per-row calls made the writer
# thread wait for the GIL once per row (bench/ingest: the writer was the bottleneck at 5k/s).


_DEVICES_OF_USERS = (
    f"SELECT json_group_array(json_array({_DEVICE_COLUMNS})) FROM devices WHERE app_id = ? "
    "AND user_id IN (SELECT value FROM json_each(?)) AND active = 1"
)
_DEVICES_BY_TOKENS = (
    f"SELECT json_group_array(json_array({_DEVICE_COLUMNS})) FROM devices WHERE app_id = ? "
    f"AND platform IN {PLATFORMS!r} AND token IN (SELECT value FROM json_each(?))"
)
"""Naming every platform lets the (app_id, platform, token) index find the tokens."""


def json_rows(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> list[list[Any]]:
    """The rows of a ``json_group_array(json_array(...))`` query, as lists."""
    rows: list[list[Any]] = orjson.loads(conn.execute(sql, params).fetchone()[0])
    return rows


class SqliteDatabase:
    """One SQLite file: its migrations, its writer thread, its reader and its checkpointer."""

    def __init__(
        self,
        path: Path,
        *,
        synchronous: str = "FULL",
        inline_reads: bool = False,
        checkpoints: bool = True,
    ) -> None:
        """``inline_reads`` runs reads on the caller's thread (see SqliteWorker);
        ``checkpoints=False`` starts no checkpointer, for a process that shares the file
        with one that checkpoints it (the dispatcher process beside the API's)."""
        self.path = path
        self._synchronous = synchronous
        self.writer = SqliteWorker(
            self._connect, name="pushgate-db-writer", writer=True, synchronous=synchronous
        )
        self.reader = SqliteWorker(
            self._connect, name="pushgate-db-reader", writer=False, inline=inline_reads
        )
        self._checkpointer = Checkpointer(self._connect) if checkpoints else None

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute(f"PRAGMA busy_timeout={int(LOCK_TIMEOUT * 1000)}")
        conn.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")  # see Checkpointer
        return conn

    def open(self) -> list[str]:
        """Create the file if needed (0600, as SQLite's -wal and -shm files then are), apply
        migrations, start the worker threads."""
        self.path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        private_file(self.path)
        for suffix in ("-wal", "-shm"):
            tighten(self.path.with_name(self.path.name + suffix))
        conn = self._connect()
        try:
            applied = schema.migrate(conn)
        finally:
            conn.close()
        self.writer.start()
        self.reader.start()
        if self._checkpointer is not None:
            self._checkpointer.start()
        return applied

    def close(self) -> None:
        """Drain queued writes and close the connections."""
        if self._checkpointer is not None:
            self._checkpointer.stop()
        self.writer.stop()
        self.reader.stop()

    async def write(self, job: Callable[[sqlite3.Connection], T], *, durable: bool = True) -> T:
        """Run ``job(conn)`` on the writer connection, in its own savepoint of a group commit.

        For repositories that share this database file (``chat_sqlite``). ``durable=False``:
        see ``SqliteWorker.run``.
        """
        result: T = await self.writer.run(job, durable=durable)
        return result

    async def read(self, job: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``job(conn)`` on the reader connection."""
        result: T = await self.reader.run(job)
        return result


class SqliteStore:
    """The repositories (``store.base.Store``) over one SQLite database."""

    def __init__(self, database: SqliteDatabase) -> None:
        self._writer = database.writer
        self._reader = database.reader

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
        """A new app with its default manage key, or None when the name is taken."""
        app = App(
            id="app_" + secrets.token_hex(8),
            name=name,
            api_key_prefix=api_key_prefix,
            created_at=time.time(),
        )

        def write(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(  # api_key_hash: never read, see migration 0051
                "INSERT OR IGNORE INTO apps (id, name, api_key_hash, api_key_prefix, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (app.id, name, app.id, api_key_prefix, app.created_at),
            )
            if cur.rowcount != 1:
                return False
            default = new_key(app.id, "manage", DEFAULT_KEY, api_key_prefix, None)
            _insert_key(conn, default, api_key_hash)
            return True

        return app if await self._writer.run(write) else None

    async def list_apps(self) -> list[App]:
        """Every app, oldest first."""
        rows = await self._reader.run(
            lambda c: c.execute(
                f"SELECT {_APP_COLUMNS} FROM apps ORDER BY created_at, id"
            ).fetchall()
        )
        return [APP.decode(row) for row in rows]

    # -- keys ---------------------------------------------------------------------------

    async def create_key(
        self,
        *,
        app_id: str | None,
        scope: str,
        name: str,
        key_hash: str,
        key_prefix: str,
        rate_limit: int | None = None,
    ) -> ApiKey:
        """A new key (``app_id`` None: an admin key)."""
        key = new_key(app_id, scope, name, key_prefix, rate_limit)
        await self._writer.run(lambda c: _insert_key(c, key, key_hash))
        return key

    async def list_keys(self, app_id: str | None = None) -> list[ApiKey]:
        """Keys oldest first: one app's, or every key."""
        rows = await self._reader.run(
            lambda c: c.execute(
                f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE ? IS NULL OR app_id = ? "
                "ORDER BY created_at, id",
                (app_id, app_id),
            ).fetchall()
        )
        return [KEY.decode(row) for row in rows]

    async def key_by_hash(self, key_hash: str, now: float) -> tuple[ApiKey, App | None] | None:
        """The usable key with this hash, and its app."""
        row = await self._reader.run(lambda c: c.execute(_KEY_BY_HASH, (key_hash, now)).fetchone())
        return _key_and_app(row) if row else None

    async def rotate_key(
        self, key_id: str, key_hash: str, key_prefix: str, *, previous_valid_until: float
    ) -> ApiKey | None:
        """A new key like ``key_id``; the old one expires at ``previous_valid_until``."""

        def write(conn: sqlite3.Connection) -> ApiKey | None:
            row = conn.execute(
                f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE id = ?", (key_id,)
            ).fetchone()
            old = KEY.decode(row) if row else None
            if old is None or old.revoked_at is not None or old.expires_at is not None:
                return None
            new = new_key(old.app_id, old.scope, old.name, key_prefix, old.rate_limit)
            conn.execute(
                "UPDATE api_keys SET expires_at = ? WHERE id = ?", (previous_valid_until, key_id)
            )
            _insert_key(conn, new, key_hash)
            if old.app_id is not None and old.name == DEFAULT_KEY:
                conn.execute(
                    "UPDATE apps SET api_key_prefix = ? WHERE id = ?", (key_prefix, old.app_id)
                )
            return new

        return await self._writer.run(write)

    async def revoke_key(self, key_id: str, now: float) -> bool:
        """Stop a key at once."""
        cur = await self._writer.run(
            lambda c: c.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (now, key_id),
            )
        )
        return bool(cur.rowcount == 1)

    async def touch_keys(self, used: Sequence[tuple[str, float]]) -> None:
        """Record when keys were last used (not fsynced on its own)."""
        await self._writer.run(
            lambda c: c.executemany(
                "UPDATE api_keys SET last_used_at = ? WHERE id = ?",
                [(at, key_id) for key_id, at in used],
            ),
            durable=False,
        )

    async def delete_app(self, app_id: str) -> bool:
        """Remove an app with its credentials, devices and notifications; False if unknown."""

        def write(conn: sqlite3.Connection) -> bool:  # the rest goes by ON DELETE CASCADE
            conn.execute(
                "UPDATE outbox_depth SET pending = pending - coalesce((SELECT pending FROM "
                "outbox_depth WHERE app_id = ?1), 0) WHERE app_id = ''",
                (app_id,),
            )
            conn.execute("DELETE FROM outbox_depth WHERE app_id = ?", (app_id,))
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
            f"SELECT {_CREDENTIAL_COLUMNS} FROM credentials WHERE app_id = ?"
            + (" AND platform = ?" if platform else "")
            + " ORDER BY platform, name"
        )
        params = (app_id, platform) if platform else (app_id,)
        rows = await self._reader.run(lambda c: c.execute(sql, params).fetchall())
        return [CREDENTIAL.decode(row) for row in rows]

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

    async def reseal_credentials(self, reseal: Callable[[bytes], bytes]) -> int:
        """Re-encrypt every credential's secret in one transaction."""

        def write(conn: sqlite3.Connection) -> int:
            rows = conn.execute("SELECT id, secret FROM credentials").fetchall()
            conn.executemany(
                "UPDATE credentials SET secret = ? WHERE id = ?",
                [(reseal(bytes(secret)), row_id) for row_id, secret in rows],
            )
            hooks = conn.execute("SELECT id, secret FROM webhooks").fetchall()
            conn.executemany(
                "UPDATE webhooks SET secret = ? WHERE id = ?",
                [(reseal(bytes(secret)), hook_id) for hook_id, secret in hooks],
            )
            return len(rows)

        return await self._writer.run(write)

    # -- audit --------------------------------------------------------------------------

    async def record_audit(
        self, *, actor: str, app_id: str | None, action: str, target: str
    ) -> None:
        """Append one entry."""
        await self._writer.run(
            lambda c: c.execute(
                "INSERT INTO audit_log (at, actor, app_id, action, target) VALUES (?, ?, ?, ?, ?)",
                (time.time(), actor, app_id, action, target),
            )
        )

    async def list_audit(
        self, *, app_id: str | None = None, before: int | None = None, limit: int = 100
    ) -> list[AuditEntry]:
        """Entries newest first (of one app when given), with ids below ``before``."""
        rows = await self._reader.run(
            lambda c: c.execute(
                f"SELECT {_AUDIT_COLUMNS} FROM audit_log WHERE (? IS NULL OR app_id = ?) "
                "AND (? IS NULL OR id < ?) ORDER BY id DESC LIMIT ?",
                (app_id, app_id, before, before, limit),
            ).fetchall()
        )
        return [AUDIT.decode(row) for row in rows]

    # -- feedback and webhooks ----------------------------------------------------------

    async def list_feedback(self, app_id: str, *, after: int, limit: int) -> list[DeviceFeedback]:
        """Deactivations of the app with ids above ``after``, oldest first."""
        rows = await self._reader.run(
            lambda c: c.execute(
                f"SELECT {_FEEDBACK_COLUMNS} FROM device_feedback WHERE app_id = ? AND id > ? "
                "ORDER BY id LIMIT ?",
                (app_id, after, limit),
            ).fetchall()
        )
        return [FEEDBACK.decode(row) for row in rows]

    async def create_webhook(
        self, app_id: str, url: str, events: Sequence[str], secret: bytes
    ) -> Webhook:
        """A new webhook (``secret`` sealed)."""
        hook = Webhook(
            id="wh_" + secrets.token_hex(8),
            app_id=app_id,
            url=url,
            events=list(events),
            secret=secret,
            created_at=time.time(),
        )
        await self._writer.run(
            lambda c: c.execute(
                f"INSERT INTO webhooks ({_WEBHOOK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                (hook.id, app_id, url, json.dumps(hook.events), secret, hook.created_at),
            )
        )
        return hook

    async def list_webhooks(self, app_id: str) -> list[Webhook]:
        """The app's webhooks, oldest first."""
        rows = await self._reader.run(
            lambda c: c.execute(
                f"SELECT {_WEBHOOK_COLUMNS} FROM webhooks WHERE app_id = ? ORDER BY created_at",
                (app_id,),
            ).fetchall()
        )
        return [WEBHOOK.decode(row) for row in rows]

    async def delete_webhook(self, app_id: str, webhook_id: str) -> bool:
        """Remove a webhook and its queued calls; False when there was none."""
        cur = await self._writer.run(
            lambda c: c.execute(
                "DELETE FROM webhooks WHERE app_id = ? AND id = ?", (app_id, webhook_id)
            )
        )
        return cur.rowcount == 1

    async def list_webhook_calls(
        self, app_id: str, webhook_id: str, *, before: int | None, limit: int
    ) -> list[WebhookCall]:
        """The webhook's delivery log, newest first, with ids below ``before``."""
        rows = await self._reader.run(
            lambda c: c.execute(
                f"SELECT {WEBHOOK_CALL.select_list('k')} FROM webhook_calls k "
                "JOIN webhooks w ON w.id = k.webhook_id WHERE w.app_id = ? AND w.id = ? "
                "AND (? IS NULL OR k.id < ?) ORDER BY k.id DESC LIMIT ?",
                (app_id, webhook_id, before, before, limit),
            ).fetchall()
        )
        return [WEBHOOK_CALL.decode(row) for row in rows]

    async def claim_webhook_calls(
        self, now: float, *, lease: float, limit: int
    ) -> list[tuple[WebhookCall, Webhook]]:
        """Pending calls due by ``now``, oldest first, held for ``lease`` seconds."""
        width = len(WEBHOOK_CALL.fields)

        def write(conn: sqlite3.Connection) -> list[tuple[WebhookCall, Webhook]]:
            rows = conn.execute(
                f"SELECT {WEBHOOK_CALL.select_list('k')}, {WEBHOOK.select_list('w')} "
                "FROM webhook_calls k JOIN webhooks w ON w.id = k.webhook_id "
                "WHERE k.state = 'pending' AND k.next_attempt_at <= ? ORDER BY k.id LIMIT ?",
                (now, limit),
            ).fetchall()
            conn.executemany(
                "UPDATE webhook_calls SET next_attempt_at = ? WHERE id = ?",
                [(now + lease, row[0]) for row in rows],
            )
            return [(WEBHOOK_CALL.decode(row[:width]), WEBHOOK.decode(row[width:])) for row in rows]

        return await self._writer.run(write, durable=False)

    async def finish_webhook_call(
        self,
        call_id: int,
        *,
        state: str,
        attempts: int,
        next_attempt_at: float,
        status: int | None,
        error: str | None,
        at: float,
    ) -> None:
        """Write what one try of a call came to."""
        delivered_at = at if state == "delivered" else None
        await self._writer.run(
            lambda c: c.execute(
                "UPDATE webhook_calls SET state = ?, attempts = ?, next_attempt_at = ?, "
                "last_status = ?, last_error = ?, delivered_at = ? WHERE id = ?",
                (state, attempts, next_attempt_at, status, error, delivered_at, call_id),
            )
        )

    async def purge_feedback(self, before: float) -> int:
        """Erase old feedback rows and finished webhook calls."""

        def write(conn: sqlite3.Connection) -> int:
            feedback = conn.execute("DELETE FROM device_feedback WHERE recorded_at < ?", (before,))
            calls = conn.execute(
                "DELETE FROM webhook_calls WHERE state != 'pending' AND created_at < ?", (before,)
            )
            return int(feedback.rowcount + calls.rowcount)

        return await self._writer.run(write)

    # -- devices ------------------------------------------------------------------------

    async def register_device(
        self,
        *,
        app_id: str,
        user_id: str,
        platform: str,
        token: str,
        apns_environment: str | None,
        fcm_credential: str | None,
        extra: dict[str, Any] | None,
        max_per_user: int,
    ) -> tuple[Device, list[Device]]:
        """Register (or move, or reactivate) a token; returns it and the devices dropped."""

        def write(conn: sqlite3.Connection) -> tuple[Device, list[Device]]:
            now = time.time()
            conn.execute(
                "INSERT INTO devices (app_id, user_id, platform, token, apns_environment, "
                "fcm_credential, extra, active, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?) "
                "ON CONFLICT (app_id, platform, token) DO UPDATE SET user_id = excluded.user_id, "
                "apns_environment = excluded.apns_environment, "
                "fcm_credential = excluded.fcm_credential, extra = excluded.extra, active = 1, "
                "inactive_reason = NULL, inactive_since = NULL, created_at = excluded.created_at, "
                "updated_at = excluded.updated_at",
                (app_id, user_id, platform, token, apns_environment, fcm_credential,
                 json_or_none(extra), now, now),
            )  # fmt: skip
            device = DEVICE.decode(
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
        return [DEVICE.decode(row) for row in rows]

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
        return await self._reader.run(lambda conn: _devices(conn, sql, app_id, values))


def active_devices_of_users(
    conn: sqlite3.Connection, app_id: str, user_ids: Sequence[str]
) -> list[Device]:
    """``SqliteStore.active_devices_of_users`` inside another repository's job (the chat
    post's one read)."""
    return _devices(conn, _DEVICES_OF_USERS, app_id, user_ids)


def _devices(
    conn: sqlite3.Connection, sql: str, app_id: str, values: Sequence[str]
) -> list[Device]:
    found = json_rows(conn, sql, (app_id, json_text(list(values))))
    found.sort(key=_DEVICE_ORDER)  # aggregate order is not promised
    return [DEVICE.decode(row) for row in found]


_KEY_BY_HASH = (
    f"SELECT {KEY.select_list('k')}, {APP.select_list('a')} FROM api_keys k "
    "LEFT JOIN apps a ON a.id = k.app_id WHERE k.key_hash = ? AND k.revoked_at IS NULL "
    "AND (k.expires_at IS NULL OR k.expires_at > ?)"
)


def _key_and_app(row: Sequence[Any]) -> tuple[ApiKey, App | None]:
    """A key and its app (None for an admin key) from a ``_KEY_BY_HASH`` row."""
    split = len(KEY.fields)
    key = KEY.decode(row[:split])
    return key, APP.decode(row[split:]) if key.app_id is not None else None


def _insert_key(conn: sqlite3.Connection, key: ApiKey, key_hash: str) -> None:
    conn.execute(
        "INSERT INTO api_keys (id, app_id, scope, name, key_hash, key_prefix, rate_limit, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (key.id, key.app_id, key.scope, key.name, key_hash, key.key_prefix, key.rate_limit,
         key.created_at),
    )  # fmt: skip


def _drop_oldest(conn: sqlite3.Connection, app_id: str, user_id: str, keep: int) -> list[Device]:
    rows = conn.execute(
        f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE app_id = ? AND user_id = ? "
        "ORDER BY created_at DESC, id DESC LIMIT -1 OFFSET ?",
        (app_id, user_id, keep),
    ).fetchall()
    dropped = [DEVICE.decode(row) for row in rows]
    conn.executemany("DELETE FROM devices WHERE id = ?", [(d.id,) for d in dropped])
    return dropped


def json_or_none(value: dict[str, Any] | None) -> str | None:
    return json_text(value) if value else None


def json_text(value: Any) -> str:
    """JSON as text: SQLite's JSON functions refuse BLOBs, which is what bytes bind as."""
    return orjson.dumps(value).decode()
