"""The chat repository on every backend: what it keeps, for how long, and what a message's
channel reads as."""

from __future__ import annotations

import sqlite3

import asyncpg
import pytest

from backends import backend_settings
from pushgate.engine.chat.preferences import PushPreference
from pushgate.store.backends import Backend
from pushgate.store.chat import (
    AlreadyPosted,
    Channel,
    ChatMessage,
    ChatSettings,
    ChatStore,
    ChatUser,
    FetchToken,
    Member,
    MessageContext,
    Posted,
    UserMute,
)

NOW = 1_800_000_000.0


@pytest.fixture
async def app(backend: Backend) -> str:
    created = await backend.store.create_app("chat", "hash", "prefix")
    assert created is not None
    return created.id


@pytest.fixture
def chat(backend: Backend) -> ChatStore:
    return backend.chat


async def stored_contents(backend: Backend) -> list[str | None]:
    """The fetch tokens' content column as stored (not as a fetch shows it)."""
    settings = backend_settings(backend)
    if settings.store.backend == "sqlite":
        with sqlite3.connect(settings.database_path) as conn:
            return [r[0] for r in conn.execute("SELECT content FROM chat_fetch_tokens")]
    assert settings.store.url is not None
    conn = await asyncpg.connect(
        settings.store.url.get_secret_value(),
        server_settings={"search_path": settings.store.schema_name},
    )
    try:
        return [r[0] for r in await conn.fetch("SELECT content FROM chat_fetch_tokens")]
    finally:
        await conn.close()


def message(mid: str, *, ttl: float = 60.0, at: float = NOW, **fields: object) -> ChatMessage:
    values: dict[str, object] = {"channel_id": "general", "sender_id": "alice", "text": "hello"}
    values.update(fields)
    return ChatMessage(id=mid, created_at=at, content_expires_at=at + ttl, **values)  # type: ignore[arg-type]


async def record(chat: ChatStore, app: str, posted: ChatMessage, *tokens: FetchToken) -> None:
    await chat.record(app, Posted(message=posted, tokens=tokens))


def everyone(settings: ChatSettings, context: MessageContext) -> list[str]:
    return context.members


async def test_context_reads_members_in_join_order_with_their_state(
    chat: ChatStore, app: str
) -> None:
    await chat.upsert_channels(
        app, [Channel(id="general", name="General", push=PushPreference("mentions"))]
    )
    await chat.upsert_members(app, [
        Member(channel_id="general", user_id=u) for u in ("zoe", "alice", "bob", "carl")
    ])  # fmt: skip
    await chat.upsert_members(app, [
        Member(channel_id="general", user_id="bob", muted=True, mute_expires_at=NOW + 5),
        Member(channel_id="general", user_id="carl", push=PushPreference("none")),
    ])  # fmt: skip
    await chat.upsert_users(app, [ChatUser(id="alice", name="Alice", push=PushPreference("all"))])
    await chat.upsert_user_mutes(app, [UserMute(user_id="zoe", muted_user_id="alice")])
    await chat.set_presence(app, {"carl": NOW + 30, "zoe": NOW - 1})
    stored = message("m1")
    await record(chat, app, stored)
    context = await chat.message_context(app, stored, None, NOW)
    assert context.members == ["zoe", "alice", "bob", "carl"]  # an upsert keeps the join order
    assert context.channel is not None and context.channel.push.level == "mentions"
    assert context.channel_mutes == {"bob": NOW + 5}
    assert context.member_preferences == {"carl": PushPreference("none")}
    assert context.sender_muted_by == {"zoe": None}
    assert context.online_until == {"carl": NOW + 30}  # zoe's presence ran out
    assert context.users["alice"].name == "Alice"
    await chat.set_presence(app, {"carl": None})
    assert (await chat.message_context(app, stored, None, NOW)).online_until == {}


async def test_unread_counts_and_mark_read(chat: ChatStore, app: str) -> None:
    await chat.upsert_channels(app, [Channel(id="general"), Channel(id="random")])
    await chat.upsert_members(app, [
        Member(channel_id=c, user_id=u) for c in ("general", "random") for u in ("alice", "bob")
    ])  # fmt: skip
    await record(chat, app, message("m1"))
    with pytest.raises(AlreadyPosted):  # the same message again counts once
        await record(chat, app, message("m1"))
    state = await chat.post_state(app, message("m2", channel_id="random"), None, NOW, everyone)
    assert state.unread == {"alice": 0, "bob": 2}  # as it will be with m2 recorded
    await record(chat, app, message("m2", channel_id="random"))
    assert await chat.unread_counts(app, ["alice", "bob"]) == {"alice": 0, "bob": 2}
    assert await chat.mark_read(app, "general", "bob") == 1
    assert await chat.mark_read(app, "general", "nobody") is None


async def test_thread_participants_are_the_parents_author_repliers_and_mentioned(
    chat: ChatStore, app: str
) -> None:
    await chat.upsert_channels(app, [Channel(id="general")])
    await record(chat, app, message("p", sender_id="ann", mentioned=["eve"]))
    reply = message("r1", sender_id="ben", parent_id="p", mentioned=["cat"])
    members = ["ann", "ben", "cat", "dan", "eve", "fay"]
    # Before the reply is recorded (the post's read) and after it, the same thread.
    state = await chat.post_state(app, reply, members, NOW, everyone)
    assert state.context is not None
    assert state.context.thread_participants == {"ann", "ben", "cat", "eve"}
    await record(chat, app, reply)
    later = message("r2", sender_id="fay", parent_id="p")
    context = await chat.message_context(app, later, members, NOW)
    assert context.thread_participants == {"ann", "ben", "cat", "eve", "fay"}


async def test_text_and_id_only_content_expire(chat: ChatStore, app: str, backend: Backend) -> None:
    await chat.upsert_channels(app, [Channel(id="general")])
    await chat.upsert_members(app, [Member(channel_id="general", user_id="bob")])
    await record(
        chat, app, message("old", ttl=60, decisions=[], notification_ids=["ntf_1"]),
        FetchToken(token_hash="h1", message_id="old", user_id="bob", notification_id="ntf_1",
                   content='{"alert": {"body": "hello"}}', expires_at=NOW + 60),
    )  # fmt: skip
    assert await chat.recent_message_ids_for_user(app, "bob", 10, NOW) == ["old"]
    fetched = await chat.fetch("h1", NOW + 1)
    assert fetched is not None and fetched.content is not None
    assert fetched.notification_id == "ntf_1"
    expired = await chat.fetch("h1", NOW + 61)
    assert expired is not None and expired.content is None
    assert await chat.fetch("nope", NOW) is None
    # The next post purges what expired: the old text and the stored content are gone.
    await record(chat, app, message("new", at=NOW + 120))
    old = await chat.message(app, "old")
    assert old is not None and old.text is None and old.notification_ids == ["ntf_1"]
    assert await stored_contents(backend) == [None]
    assert await chat.recent_message_ids_for_user(app, "bob", 10, NOW + 120) == ["new"]


async def test_a_batch_naming_one_row_twice_keeps_the_last(chat: ChatStore, app: str) -> None:
    await chat.upsert_channels(app, [Channel(id="c", name="one"), Channel(id="c", name="two")])
    await chat.upsert_users(app, [ChatUser(id="ann", name="A"), ChatUser(id="ann", name="Ann")])
    await chat.upsert_members(app, [
        Member(channel_id="c", user_id="ann"),
        Member(channel_id="c", user_id="ben"),
        Member(channel_id="c", user_id="ann", muted=True, mute_expires_at=NOW + 9),
    ])  # fmt: skip
    await chat.upsert_user_mutes(app, [
        UserMute(user_id="ben", muted_user_id="ann"),
        UserMute(user_id="ben", muted_user_id="ann", expires_at=NOW + 3),
    ])  # fmt: skip
    await chat.set_presence(app, {"ben": NOW + 10})
    await chat.set_presence(app, {"ben": NOW + 20, "ann": None})
    context = await chat.message_context(
        app, message("m", channel_id="c", sender_id="ann"), None, NOW
    )
    assert context.channel is not None and context.channel.name == "two"
    assert context.members == ["ann", "ben"] and context.channel_mutes == {"ann": NOW + 9}
    assert context.users["ann"].name == "Ann"
    assert context.sender_muted_by == {"ben": NOW + 3}
    assert context.online_until == {"ben": NOW + 20}
    assert await chat.missing_channels(app, ["c", "nope", "c"]) == ["nope"]
    assert await chat.remove_member(app, "c", "ann") and not await chat.remove_member(
        app, "c", "ann"
    )
    assert await chat.remove_user_mute(app, "ben", "ann")


async def test_settings_and_templates_round_trip(chat: ChatStore, app: str) -> None:
    assert (await chat.settings(app)).content_mode == "full"
    await chat.put_settings(app, ChatSettings(content_mode="id_only", content_ttl=120.0))
    assert await chat.settings(app) == ChatSettings(content_mode="id_only", content_ttl=120.0)
    await chat.put_template(app, "apns", "", "{}")
    await chat.put_template(app, "apns", "", '{"a": 1}')
    assert await chat.templates(app) == {("apns", ""): '{"a": 1}'}
    assert await chat.delete_template(app, "apns", "") and await chat.templates(app) == {}


async def test_a_repost_writes_nothing_and_the_first_outcome_stays(
    chat: ChatStore, app: str
) -> None:
    await chat.upsert_channels(app, [Channel(id="general")])
    await chat.upsert_members(app, [Member(channel_id="general", user_id="bob")])
    first = message(
        "m1", mentioned=["bob"], attachments=2, skip_push=True,
        decisions=[{"user_id": "bob", "reason": "skip_push"}], notification_ids=[],
    )  # fmt: skip
    await record(chat, app, first)
    assert await chat.message(app, "m1") == first
    again = message("m1", text="other")
    assert (await chat.post_state(app, again, None, NOW, everyone)).posted
    token = FetchToken(token_hash="h2", message_id="m1", user_id="bob", notification_id="n",
                       content="{}", expires_at=NOW + 60)  # fmt: skip
    with pytest.raises(AlreadyPosted):
        await record(chat, app, again, token)
    assert await chat.message(app, "m1") == first
    assert await chat.unread_counts(app, ["bob"]) == {"bob": 1}
    assert await chat.fetch("h2", NOW) is None  # the failed post's token was not kept


async def test_the_post_read_finds_the_chosen_recipients_devices(
    chat: ChatStore, app: str, backend: Backend
) -> None:
    await chat.upsert_channels(app, [Channel(id="general")])
    await chat.upsert_members(app, [
        Member(channel_id="general", user_id=u) for u in ("alice", "bob", "carl")
    ])  # fmt: skip
    for user in ("bob", "carl"):
        await backend.store.register_device(
            app_id=app, user_id=user, platform="fcm", token=f"tok-{user}",
            apns_environment=None, fcm_credential=None, extra=None, max_per_user=25,
        )  # fmt: skip
    state = await chat.post_state(app, message("m1"), None, NOW, lambda settings, context: ["bob"])
    assert [d.token for d in state.devices] == ["tok-bob"]
    assert state.unread == {"bob": 1} and state.templates == {} and not state.posted
    missing = await chat.post_state(app, message("m2", channel_id="nope"), None, NOW, everyone)
    assert missing.context is None and not missing.posted
