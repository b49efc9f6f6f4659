"""The chat repository on PostgreSQL (tables of migration 0041_chat.sql), shared by every
gateway on the database.

Batches go in as arrays (``unnest``), one round trip each; a post's writes (the message, its
thread participants, unread counts, the purge of expired content) are one statement. The purge
skips rows another post is purging at the same moment instead of waiting for them.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import asyncpg
import orjson

from pushgate.engine.chat.preferences import PushPreference
from pushgate.store.chat import (
    AlreadyPosted,
    Channel,
    ChatMessage,
    ChatSettings,
    ChatUser,
    Choose,
    Fetched,
    Member,
    MessageContext,
    Posted,
    PostState,
    UserMute,
)
from pushgate.store.codecs import CHANNEL, CHAT_MESSAGE, CHAT_USER, FETCHED
from pushgate.store.postgresql import PostgresDatabase, active_devices_of_users, json_text

_MESSAGE_COLUMNS = CHAT_MESSAGE.select_list()

_AT = {name: f"${index}" for index, name in enumerate(CHAT_MESSAGE.fields, start=2)}
"""Each message field's parameter in ``_RECORD_MESSAGE`` ($1 is the app id)."""
_PARTICIPANTS = f"${len(CHAT_MESSAGE.fields) + 2}"
_RECORD_MESSAGE = f"""
WITH inserted AS (
    INSERT INTO chat_messages (app_id, {_MESSAGE_COLUMNS})
    VALUES ($1, {", ".join(_AT.values())})
    ON CONFLICT (app_id, id) DO NOTHING RETURNING id
), thread AS (
    INSERT INTO chat_thread_participants (app_id, parent_id, user_id)
    SELECT $1, {_AT["parent_id"]}, u FROM unnest({_PARTICIPANTS}::text[]) AS u
    WHERE {_AT["parent_id"]}::text IS NOT NULL AND EXISTS (SELECT 1 FROM inserted)
    UNION SELECT app_id, id, sender_id FROM chat_messages
    WHERE app_id = $1 AND id = {_AT["parent_id"]} AND EXISTS (SELECT 1 FROM inserted)
    UNION SELECT m.app_id, m.id, j FROM chat_messages m,
        jsonb_array_elements_text(m.mentioned::jsonb) AS j
    WHERE m.app_id = $1 AND m.id = {_AT["parent_id"]} AND EXISTS (SELECT 1 FROM inserted)
    ON CONFLICT DO NOTHING
), unread AS (
    UPDATE chat_members SET unread = unread + 1
    WHERE app_id = $1 AND channel_id = {_AT["channel_id"]} AND user_id <> {_AT["sender_id"]}
    AND EXISTS (SELECT 1 FROM inserted)
), expired_text AS (
    UPDATE chat_messages SET text = NULL WHERE (app_id, id) IN (
        SELECT app_id, id FROM chat_messages WHERE text IS NOT NULL
        AND content_expires_at <= {_AT["created_at"]} FOR UPDATE SKIP LOCKED)
), expired_content AS (
    UPDATE chat_fetch_tokens SET content = NULL WHERE token_hash IN (
        SELECT token_hash FROM chat_fetch_tokens WHERE content IS NOT NULL
        AND expires_at <= {_AT["created_at"]} FOR UPDATE SKIP LOCKED)
)
SELECT EXISTS (SELECT 1 FROM inserted)
"""
"""A post's writes in one statement. The parent's author and those it mentioned are in the
thread too (its participants are written with the reply)."""
_AS_STORED: dict[str, Callable[[Any], Any]] = {
    "mentioned": lambda v: json_text(list(v)),
    "decisions": lambda v: None if v is None else json_text(v),
    "notification_ids": lambda v: None if v is None else json_text(v),
}
_POST_HEAD = """
SELECT (SELECT settings FROM chat_settings WHERE app_id = $1) AS settings,
    ARRAY(SELECT ARRAY[provider_type, event_type, source] FROM chat_templates
        WHERE app_id = $1) AS templates,
    EXISTS (SELECT 1 FROM chat_messages WHERE app_id = $1 AND id = $2) AS posted
"""
"""The app's settings and templates, and whether the message was posted: one round trip."""
_UNREAD_AFTER = """
SELECT user_id, SUM(unread) + COUNT(*) FILTER (WHERE channel_id = $3 AND user_id <> $4) AS total
FROM chat_members WHERE app_id = $1 AND user_id = ANY($2::text[]) GROUP BY user_id
"""
"""Each user's unread total once the message is recorded (``_RECORD_MESSAGE`` counts it in
the channel's mirrored memberships)."""
_THREAD = """
SELECT user_id FROM chat_thread_participants WHERE app_id = $1 AND parent_id = $2
UNION SELECT sender_id FROM chat_messages WHERE app_id = $1 AND id = $2
UNION SELECT jsonb_array_elements_text(mentioned::jsonb) FROM chat_messages
WHERE app_id = $1 AND id = $2
"""
"""A thread's participants: those recorded, and the parent's author and mentions."""

_FETCH = f"""
SELECT {FETCHED.select_list()} FROM (
    SELECT app_id, message_id, notification_id,
        CASE WHEN expires_at > $1 THEN content END AS content
    FROM chat_fetch_tokens WHERE token_hash = $2
) AS token
"""


def _last_per_key(rows: Sequence[tuple[Any, ...]], width: int) -> list[tuple[Any, ...]]:
    """One row per key (the first ``width`` values), the last given winning, as a sequence of
    upserts would leave it: one statement may not update a row twice."""
    return list({row[:width]: row for row in rows}.values())


def _columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows as ``width`` column arrays, for ``unnest``."""
    if not rows:
        return [[] for _ in range(width)]
    return [list(column) for column in zip(*rows, strict=True)]


class PostgresChatStore:
    """``ChatStore`` over the chat tables of a shared PostgreSQL database."""

    def __init__(self, database: PostgresDatabase) -> None:
        self._db = database

    # -- settings -----------------------------------------------------------------------

    async def settings(self, app_id: str) -> ChatSettings:
        text = await self._db.pool.fetchval(
            "SELECT settings FROM chat_settings WHERE app_id = $1", app_id
        )
        return _settings(text)

    async def put_settings(self, app_id: str, settings: ChatSettings) -> None:
        await self._db.pool.execute(
            "INSERT INTO chat_settings (app_id, settings) VALUES ($1, $2) "
            "ON CONFLICT (app_id) DO UPDATE SET settings = excluded.settings",
            app_id,
            json_text(dataclasses.asdict(settings)),
        )

    # -- state the app server mirrors ---------------------------------------------------

    async def upsert_users(self, app_id: str, users: Sequence[ChatUser]) -> None:
        rows = _last_per_key(
            [(u.id, u.name, u.push.level, u.push.disabled_until) for u in users], 1
        )
        await self._db.pool.execute(
            "INSERT INTO chat_users (app_id, id, name, push_level, push_disabled_until, "
            "updated_at) SELECT $1, * , $6 FROM unnest($2::text[], $3::text[], $4::text[], "
            "$5::float8[]) ON CONFLICT (app_id, id) DO UPDATE SET name = excluded.name, "
            "push_level = excluded.push_level, "
            "push_disabled_until = excluded.push_disabled_until, "
            "updated_at = excluded.updated_at",
            app_id,
            *_columns(rows, 4),
            time.time(),
        )

    async def upsert_channels(self, app_id: str, channels: Sequence[Channel]) -> None:
        given = [
            (ch.id, ch.type, ch.name, ch.push_notifications, ch.content_mode,
             ch.push.level, ch.push.disabled_until)
            for ch in channels
        ]  # fmt: skip
        rows = _last_per_key(given, 1)
        await self._db.pool.execute(
            "INSERT INTO chat_channels (app_id, id, type, name, push_notifications, "
            "content_mode, push_level, push_disabled_until, updated_at) SELECT $1, *, $9 "
            "FROM unnest($2::text[], $3::text[], $4::text[], $5::bool[], $6::text[], "
            "$7::text[], $8::float8[]) ON CONFLICT (app_id, id) DO UPDATE SET "
            "type = excluded.type, name = excluded.name, "
            "push_notifications = excluded.push_notifications, "
            "content_mode = excluded.content_mode, push_level = excluded.push_level, "
            "push_disabled_until = excluded.push_disabled_until, "
            "updated_at = excluded.updated_at",
            app_id,
            *_columns(rows, 7),
            time.time(),
        )

    async def upsert_members(self, app_id: str, members: Sequence[Member]) -> None:
        """Unknown channel ids fail the foreign key (the caller checks them first). New
        members join in the order given (``seq``)."""
        given = [
            (m.channel_id, m.user_id, m.push.level, m.push.disabled_until, m.muted,
             m.mute_expires_at)
            for m in members
        ]  # fmt: skip
        rows = _last_per_key(given, 2)
        await self._db.pool.execute(
            "INSERT INTO chat_members (app_id, channel_id, user_id, push_level, "
            "push_disabled_until, muted, mute_expires_at) SELECT $1, c, u, l, d, m, e "
            "FROM unnest($2::text[], $3::text[], $4::text[], $5::float8[], $6::bool[], "
            "$7::float8[]) WITH ORDINALITY AS r(c, u, l, d, m, e, n) ORDER BY n "
            "ON CONFLICT (app_id, channel_id, user_id) DO UPDATE SET "
            "push_level = excluded.push_level, "
            "push_disabled_until = excluded.push_disabled_until, muted = excluded.muted, "
            "mute_expires_at = excluded.mute_expires_at",
            app_id,
            *_columns(rows, 6),
        )

    async def remove_member(self, app_id: str, channel_id: str, user_id: str) -> bool:
        status = await self._db.pool.execute(
            "DELETE FROM chat_members WHERE app_id = $1 AND channel_id = $2 AND user_id = $3",
            app_id,
            channel_id,
            user_id,
        )
        return bool(status == "DELETE 1")

    async def upsert_user_mutes(self, app_id: str, mutes: Sequence[UserMute]) -> None:
        rows = _last_per_key([(m.user_id, m.muted_user_id, m.expires_at) for m in mutes], 2)
        await self._db.pool.execute(
            "INSERT INTO chat_user_mutes (app_id, user_id, muted_user_id, expires_at) "
            "SELECT $1, * FROM unnest($2::text[], $3::text[], $4::float8[]) "
            "ON CONFLICT (app_id, muted_user_id, user_id) "
            "DO UPDATE SET expires_at = excluded.expires_at",
            app_id,
            *_columns(rows, 3),
        )

    async def remove_user_mute(self, app_id: str, user_id: str, muted_user_id: str) -> bool:
        status = await self._db.pool.execute(
            "DELETE FROM chat_user_mutes WHERE app_id = $1 AND user_id = $2 AND muted_user_id = $3",
            app_id,
            user_id,
            muted_user_id,
        )
        return bool(status == "DELETE 1")

    async def add_thread_participants(
        self, app_id: str, parent_id: str, user_ids: Sequence[str]
    ) -> None:
        await self._db.pool.execute(
            "INSERT INTO chat_thread_participants (app_id, parent_id, user_id) "
            "SELECT $1, $2, u FROM unnest($3::text[]) AS u ON CONFLICT DO NOTHING",
            app_id,
            parent_id,
            list(user_ids),
        )

    async def set_presence(self, app_id: str, online_until: Mapping[str, float | None]) -> None:
        online = [(u, t) for u, t in online_until.items() if t is not None]
        offline = [u for u, t in online_until.items() if t is None]
        await self._db.pool.execute(
            "WITH gone AS (DELETE FROM chat_presence WHERE app_id = $1 "
            "AND user_id = ANY($4::text[])) "
            "INSERT INTO chat_presence (app_id, user_id, online_until) "
            "SELECT $1, * FROM unnest($2::text[], $3::float8[]) "
            "ON CONFLICT (app_id, user_id) DO UPDATE SET online_until = excluded.online_until",
            app_id,
            *_columns(online, 2),
            offline,
        )

    async def channel_exists(self, app_id: str, channel_id: str) -> bool:
        found = await self._db.pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM chat_channels WHERE app_id = $1 AND id = $2)",
            app_id,
            channel_id,
        )
        return bool(found)

    async def missing_channels(self, app_id: str, channel_ids: Sequence[str]) -> list[str]:
        """The ids of ``channel_ids`` that name no channel of the app."""
        wanted = list(dict.fromkeys(channel_ids))
        rows = await self._db.pool.fetch(
            "SELECT id FROM chat_channels WHERE app_id = $1 AND id = ANY($2::text[])",
            app_id,
            wanted,
        )
        found = {row["id"] for row in rows}
        return [c for c in wanted if c not in found]

    # -- messages -----------------------------------------------------------------------

    async def post_state(
        self,
        app_id: str,
        message: ChatMessage,
        inline_members: Sequence[str] | None,
        now: float,
        choose: Choose,
    ) -> PostState:
        async with self._db.pool.acquire() as conn:
            head = await conn.fetchrow(_POST_HEAD, app_id, message.id)
            state = PostState(
                settings=_settings(head["settings"]),
                templates={(p, e): source for p, e, source in head["templates"]},
                posted=head["posted"],
            )
            if state.posted:
                return state
            state.context = await _context(conn, app_id, message, inline_members, now)
            if state.context is None:
                return state
            chosen = list(choose(state.settings, state.context))
            if chosen:
                state.devices = await active_devices_of_users(conn, app_id, chosen)
                state.unread = {
                    row["user_id"]: int(row["total"])
                    for row in await conn.fetch(
                        _UNREAD_AFTER, app_id, chosen, message.channel_id, message.sender_id
                    )
                }
        return state

    def record_step(
        self, app_id: str, posted: Posted
    ) -> Callable[[asyncpg.Connection], Awaitable[None]]:
        message = posted.message
        rows = [
            (t.token_hash, t.message_id, t.user_id, t.notification_id, t.content, t.expires_at)
            for t in posted.tokens
        ]

        async def write(conn: asyncpg.Connection) -> None:
            if message is not None:
                participants = [message.sender_id, *message.mentioned] if message.parent_id else []
                values = [_AS_STORED.get(n, _same)(getattr(message, n)) for n in _AT]
                if not await conn.fetchval(_RECORD_MESSAGE, app_id, *values, participants):
                    raise AlreadyPosted(message.id)
            if rows:
                await conn.execute(
                    "INSERT INTO chat_fetch_tokens (token_hash, app_id, message_id, user_id, "
                    "notification_id, content, expires_at) SELECT t, $1, m, u, n, c, e "
                    "FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], "
                    "$7::float8[]) AS r(t, m, u, n, c, e)",
                    app_id,
                    *_columns(rows, 6),
                )

        return write

    async def record(self, app_id: str, posted: Posted) -> None:
        async with self._db.pool.acquire() as conn, conn.transaction():
            await self.record_step(app_id, posted)(conn)

    async def message_context(
        self,
        app_id: str,
        message: ChatMessage,
        inline_members: Sequence[str] | None,
        now: float,
    ) -> MessageContext:
        async with self._db.pool.acquire() as conn:
            found = await _context(conn, app_id, message, inline_members, now)
        return found or MessageContext(channel=None, members=[])

    async def message(self, app_id: str, message_id: str) -> ChatMessage | None:
        row = await self._db.pool.fetchrow(
            f"SELECT {_MESSAGE_COLUMNS} FROM chat_messages WHERE app_id = $1 AND id = $2",
            app_id,
            message_id,
        )
        return CHAT_MESSAGE.decode(row) if row else None

    async def recent_message_ids_for_user(
        self, app_id: str, user_id: str, limit: int, now: float
    ) -> list[str]:
        rows = await self._db.pool.fetch(
            "SELECT m.id FROM chat_members cm JOIN chat_messages m "
            "ON m.app_id = cm.app_id AND m.channel_id = cm.channel_id "
            "WHERE cm.app_id = $1 AND cm.user_id = $2 AND m.text IS NOT NULL "
            "AND m.content_expires_at > $3 ORDER BY m.created_at DESC LIMIT $4",
            app_id,
            user_id,
            now,
            limit,
        )
        return [row["id"] for row in rows]

    async def unread_counts(self, app_id: str, user_ids: Sequence[str]) -> dict[str, int]:
        rows = await self._db.pool.fetch(
            "SELECT user_id, SUM(unread) AS total FROM chat_members WHERE app_id = $1 "
            "AND user_id = ANY($2::text[]) GROUP BY user_id",
            app_id,
            list(user_ids),
        )
        return {row["user_id"]: int(row["total"]) for row in rows}

    async def mark_read(self, app_id: str, channel_id: str, user_id: str) -> int | None:
        # The sum reads the rows as they were before the update: the read channel counts 0.
        row = await self._db.pool.fetchrow(
            "WITH marked AS (UPDATE chat_members SET unread = 0 WHERE app_id = $1 "
            "AND channel_id = $2 AND user_id = $3 RETURNING 1) "
            "SELECT EXISTS (SELECT 1 FROM marked) AS member, "
            "COALESCE(SUM(unread) FILTER (WHERE channel_id <> $2), 0) AS total "
            "FROM chat_members WHERE app_id = $1 AND user_id = $3",
            app_id,
            channel_id,
            user_id,
        )
        return int(row["total"]) if row["member"] else None

    # -- templates ----------------------------------------------------------------------

    async def put_template(
        self, app_id: str, provider_type: str, event_type: str, source: str
    ) -> None:
        await self._db.pool.execute(
            "INSERT INTO chat_templates (app_id, provider_type, event_type, source, "
            "updated_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (app_id, provider_type, "
            "event_type) DO UPDATE SET source = excluded.source, "
            "updated_at = excluded.updated_at",
            app_id,
            provider_type,
            event_type,
            source,
            time.time(),
        )

    async def templates(self, app_id: str) -> dict[tuple[str, str], str]:
        rows = await self._db.pool.fetch(
            "SELECT provider_type, event_type, source FROM chat_templates WHERE app_id = $1",
            app_id,
        )
        return {(row["provider_type"], row["event_type"]): row["source"] for row in rows}

    async def delete_template(self, app_id: str, provider_type: str, event_type: str) -> bool:
        status = await self._db.pool.execute(
            "DELETE FROM chat_templates WHERE app_id = $1 AND provider_type = $2 "
            "AND event_type = $3",
            app_id,
            provider_type,
            event_type,
        )
        return bool(status == "DELETE 1")

    # -- ID-only fetch ------------------------------------------------------------------

    async def fetch(self, token_hash: str, now: float) -> Fetched | None:
        row = await self._db.pool.fetchrow(_FETCH, now, token_hash)
        return FETCHED.decode(row) if row else None


async def _read_members(
    conn: asyncpg.Connection, app_id: str, channel_id: str, context: MessageContext
) -> None:
    """The channel's members in join order, with their own preferences and channel mutes."""
    for row in await conn.fetch(
        "SELECT user_id, push_level, push_disabled_until, muted, mute_expires_at "
        "FROM chat_members WHERE app_id = $1 AND channel_id = $2 ORDER BY seq",
        app_id,
        channel_id,
    ):
        user_id = row["user_id"]
        context.members.append(user_id)
        level, until = row["push_level"], row["push_disabled_until"]
        if level is not None or until is not None:
            context.member_preferences[user_id] = PushPreference(level, until)
        if row["muted"]:
            context.channel_mutes[user_id] = row["mute_expires_at"]


def _settings(text: str | None) -> ChatSettings:
    return ChatSettings(**orjson.loads(text)) if text is not None else ChatSettings()


def _same(value: Any) -> Any:
    return value


async def _context(
    conn: asyncpg.Connection,
    app_id: str,
    message: ChatMessage,
    inline_members: Sequence[str] | None,
    now: float,
) -> MessageContext | None:
    """What the rules and templates read about the message's channel; None when the channel
    does not exist and no members came inline. A reply's thread counts its own sender and
    mentions (recorded with it)."""
    row = await conn.fetchrow(
        f"SELECT {CHANNEL.select_list()} FROM chat_channels WHERE app_id = $1 AND id = $2",
        app_id,
        message.channel_id,
    )
    if row is None and inline_members is None:
        return None
    context = MessageContext(channel=CHANNEL.decode(row) if row else None, members=[])
    if inline_members is not None:
        context.members = list(inline_members)
    else:
        await _read_members(conn, app_id, message.channel_id, context)
    people = [*context.members, message.sender_id]
    for row in await conn.fetch(
        f"SELECT {CHAT_USER.select_list()} FROM chat_users WHERE app_id = $1 "
        "AND id = ANY($2::text[])",
        app_id,
        people,
    ):
        user = CHAT_USER.decode(row)
        context.users[user.id] = user
    context.sender_muted_by = {
        row["user_id"]: row["expires_at"]
        for row in await conn.fetch(
            "SELECT user_id, expires_at FROM chat_user_mutes WHERE app_id = $1 "
            "AND muted_user_id = $2",
            app_id,
            message.sender_id,
        )
    }
    if message.parent_id is not None:
        recorded = await conn.fetch(_THREAD, app_id, message.parent_id)
        context.thread_participants = frozenset(
            [*(r["user_id"] for r in recorded), message.sender_id, *message.mentioned]
        )
    context.online_until = {
        row["user_id"]: row["online_until"]
        for row in await conn.fetch(
            "SELECT user_id, online_until FROM chat_presence WHERE app_id = $1 "
            "AND online_until > $2 AND user_id = ANY($3::text[])",
            app_id,
            now,
            people,
        )
    }
    return context
