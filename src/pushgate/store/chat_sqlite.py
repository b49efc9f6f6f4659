"""The chat repository on the embedded SQLite store (tables of migration 0010_chat.sql).

It shares the ``SqliteDatabase`` writer and reader threads, so chat writes group-commit with the
outbox's and a read never waits for an fsync.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

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
from pushgate.store.sqlite import SqliteDatabase, active_devices_of_users

_MESSAGE_COLUMNS = CHAT_MESSAGE.select_list()
PURGE_EVERY = 1.0
"""Seconds between two purges of expired content by posts: two statements a post need not
repeat when posts come hundreds a second. Purging already waited for the next post; fetches
and the recent-message list check the expiry themselves."""


class SqliteChatStore:
    """``ChatStore`` over the tables of ``store``'s database file."""

    def __init__(self, store: SqliteDatabase) -> None:
        self._store = store
        self._purged_at = float("-inf")
        """When (a post's time) expired content was last purged; only the writer thread
        reads and sets it."""

    # -- settings -----------------------------------------------------------------------

    async def settings(self, app_id: str) -> ChatSettings:
        row = await self._store.read(
            lambda c: c.execute(
                "SELECT settings FROM chat_settings WHERE app_id = ?", (app_id,)
            ).fetchone()
        )
        return _settings(row[0] if row else None)

    async def put_settings(self, app_id: str, settings: ChatSettings) -> None:
        text = orjson.dumps(dataclasses.asdict(settings)).decode()
        await self._store.write(
            lambda c: c.execute(
                "INSERT INTO chat_settings (app_id, settings) VALUES (?, ?) "
                "ON CONFLICT (app_id) DO UPDATE SET settings = excluded.settings",
                (app_id, text),
            )
        )

    # -- state the app server mirrors ---------------------------------------------------

    async def upsert_users(self, app_id: str, users: Sequence[ChatUser]) -> None:
        now = time.time()
        rows = [(app_id, u.id, u.name, u.push.level, u.push.disabled_until, now) for u in users]
        await self._store.write(
            lambda c: c.executemany(
                "INSERT INTO chat_users (app_id, id, name, push_level, push_disabled_until, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (app_id, id) DO UPDATE SET "
                "name = excluded.name, push_level = excluded.push_level, "
                "push_disabled_until = excluded.push_disabled_until, "
                "updated_at = excluded.updated_at",
                rows,
            )
        )

    async def upsert_channels(self, app_id: str, channels: Sequence[Channel]) -> None:
        now = time.time()
        rows = [
            (
                app_id, ch.id, ch.type, ch.name, int(ch.push_notifications), ch.content_mode,
                ch.push.level, ch.push.disabled_until, now,
            )
            for ch in channels
        ]  # fmt: skip
        await self._store.write(
            lambda c: c.executemany(
                "INSERT INTO chat_channels (app_id, id, type, name, push_notifications, "
                "content_mode, push_level, push_disabled_until, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (app_id, id) DO UPDATE SET "
                "type = excluded.type, name = excluded.name, "
                "push_notifications = excluded.push_notifications, "
                "content_mode = excluded.content_mode, push_level = excluded.push_level, "
                "push_disabled_until = excluded.push_disabled_until, "
                "updated_at = excluded.updated_at",
                rows,
            )
        )

    async def upsert_members(self, app_id: str, members: Sequence[Member]) -> None:
        """Unknown channel ids fail the foreign key (the caller checks them first)."""
        rows = [
            (
                app_id, m.channel_id, m.user_id, m.push.level, m.push.disabled_until,
                int(m.muted), m.mute_expires_at,
            )
            for m in members
        ]  # fmt: skip
        await self._store.write(
            lambda c: c.executemany(
                "INSERT INTO chat_members (app_id, channel_id, user_id, push_level, "
                "push_disabled_until, muted, mute_expires_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (app_id, channel_id, user_id) DO UPDATE SET "
                "push_level = excluded.push_level, "
                "push_disabled_until = excluded.push_disabled_until, muted = excluded.muted, "
                "mute_expires_at = excluded.mute_expires_at",
                rows,
            )
        )

    async def remove_member(self, app_id: str, channel_id: str, user_id: str) -> bool:
        cur = await self._store.write(
            lambda c: c.execute(
                "DELETE FROM chat_members WHERE app_id = ? AND channel_id = ? AND user_id = ?",
                (app_id, channel_id, user_id),
            )
        )
        return bool(cur.rowcount)

    async def upsert_user_mutes(self, app_id: str, mutes: Sequence[UserMute]) -> None:
        rows = [(app_id, m.user_id, m.muted_user_id, m.expires_at) for m in mutes]
        await self._store.write(
            lambda c: c.executemany(
                "INSERT INTO chat_user_mutes (app_id, user_id, muted_user_id, expires_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (app_id, muted_user_id, user_id) "
                "DO UPDATE SET expires_at = excluded.expires_at",
                rows,
            )
        )

    async def remove_user_mute(self, app_id: str, user_id: str, muted_user_id: str) -> bool:
        cur = await self._store.write(
            lambda c: c.execute(
                "DELETE FROM chat_user_mutes WHERE app_id = ? AND user_id = ? "
                "AND muted_user_id = ?",
                (app_id, user_id, muted_user_id),
            )
        )
        return bool(cur.rowcount)

    async def add_thread_participants(
        self, app_id: str, parent_id: str, user_ids: Sequence[str]
    ) -> None:
        await self._store.write(
            lambda c: c.executemany(
                "INSERT OR IGNORE INTO chat_thread_participants (app_id, parent_id, user_id) "
                "VALUES (?, ?, ?)",
                [(app_id, parent_id, u) for u in user_ids],
            )
        )

    async def set_presence(self, app_id: str, online_until: Mapping[str, float | None]) -> None:
        online = [(app_id, u, t) for u, t in online_until.items() if t is not None]
        offline = [(app_id, u) for u, t in online_until.items() if t is None]

        def write(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT INTO chat_presence (app_id, user_id, online_until) VALUES (?, ?, ?) "
                "ON CONFLICT (app_id, user_id) DO UPDATE SET online_until = excluded.online_until",
                online,
            )
            conn.executemany("DELETE FROM chat_presence WHERE app_id = ? AND user_id = ?", offline)

        await self._store.write(write)

    async def channel_exists(self, app_id: str, channel_id: str) -> bool:
        row = await self._store.read(
            lambda c: c.execute(
                "SELECT 1 FROM chat_channels WHERE app_id = ? AND id = ?", (app_id, channel_id)
            ).fetchone()
        )
        return row is not None

    async def missing_channels(self, app_id: str, channel_ids: Sequence[str]) -> list[str]:
        """The ids of ``channel_ids`` that name no channel of the app."""
        wanted = list(dict.fromkeys(channel_ids))
        rows = await self._store.read(
            lambda c: c.execute(
                "SELECT id FROM chat_channels WHERE app_id = ? "
                "AND id IN (SELECT value FROM json_each(?))",
                (app_id, orjson.dumps(wanted).decode()),
            ).fetchall()
        )
        found = {r[0] for r in rows}
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
        def read(conn: sqlite3.Connection) -> PostState:
            settings, templates, posted = conn.execute(
                _POST_HEAD, (app_id, app_id, app_id, message.id)
            ).fetchone()
            state = PostState(
                settings=_settings(settings), templates=_templates(templates), posted=bool(posted)
            )
            if state.posted:
                return state
            state.context = _context(conn, app_id, message, inline_members, now)
            if state.context is None:
                return state
            chosen = list(choose(state.settings, state.context))
            if chosen:
                state.devices = active_devices_of_users(conn, app_id, chosen)
                chosen_json = orjson.dumps(chosen).decode()
                state.unread = dict(
                    conn.execute(
                        _UNREAD_AFTER, (message.channel_id, message.sender_id, app_id, chosen_json)
                    ).fetchall()
                )
            return state

        result: PostState = await self._store.read(read)
        return result

    def record_step(self, app_id: str, posted: Posted) -> Callable[[sqlite3.Connection], None]:
        message = posted.message
        tokens = [
            (t.token_hash, app_id, t.message_id, t.user_id, t.notification_id, t.content,
             t.expires_at)
            for t in posted.tokens
        ]  # fmt: skip

        def write(conn: sqlite3.Connection) -> None:
            if message is not None:
                _insert_message(conn, app_id, message)
                if message.created_at >= self._purged_at + PURGE_EVERY:
                    _purge_expired(conn, message.created_at)
                    self._purged_at = message.created_at
            if tokens:
                conn.executemany(
                    "INSERT INTO chat_fetch_tokens (token_hash, app_id, message_id, user_id, "
                    "notification_id, content, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    tokens,
                )

        return write

    async def record(self, app_id: str, posted: Posted) -> None:
        await self._store.write(self.record_step(app_id, posted))

    async def message_context(
        self,
        app_id: str,
        message: ChatMessage,
        inline_members: Sequence[str] | None,
        now: float,
    ) -> MessageContext:
        def read(conn: sqlite3.Connection) -> MessageContext:
            found = _context(conn, app_id, message, inline_members, now)
            return found or MessageContext(channel=None, members=[])

        result: MessageContext = await self._store.read(read)
        return result

    async def message(self, app_id: str, message_id: str) -> ChatMessage | None:
        row = await self._store.read(
            lambda c: c.execute(
                f"SELECT {_MESSAGE_COLUMNS} FROM chat_messages WHERE app_id = ? AND id = ?",
                (app_id, message_id),
            ).fetchone()
        )
        return CHAT_MESSAGE.decode(row) if row else None

    async def recent_message_ids_for_user(
        self, app_id: str, user_id: str, limit: int, now: float
    ) -> list[str]:
        rows = await self._store.read(
            lambda c: c.execute(
                "SELECT m.id FROM chat_members cm JOIN chat_messages m "
                "ON m.app_id = cm.app_id AND m.channel_id = cm.channel_id "
                "WHERE cm.app_id = ? AND cm.user_id = ? AND m.text IS NOT NULL "
                "AND m.content_expires_at > ? ORDER BY m.created_at DESC LIMIT ?",
                (app_id, user_id, now, limit),
            ).fetchall()
        )
        return [r[0] for r in rows]

    async def unread_counts(self, app_id: str, user_ids: Sequence[str]) -> dict[str, int]:
        rows = await self._store.read(
            lambda c: c.execute(
                "SELECT user_id, SUM(unread) FROM chat_members WHERE app_id = ? "
                "AND user_id IN (SELECT value FROM json_each(?)) GROUP BY user_id",
                (app_id, orjson.dumps(list(user_ids)).decode()),
            ).fetchall()
        )
        return {user: int(total) for user, total in rows}

    async def mark_read(self, app_id: str, channel_id: str, user_id: str) -> int | None:
        def write(conn: sqlite3.Connection) -> int | None:
            cur = conn.execute(
                "UPDATE chat_members SET unread = 0 WHERE app_id = ? AND channel_id = ? "
                "AND user_id = ?",
                (app_id, channel_id, user_id),
            )
            if not cur.rowcount:
                return None
            row = conn.execute(
                "SELECT COALESCE(SUM(unread), 0) FROM chat_members WHERE app_id = ? "
                "AND user_id = ?",
                (app_id, user_id),
            ).fetchone()
            return int(row[0])

        result: int | None = await self._store.write(write)
        return result

    # -- templates ----------------------------------------------------------------------

    async def put_template(
        self, app_id: str, provider_type: str, event_type: str, source: str
    ) -> None:
        await self._store.write(
            lambda c: c.execute(
                "INSERT INTO chat_templates (app_id, provider_type, event_type, source, "
                "updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (app_id, provider_type, "
                "event_type) DO UPDATE SET source = excluded.source, "
                "updated_at = excluded.updated_at",
                (app_id, provider_type, event_type, source, time.time()),
            )
        )

    async def templates(self, app_id: str) -> dict[tuple[str, str], str]:
        rows = await self._store.read(
            lambda c: c.execute(
                "SELECT provider_type, event_type, source FROM chat_templates WHERE app_id = ?",
                (app_id,),
            ).fetchall()
        )
        return {(p, e): source for p, e, source in rows}

    async def delete_template(self, app_id: str, provider_type: str, event_type: str) -> bool:
        cur = await self._store.write(
            lambda c: c.execute(
                "DELETE FROM chat_templates WHERE app_id = ? AND provider_type = ? "
                "AND event_type = ?",
                (app_id, provider_type, event_type),
            )
        )
        return bool(cur.rowcount)

    # -- ID-only fetch ------------------------------------------------------------------

    async def fetch(self, token_hash: str, now: float) -> Fetched | None:
        row = await self._store.read(
            lambda c: c.execute(
                f"SELECT {FETCHED.select_list()} FROM (SELECT app_id, message_id, "
                "notification_id, CASE WHEN expires_at > ? THEN content END AS content "
                "FROM chat_fetch_tokens WHERE token_hash = ?)",
                (now, token_hash),
            ).fetchone()
        )
        return FETCHED.decode(row) if row else None


def _purge_expired(conn: sqlite3.Connection, now: float) -> None:
    """Drop message text and ID-only content past their TTL (both indexed by expiry)."""
    conn.execute(
        "UPDATE chat_messages SET text = NULL WHERE text IS NOT NULL AND content_expires_at <= ?",
        (now,),
    )
    conn.execute(
        "UPDATE chat_fetch_tokens SET content = NULL WHERE content IS NOT NULL AND expires_at <= ?",
        (now,),
    )


_POST_HEAD = (
    "SELECT (SELECT settings FROM chat_settings WHERE app_id = ?), "
    "(SELECT json_group_array(json_array(provider_type, event_type, source)) "
    "FROM chat_templates WHERE app_id = ?), "
    "EXISTS (SELECT 1 FROM chat_messages WHERE app_id = ? AND id = ?)"
)
"""The app's settings and templates, and whether the message was posted: one statement."""
_UNREAD_AFTER = (
    "SELECT user_id, SUM(unread) + SUM(channel_id = ? AND user_id != ?) FROM chat_members "
    "WHERE app_id = ? AND user_id IN (SELECT value FROM json_each(?)) GROUP BY user_id"
)
"""Each user's unread total once the message is recorded (``_insert_message`` counts it in
the channel's mirrored memberships)."""
_THREAD = (
    "SELECT user_id FROM chat_thread_participants WHERE app_id = ? AND parent_id = ? "
    "UNION SELECT sender_id FROM chat_messages WHERE app_id = ? AND id = ? "
    "UNION SELECT j.value FROM chat_messages m, json_each(m.mentioned) j "
    "WHERE m.app_id = ? AND m.id = ?"
)
"""A thread's participants: those recorded, and the parent's author and mentions."""


def _settings(text: str | None) -> ChatSettings:
    return ChatSettings(**orjson.loads(text)) if text else ChatSettings()


def _templates(text: str) -> dict[tuple[str, str], str]:
    return {(p, e): source for p, e, source in orjson.loads(text)}


def _context(
    conn: sqlite3.Connection,
    app_id: str,
    message: ChatMessage,
    inline_members: Sequence[str] | None,
    now: float,
) -> MessageContext | None:
    """What the rules and templates read about the message's channel; None when the channel
    does not exist and no members came inline. A reply's thread counts its own sender and
    mentions (recorded with it)."""
    row = conn.execute(
        f"SELECT {CHANNEL.select_list()} FROM chat_channels WHERE app_id = ? AND id = ?",
        (app_id, message.channel_id),
    ).fetchone()
    if row is None and inline_members is None:
        return None
    context = MessageContext(channel=CHANNEL.decode(row) if row else None, members=[])
    if inline_members is not None:
        context.members = list(inline_members)
    else:
        for user_id, level, until, muted, mute_expires in conn.execute(
            "SELECT user_id, push_level, push_disabled_until, muted, mute_expires_at "
            "FROM chat_members WHERE app_id = ? AND channel_id = ? ORDER BY seq",
            (app_id, message.channel_id),
        ):
            context.members.append(user_id)
            if level is not None or until is not None:
                context.member_preferences[user_id] = PushPreference(level, until)
            if muted:
                context.channel_mutes[user_id] = mute_expires
    people = orjson.dumps([*context.members, message.sender_id]).decode()
    for row in conn.execute(
        f"SELECT {CHAT_USER.select_list()} FROM chat_users "
        "WHERE app_id = ? AND id IN (SELECT value FROM json_each(?))",
        (app_id, people),
    ):
        user = CHAT_USER.decode(row)
        context.users[user.id] = user
    context.sender_muted_by = dict(
        conn.execute(
            "SELECT user_id, expires_at FROM chat_user_mutes WHERE app_id = ? "
            "AND muted_user_id = ?",
            (app_id, message.sender_id),
        ).fetchall()
    )
    if message.parent_id is not None:
        parent = message.parent_id
        recorded = conn.execute(_THREAD, (app_id, parent, app_id, parent, app_id, parent))
        context.thread_participants = frozenset(
            [*(r[0] for r in recorded), message.sender_id, *message.mentioned]
        )
    context.online_until = dict(
        conn.execute(
            "SELECT user_id, online_until FROM chat_presence WHERE app_id = ? "
            "AND online_until > ? AND user_id IN (SELECT value FROM json_each(?))",
            (app_id, now, people),
        ).fetchall()
    )
    return context


def _insert_message(conn: sqlite3.Connection, app_id: str, message: ChatMessage) -> None:
    """The message row with its decisions and notification ids, its thread participants and
    the members' unread counts; ``AlreadyPosted`` if the id is taken."""
    inserted = conn.execute(_INSERT_MESSAGE, (app_id, *_message_row(message))).rowcount
    if not inserted:
        raise AlreadyPosted(message.id)
    if message.parent_id is not None:
        # The replier, those it mentions, and the parent's author and mentions.
        conn.execute(
            "INSERT OR IGNORE INTO chat_thread_participants (app_id, parent_id, user_id) "
            "SELECT ?, ?, value FROM json_each(?) UNION "
            "SELECT app_id, id, sender_id FROM chat_messages WHERE app_id = ? AND id = ? "
            "UNION SELECT m.app_id, m.id, j.value FROM chat_messages m, "
            "json_each(m.mentioned) j WHERE m.app_id = ? AND m.id = ?",
            (
                app_id, message.parent_id,
                orjson.dumps([message.sender_id, *message.mentioned]).decode(),
                app_id, message.parent_id, app_id, message.parent_id,
            ),
        )  # fmt: skip
    conn.execute(
        "UPDATE chat_members SET unread = unread + 1 WHERE app_id = ? "
        "AND channel_id = ? AND user_id != ?",
        (app_id, message.channel_id, message.sender_id),
    )


_INSERT_MESSAGE = (
    f"INSERT INTO chat_messages (app_id, {_MESSAGE_COLUMNS}) "
    f"VALUES (?{', ?' * len(CHAT_MESSAGE.fields)}) ON CONFLICT (app_id, id) DO NOTHING"
)
_AS_STORED: dict[str, Callable[[Any], Any]] = {
    "mentioned": lambda v: orjson.dumps(list(v)).decode(),
    "skip_push": int,
    "decisions": lambda v: None if v is None else orjson.dumps(v).decode(),
    "notification_ids": lambda v: None if v is None else orjson.dumps(v).decode(),
}


def _message_row(message: ChatMessage) -> list[Any]:
    """The message's column values in ``CHAT_MESSAGE``'s field order, as stored."""
    return [_AS_STORED.get(name, _same)(getattr(message, name)) for name in CHAT_MESSAGE.fields]


def _same(value: Any) -> Any:
    return value
