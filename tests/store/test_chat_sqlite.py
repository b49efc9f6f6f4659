"""The SQLite chat repository: what it keeps, for how long, and what a message's channel reads as."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pushgate.engine.chat.preferences import PushPreference
from pushgate.store.chat import Channel, ChatMessage, ChatUser, FetchToken, Member, UserMute
from pushgate.store.chat_sqlite import SqliteChatStore
from pushgate.store.sqlite import SqliteDatabase

APP = "app_1"
NOW = 1_800_000_000.0


@pytest.fixture
async def chat(tmp_path: Path) -> AsyncIterator[SqliteChatStore]:
    store = SqliteDatabase(tmp_path / "db.sqlite")
    store.open()
    await store.write(
        lambda c: c.execute(
            "INSERT INTO apps (id, name, api_key_hash, api_key_prefix, created_at) "
            "VALUES (?, 'a', 'h', 'p', 0)",
            (APP,),
        )
    )
    yield SqliteChatStore(store)
    store.close()


def message(mid: str, *, ttl: float = 60.0, at: float = NOW, **fields: object) -> ChatMessage:
    values: dict[str, object] = {"channel_id": "general", "sender_id": "alice", "text": "hello"}
    values.update(fields)
    return ChatMessage(id=mid, created_at=at, content_expires_at=at + ttl, **values)  # type: ignore[arg-type]


async def test_context_reads_members_in_join_order_with_their_state(chat: SqliteChatStore) -> None:
    await chat.upsert_channels(
        APP, [Channel(id="general", name="General", push=PushPreference("mentions"))]
    )
    await chat.upsert_members(APP, [
        Member(channel_id="general", user_id=u) for u in ("zoe", "alice", "bob", "carl")
    ])  # fmt: skip
    await chat.upsert_members(APP, [
        Member(channel_id="general", user_id="bob", muted=True, mute_expires_at=NOW + 5),
        Member(channel_id="general", user_id="carl", push=PushPreference("none")),
    ])  # fmt: skip
    await chat.upsert_users(APP, [ChatUser(id="alice", name="Alice", push=PushPreference("all"))])
    await chat.upsert_user_mutes(APP, [UserMute(user_id="zoe", muted_user_id="alice")])
    await chat.set_presence(APP, {"carl": NOW + 30, "zoe": NOW - 1})
    stored = await chat.record_message(APP, message("m1"))
    context = await chat.message_context(APP, stored, None, NOW)
    assert context.members == ["zoe", "alice", "bob", "carl"]  # an upsert keeps the join order
    assert context.channel is not None and context.channel.push.level == "mentions"
    assert context.channel_mutes == {"bob": NOW + 5}
    assert context.member_preferences == {"carl": PushPreference("none")}
    assert context.sender_muted_by == {"zoe": None}
    assert context.online_until == {"carl": NOW + 30}  # zoe's presence ran out
    assert context.users["alice"].name == "Alice"
    await chat.set_presence(APP, {"carl": None})
    assert (await chat.message_context(APP, stored, None, NOW)).online_until == {}


async def test_unread_counts_and_mark_read(chat: SqliteChatStore) -> None:
    await chat.upsert_channels(APP, [Channel(id="general"), Channel(id="random")])
    await chat.upsert_members(APP, [
        Member(channel_id=c, user_id=u) for c in ("general", "random") for u in ("alice", "bob")
    ])  # fmt: skip
    await chat.record_message(APP, message("m1"))
    await chat.record_message(APP, message("m1"))  # the same message again counts once
    await chat.record_message(APP, message("m2", channel_id="random"))
    assert await chat.unread_counts(APP, ["alice", "bob"]) == {"alice": 0, "bob": 2}
    assert await chat.mark_read(APP, "general", "bob") == 1
    assert await chat.mark_read(APP, "general", "nobody") is None


async def test_thread_participants_are_the_parents_author_repliers_and_mentioned(
    chat: SqliteChatStore,
) -> None:
    await chat.upsert_channels(APP, [Channel(id="general")])
    await chat.record_message(APP, message("p", sender_id="ann", mentioned=["eve"]))
    reply = await chat.record_message(
        APP, message("r1", sender_id="ben", parent_id="p", mentioned=["cat"])
    )
    context = await chat.message_context(APP, reply, ["ann", "ben", "cat", "dan", "eve"], NOW)
    assert context.thread_participants == {"ann", "ben", "cat", "eve"}


async def test_text_and_id_only_content_expire(chat: SqliteChatStore) -> None:
    await chat.upsert_channels(APP, [Channel(id="general")])
    await chat.upsert_members(APP, [Member(channel_id="general", user_id="bob")])
    await chat.record_message(APP, message("old", ttl=60))
    await chat.store_fetch_tokens(APP, [
        FetchToken(token_hash="h1", message_id="old", user_id="bob", notification_id="",
                   content='{"alert": {"body": "hello"}}', expires_at=NOW + 60),
    ])  # fmt: skip
    await chat.finish_message(APP, "old", [], ["ntf_1"], {"h1": "ntf_1"})
    assert await chat.recent_message_ids_for_user(APP, "bob", 10, NOW) == ["old"]
    fetched = await chat.acknowledge("h1", NOW + 1)
    assert fetched is not None and fetched.content is not None
    assert fetched.notification_id == "ntf_1" and fetched.acknowledged_at == NOW + 1
    expired = await chat.acknowledge("h1", NOW + 61)
    assert expired is not None and expired.content is None and expired.acknowledged_at == NOW + 1
    assert await chat.acknowledge("nope", NOW) is None
    # The next post purges what expired: the old text and the stored content are gone.
    await chat.record_message(APP, message("new", at=NOW + 120))
    old = await chat.message(APP, "old")
    assert old is not None and old.text is None and old.notification_ids == ["ntf_1"]
    rows = await chat._store.read(
        lambda c: c.execute("SELECT content FROM chat_fetch_tokens").fetchall()
    )
    assert rows == [(None,)]
    assert await chat.recent_message_ids_for_user(APP, "bob", 10, NOW + 120) == ["new"]
