"""The PostgreSQL backend: repositories over one database that several gateways share.

Driver: asyncpg, chosen by measurement (bench/pg_drivers.py, same server, same run): a
1,000-row ``unnest`` insert took 9.3 ms against psycopg 3's 14.6 ms and a one-row look-up
55 µs against 71 µs; both are asyncio-native, and asyncpg's LISTEN support is what the
outbox's wake-ups use.

Times are stored as seconds since the epoch, as in SQLite, so both backends hand out the
same records through the same codecs. Each change of credentials is announced on the
``pushgate_credentials`` channel, so every gateway's dispatcher reloads them at once.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any

import asyncpg
import orjson

from pushgate.config import StoreSettings
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

CREDENTIALS_CHANNEL = "pushgate_credentials"
OUTBOX_CHANNEL = "pushgate_outbox"
_CHANNEL_LENGTH = 63
"""PostgreSQL's longest identifier (NAMEDATALEN - 1): a longer channel name is an error."""


def channel_sql(base: str) -> str:
    """SQL for the schema's channel named ``base`` (as ``PostgresDatabase.channel`` names it).

    LISTEN/NOTIFY channels belong to the whole database, so gateways on two schemas of one
    database (test runs side by side, two installations) would wake each other up; the
    channel names carry the schema."""
    return f"left('{base}.' || current_schema(), {_CHANNEL_LENGTH})"


MIGRATIONS = "pushgate.store.migrations"
_MIGRATION_LOCK = 0x70757368  # any constant: serializes gateways migrating at once

_DEVICE_COLUMNS = DEVICE.select_list()
_APP_COLUMNS = APP.select_list()
_CREDENTIAL_COLUMNS = CREDENTIAL.select_list()
_AUDIT_COLUMNS = AUDIT.select_list()
_FEEDBACK_COLUMNS = FEEDBACK.select_list()
_WEBHOOK_COLUMNS = WEBHOOK.select_list()
_KEY_COLUMNS = KEY.select_list()


def json_text(value: Any) -> str:
    """JSON as text, for TEXT and JSONB parameters."""
    return orjson.dumps(value).decode()


class PostgresDatabase:
    """A connection pool to the configured database, its schema and its migrations."""

    def __init__(self, settings: StoreSettings) -> None:
        assert settings.url is not None  # StoreSettings refuses postgresql without a URL
        self._url = settings.url.get_secret_value()
        self._schema = settings.schema_name
        self._pool_size = settings.pool_size
        self._pool: asyncpg.Pool | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        """The open pool (``open`` first)."""
        if self._pool is None:
            raise RuntimeError("the PostgreSQL store is not open")
        return self._pool

    def channel(self, base: str) -> str:
        """This schema's channel named ``base`` (see ``channel_sql``)."""
        return f"{base}.{self._schema}"[:_CHANNEL_LENGTH]

    async def connect(self) -> asyncpg.Connection:
        """A connection of its own (for LISTEN), on the same schema."""
        return await asyncpg.connect(self._url, server_settings=self._server_settings())

    async def open(self) -> list[str]:
        """Create the schema if needed, apply pending migrations, open the pool."""
        conn = await asyncpg.connect(self._url)
        try:
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self._schema}"')
            await conn.execute(f'SET search_path TO "{self._schema}"')
            applied = await _migrate(conn)
        finally:
            await conn.close()
        self._pool = await asyncpg.create_pool(
            self._url,
            min_size=1,
            max_size=self._pool_size,
            server_settings=self._server_settings(),
        )
        return applied

    async def close(self) -> None:
        """Close every connection (in-flight queries finish first)."""
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    def _server_settings(self) -> dict[str, str]:
        return {"search_path": f'"{self._schema}"', "application_name": "pushgate"}


async def _migrate(conn: asyncpg.Connection) -> list[str]:
    """Apply every pending migration, each in its own transaction, one gateway at a time."""
    folder = resources.files(MIGRATIONS).joinpath("postgresql")
    shipped = sorted(
        (int(entry.name.split("_", 1)[0]), entry.name, entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".sql")
    )
    applied = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
            "name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)"
        )
        version = await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
        for number, name, sql in shipped:
            if number <= version:
                continue
            async with conn.transaction():  # a savepoint: one failed file undoes only itself
                await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                    number,
                    name,
                    time.time(),
                )
            applied.append(name)
    return applied


class PostgresStore:
    """The repositories (``store.base.Store``) over a shared PostgreSQL database."""

    def __init__(self, database: PostgresDatabase) -> None:
        self._db = database

    # -- meta ---------------------------------------------------------------------------

    async def get_meta(self, key: str) -> str | None:
        """A value of the key/value meta table."""
        value: str | None = await self._db.pool.fetchval(
            "SELECT value FROM meta WHERE key = $1", key
        )
        return value

    async def set_meta_if_absent(self, key: str, value: str) -> bool:
        """Store ``value`` unless the key exists; True when it was stored."""
        status = await self._db.pool.execute(
            "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT DO NOTHING", key, value
        )
        return bool(status == "INSERT 0 1")

    async def set_meta(self, key: str, value: str) -> None:
        """Store ``value`` under the key, replacing any."""
        await self._db.pool.execute(
            "INSERT INTO meta (key, value) VALUES ($1, $2) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            key,
            value,
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
        async with self._db.pool.acquire() as conn, conn.transaction():
            status = await conn.execute(
                "INSERT INTO apps (id, name, api_key_prefix, created_at) "
                "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                app.id,
                name,
                api_key_prefix,
                app.created_at,
            )
            if status != "INSERT 0 1":
                return None
            default = new_key(app.id, "manage", DEFAULT_KEY, api_key_prefix, None)
            await _insert_key(conn, default, api_key_hash)
        return app

    async def list_apps(self) -> list[App]:
        """Every app, oldest first."""
        rows = await self._db.pool.fetch(f"SELECT {_APP_COLUMNS} FROM apps ORDER BY created_at, id")
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
        async with self._db.pool.acquire() as conn:
            await _insert_key(conn, key, key_hash)
        return key

    async def list_keys(self, app_id: str | None = None) -> list[ApiKey]:
        """Keys oldest first: one app's, or every key."""
        rows = await self._db.pool.fetch(
            f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE $1::text IS NULL OR app_id = $1 "
            "ORDER BY created_at, id",
            app_id,
        )
        return [KEY.decode(row) for row in rows]

    async def key_by_hash(self, key_hash: str, now: float) -> tuple[ApiKey, App | None] | None:
        """The usable key with this hash, and its app."""
        row = await self._db.pool.fetchrow(
            f"SELECT {KEY.select_list('k')}, {APP.select_list('a')} FROM api_keys k "
            "LEFT JOIN apps a ON a.id = k.app_id WHERE k.key_hash = $1 AND k.revoked_at IS NULL "
            "AND (k.expires_at IS NULL OR k.expires_at > $2)",
            key_hash,
            now,
        )
        if row is None:
            return None
        values = tuple(row)
        key = KEY.decode(values[: len(KEY.fields)])
        app = APP.decode(values[len(KEY.fields) :]) if key.app_id is not None else None
        return key, app

    async def rotate_key(
        self, key_id: str, key_hash: str, key_prefix: str, *, previous_valid_until: float
    ) -> ApiKey | None:
        """A new key like ``key_id``; the old one expires at ``previous_valid_until``."""
        async with self._db.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE id = $1 FOR UPDATE", key_id
            )
            old = KEY.decode(tuple(row)) if row else None
            if old is None or old.revoked_at is not None or old.expires_at is not None:
                return None
            new = new_key(old.app_id, old.scope, old.name, key_prefix, old.rate_limit)
            await conn.execute(
                "UPDATE api_keys SET expires_at = $1 WHERE id = $2", previous_valid_until, key_id
            )
            await _insert_key(conn, new, key_hash)
            if old.app_id is not None and old.name == DEFAULT_KEY:
                await conn.execute(
                    "UPDATE apps SET api_key_prefix = $1 WHERE id = $2", key_prefix, old.app_id
                )
        return new

    async def revoke_key(self, key_id: str, now: float) -> bool:
        """Stop a key at once."""
        status = await self._db.pool.execute(
            "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
            now,
            key_id,
        )
        return bool(status == "UPDATE 1")

    async def touch_keys(self, used: Sequence[tuple[str, float]]) -> None:
        """Record when keys were last used."""
        await self._db.pool.executemany(
            "UPDATE api_keys SET last_used_at = $1 WHERE id = $2",
            [(at, key_id) for key_id, at in used],
        )

    async def delete_app(self, app_id: str) -> bool:
        """Remove an app with its credentials, devices and notifications; False if unknown.
        Its deliveries and their outbox rows go first (no foreign key cascades to them), once
        the app's row is locked, so no accept of the app commits in between."""
        async with self._db.pool.acquire() as conn, conn.transaction():
            if await conn.fetchval("SELECT 1 FROM apps WHERE id = $1 FOR UPDATE", app_id) is None:
                return False
            await conn.execute(
                "WITH gone AS (DELETE FROM outbox_depth WHERE app_id = $1 RETURNING pending) "
                "INSERT INTO outbox_depth (app_id, shard, pending) "
                "SELECT '', pg_backend_pid() % 16, -coalesce(sum(pending), 0) FROM gone "
                "ON CONFLICT (app_id, shard) DO UPDATE "
                "SET pending = outbox_depth.pending + excluded.pending",
                app_id,
            )
            await conn.execute(
                "WITH d AS (DELETE FROM deliveries WHERE app_id = $1 RETURNING id, state) "
                "DELETE FROM outbox WHERE id IN (SELECT id FROM d WHERE state = 'pending')",
                app_id,
            )
            status = await conn.execute("DELETE FROM apps WHERE id = $1", app_id)
        return bool(status == "DELETE 1")

    # -- credentials --------------------------------------------------------------------

    async def put_credential(
        self, app_id: str, platform: str, name: str, summary: dict[str, Any], secret: bytes
    ) -> StoredCredential:
        """Store a credential, replacing one of the same platform and name."""
        async with self._db.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "INSERT INTO credentials (id, app_id, platform, name, summary, secret, "
                "created_at) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7) "
                "ON CONFLICT (app_id, platform, name) DO UPDATE SET id = excluded.id, "
                "summary = excluded.summary, secret = excluded.secret, "
                f"created_at = excluded.created_at RETURNING {_CREDENTIAL_COLUMNS}",
                "cred_" + secrets.token_hex(8),
                app_id,
                platform,
                name,
                json_text(summary),
                secret,
                time.time(),
            )
            await _announce_credentials(conn, app_id)
        return CREDENTIAL.decode(row)

    async def list_credentials(
        self, app_id: str, platform: str | None = None
    ) -> list[StoredCredential]:
        """An app's credentials (with their encrypted secrets), optionally of one platform."""
        rows = await self._db.pool.fetch(
            f"SELECT {_CREDENTIAL_COLUMNS} FROM credentials WHERE app_id = $1 "
            "AND ($2::text IS NULL OR platform = $2) ORDER BY platform, name",
            app_id,
            platform,
        )
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
        await self._db.pool.execute(
            "UPDATE credentials SET summary = jsonb_set(summary, ARRAY[$1::text], $2::jsonb) "
            "WHERE app_id = $3 AND platform = $4 AND name = $5",
            field,
            json_text(value),
            app_id,
            platform,
            name,
        )

    async def delete_credential(self, app_id: str, platform: str, name: str) -> bool:
        """Remove a credential; False when there was none."""
        async with self._db.pool.acquire() as conn, conn.transaction():
            status = await conn.execute(
                "DELETE FROM credentials WHERE app_id = $1 AND platform = $2 AND name = $3",
                app_id,
                platform,
                name,
            )
            await _announce_credentials(conn, app_id)
        return bool(status == "DELETE 1")

    async def reseal_credentials(self, reseal: Callable[[bytes], bytes]) -> int:
        """Re-encrypt every credential's secret in one transaction (rows locked meanwhile)."""
        async with self._db.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch("SELECT id, secret FROM credentials FOR UPDATE")
            await conn.executemany(
                "UPDATE credentials SET secret = $1 WHERE id = $2",
                [(reseal(bytes(row["secret"])), row["id"]) for row in rows],
            )
            hooks = await conn.fetch("SELECT id, secret FROM webhooks FOR UPDATE")
            await conn.executemany(
                "UPDATE webhooks SET secret = $1 WHERE id = $2",
                [(reseal(bytes(row["secret"])), row["id"]) for row in hooks],
            )
        return len(rows)

    # -- audit --------------------------------------------------------------------------

    async def record_audit(
        self, *, actor: str, app_id: str | None, action: str, target: str
    ) -> None:
        """Append one entry."""
        await self._db.pool.execute(
            "INSERT INTO audit_log (at, actor, app_id, action, target) VALUES ($1, $2, $3, $4, $5)",
            time.time(),
            actor,
            app_id,
            action,
            target,
        )

    async def list_audit(
        self, *, app_id: str | None = None, before: int | None = None, limit: int = 100
    ) -> list[AuditEntry]:
        """Entries newest first (of one app when given), with ids below ``before``."""
        rows = await self._db.pool.fetch(
            f"SELECT {_AUDIT_COLUMNS} FROM audit_log WHERE ($1::text IS NULL OR app_id = $1) "
            "AND ($2::bigint IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
            app_id,
            before,
            limit,
        )
        return [AUDIT.decode(row) for row in rows]

    # -- feedback and webhooks ----------------------------------------------------------

    async def list_feedback(self, app_id: str, *, after: int, limit: int) -> list[DeviceFeedback]:
        """Deactivations of the app with ids above ``after``, oldest first."""
        rows = await self._db.pool.fetch(
            f"SELECT {_FEEDBACK_COLUMNS} FROM device_feedback WHERE app_id = $1 AND id > $2 "
            "ORDER BY id LIMIT $3",
            app_id,
            after,
            limit,
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
        await self._db.pool.execute(
            f"INSERT INTO webhooks ({_WEBHOOK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)",
            hook.id,
            app_id,
            url,
            json_text(hook.events),
            secret,
            hook.created_at,
        )
        return hook

    async def list_webhooks(self, app_id: str) -> list[Webhook]:
        """The app's webhooks, oldest first."""
        rows = await self._db.pool.fetch(
            f"SELECT {_WEBHOOK_COLUMNS} FROM webhooks WHERE app_id = $1 ORDER BY created_at",
            app_id,
        )
        return [WEBHOOK.decode(row) for row in rows]

    async def delete_webhook(self, app_id: str, webhook_id: str) -> bool:
        """Remove a webhook and its queued calls; False when there was none."""
        status = await self._db.pool.execute(
            "DELETE FROM webhooks WHERE app_id = $1 AND id = $2", app_id, webhook_id
        )
        return bool(status == "DELETE 1")

    async def list_webhook_calls(
        self, app_id: str, webhook_id: str, *, before: int | None, limit: int
    ) -> list[WebhookCall]:
        """The webhook's delivery log, newest first, with ids below ``before``."""
        rows = await self._db.pool.fetch(
            f"SELECT {WEBHOOK_CALL.select_list('k')} FROM webhook_calls k "
            "JOIN webhooks w ON w.id = k.webhook_id WHERE w.app_id = $1 AND w.id = $2 "
            "AND ($3::bigint IS NULL OR k.id < $3) ORDER BY k.id DESC LIMIT $4",
            app_id,
            webhook_id,
            before,
            limit,
        )
        return [WEBHOOK_CALL.decode(row) for row in rows]

    async def claim_webhook_calls(
        self, now: float, *, lease: float, limit: int
    ) -> list[tuple[WebhookCall, Webhook]]:
        """Pending calls due by ``now``, oldest first, held for ``lease`` seconds (rows other
        gateways are claiming are skipped)."""
        width = len(WEBHOOK_CALL.fields)
        async with self._db.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                f"SELECT {WEBHOOK_CALL.select_list('k')}, {WEBHOOK.select_list('w')} "
                "FROM webhook_calls k JOIN webhooks w ON w.id = k.webhook_id "
                "WHERE k.state = 'pending' AND k.next_attempt_at <= $1 ORDER BY k.id LIMIT $2 "
                "FOR UPDATE OF k SKIP LOCKED",
                now,
                limit,
            )
            await conn.execute(
                "UPDATE webhook_calls SET next_attempt_at = $1 WHERE id = ANY($2::bigint[])",
                now + lease,
                [row[0] for row in rows],
            )
        return [
            (WEBHOOK_CALL.decode(tuple(row)[:width]), WEBHOOK.decode(tuple(row)[width:]))
            for row in rows
        ]

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
        await self._db.pool.execute(
            "UPDATE webhook_calls SET state = $1, attempts = $2, next_attempt_at = $3, "
            "last_status = $4, last_error = $5, delivered_at = $6 WHERE id = $7",
            state,
            attempts,
            next_attempt_at,
            status,
            error,
            at if state == "delivered" else None,
            call_id,
        )

    async def purge_feedback(self, before: float) -> int:
        """Erase old feedback rows and finished webhook calls."""
        async with self._db.pool.acquire() as conn, conn.transaction():
            feedback = await conn.execute(
                "DELETE FROM device_feedback WHERE recorded_at < $1", before
            )
            calls = await conn.execute(
                "DELETE FROM webhook_calls WHERE state != 'pending' AND created_at < $1", before
            )
        return int(feedback.split()[-1]) + int(calls.split()[-1])

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
        now = time.time()
        async with self._db.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "INSERT INTO devices (app_id, user_id, platform, token, apns_environment, "
                "fcm_credential, extra, active, created_at, updated_at) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, TRUE, $8, $8) "
                "ON CONFLICT (app_id, platform, token) DO UPDATE SET user_id = excluded.user_id, "
                "apns_environment = excluded.apns_environment, "
                "fcm_credential = excluded.fcm_credential, extra = excluded.extra, active = TRUE, "
                "inactive_reason = NULL, inactive_since = NULL, created_at = excluded.created_at, "
                f"updated_at = excluded.updated_at RETURNING {_DEVICE_COLUMNS}",
                app_id,
                user_id,
                platform,
                token,
                apns_environment,
                fcm_credential,
                json_text(extra) if extra else None,
                now,
            )
            dropped = await conn.fetch(
                "DELETE FROM devices WHERE id IN (SELECT id FROM devices WHERE app_id = $1 "
                "AND user_id = $2 ORDER BY created_at DESC, id DESC OFFSET $3) "
                f"RETURNING {_DEVICE_COLUMNS}",
                app_id,
                user_id,
                max_per_user,
            )
        return DEVICE.decode(row), _oldest_first([DEVICE.decode(r) for r in dropped])

    async def list_devices(
        self, app_id: str, user_id: str | None = None, *, limit: int = 1000
    ) -> list[Device]:
        """An app's devices (of one user when given), oldest first."""
        rows = await self._db.pool.fetch(
            f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE app_id = $1 "
            "AND ($2::text IS NULL OR user_id = $2) ORDER BY created_at, id LIMIT $3",
            app_id,
            user_id,
            limit,
        )
        return [DEVICE.decode(row) for row in rows]

    async def delete_device(self, app_id: str, token: str, platform: str | None = None) -> int:
        """Delete a device by token; returns how many rows went."""
        status = await self._db.pool.execute(
            "DELETE FROM devices WHERE app_id = $1 AND token = $2 "
            "AND ($3::text IS NULL OR platform = $3)",
            app_id,
            token,
            platform,
        )
        return int(status.split()[-1])

    async def active_devices_of_users(self, app_id: str, user_ids: Sequence[str]) -> list[Device]:
        """Active devices of these users, oldest first."""
        return await active_devices_of_users(self._db.pool, app_id, user_ids)

    async def devices_by_tokens(self, app_id: str, tokens: Sequence[str]) -> list[Device]:
        """Devices (active or not) with these tokens, oldest first. Naming every platform
        lets the (app_id, platform, token) index find the tokens."""
        rows = await self._db.pool.fetch(
            f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE app_id = $1 "
            "AND platform = ANY($2::text[]) AND token = ANY($3::text[]) ORDER BY created_at, id",
            app_id,
            list(PLATFORMS),
            list(tokens),
        )
        return [DEVICE.decode(row) for row in rows]


async def _insert_key(conn: asyncpg.Connection, key: ApiKey, key_hash: str) -> None:
    await conn.execute(
        "INSERT INTO api_keys (id, app_id, scope, name, key_hash, key_prefix, rate_limit, "
        "created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        key.id,
        key.app_id,
        key.scope,
        key.name,
        key_hash,
        key.key_prefix,
        key.rate_limit,
        key.created_at,
    )


def _oldest_first(devices: list[Device]) -> list[Device]:
    return sorted(devices, key=lambda d: (d.created_at, d.id))


async def _announce_credentials(conn: asyncpg.Connection, app_id: str) -> None:
    """Tell every gateway (at commit) that the app's credentials changed."""
    await conn.execute(f"SELECT pg_notify({channel_sql(CREDENTIALS_CHANNEL)}, $1)", app_id)


async def active_devices_of_users(
    conn: asyncpg.Connection | asyncpg.Pool, app_id: str, user_ids: Sequence[str]
) -> list[Device]:
    """Active devices of these users, oldest first; on another repository's connection too
    (the chat post's one read)."""
    rows = await conn.fetch(
        f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE app_id = $1 "
        "AND user_id = ANY($2::text[]) AND active ORDER BY created_at, id",
        app_id,
        list(user_ids),
    )
    return [DEVICE.decode(row) for row in rows]
