"""The chat repository's contract and records: what the chat engine reads and writes.

``ChatStore`` is implemented by ``chat_sqlite.SqliteChatStore`` and
``chat_postgresql.PostgresChatStore`` over the same tables.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pushgate.engine.chat.preferences import NOT_SET, PushPreference
from pushgate.queue.base import WriteStep
from pushgate.store.models import Device

DEFAULT_CONTENT_TTL = 86_400.0
DEFAULT_ANONYMOUS_PATTERN = r"^!anon"


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatSettings:
    """An app's chat choices (``PUT /v1/chat/settings``)."""

    content_mode: str = "full"
    skip_online: bool = True
    max_recipients: int = 100
    anonymous_user_pattern: str = DEFAULT_ANONYMOUS_PATTERN
    content_ttl: float = DEFAULT_CONTENT_TTL
    """Seconds message text and ID-only content are kept."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatUser:
    id: str
    name: str | None = None
    push: PushPreference = NOT_SET


@dataclass(frozen=True, slots=True, kw_only=True)
class Channel:
    id: str
    type: str = "messaging"
    name: str | None = None
    push_notifications: bool = True
    content_mode: str | None = None
    push: PushPreference = NOT_SET


@dataclass(frozen=True, slots=True, kw_only=True)
class Member:
    channel_id: str
    user_id: str
    push: PushPreference = NOT_SET
    muted: bool = False
    mute_expires_at: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class UserMute:
    user_id: str
    muted_user_id: str
    expires_at: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatMessage:
    """A posted message as stored; ``text`` is None once its content expired."""

    id: str
    channel_id: str
    sender_id: str
    text: str | None
    parent_id: str | None = None
    mentioned: Sequence[str] = ()
    attachments: int = 0
    skip_push: bool = False
    created_at: float = 0.0
    content_expires_at: float = 0.0
    decisions: list[dict[str, Any]] | None = None
    notification_ids: list[str] | None = None


@dataclass(slots=True, kw_only=True)
class MessageContext:
    """Everything the rules and templates need about one message's channel, in one read."""

    channel: Channel | None
    members: list[str]
    member_preferences: dict[str, PushPreference] = field(default_factory=dict)
    channel_mutes: dict[str, float | None] = field(default_factory=dict)
    users: dict[str, ChatUser] = field(default_factory=dict)
    """The members' and the sender's user records (those that exist)."""
    sender_muted_by: dict[str, float | None] = field(default_factory=dict)
    thread_participants: frozenset[str] = frozenset()
    online_until: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchToken:
    """An ID-only notification's content, fetched by the device with the token."""

    token_hash: str
    message_id: str
    user_id: str
    notification_id: str
    content: str
    """JSON of the rendered message."""
    expires_at: float


@dataclass(slots=True, kw_only=True)
class PostState:
    """Everything posting one message reads, in one read: the app's chat settings and
    templates, the message's channel and members, and the chosen recipients' devices and
    badges."""

    settings: ChatSettings
    templates: dict[tuple[str, str], str]
    posted: ChatMessage | None = None
    """The stored message when this id was posted already (nothing else is read then)."""
    context: MessageContext | None = None
    """None when the channel does not exist (and no members were sent inline)."""
    devices: list[Device] = field(default_factory=list)
    """The chosen recipients' active devices."""
    unread: dict[str, int] = field(default_factory=dict)
    """The chosen recipients' unread totals, this message counted."""


Choose = Callable[[ChatSettings, MessageContext], Sequence[str]]
"""Picks a message's recipients from what was read (the rules), inside the read."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Posted:
    """What a post writes with its pushes, in their accept's transaction: the message with
    its decisions and notification ids (None for a test push, which records no message) and
    the ID-only fetch tokens, each naming its notification."""

    message: ChatMessage | None
    tokens: Sequence[FetchToken] = ()


class AlreadyPosted(Exception):
    """A message with this id was posted meanwhile; nothing of this post was written."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Fetched:
    """What a fetch found: the content (None once expired) and the notification it acks."""

    app_id: str
    message_id: str
    notification_id: str
    content: str | None


class ChatStore(Protocol):
    """Chat state per app; every method is one transaction."""

    async def settings(self, app_id: str) -> ChatSettings: ...
    async def put_settings(self, app_id: str, settings: ChatSettings) -> None: ...
    async def upsert_users(self, app_id: str, users: Sequence[ChatUser]) -> None: ...
    async def upsert_channels(self, app_id: str, channels: Sequence[Channel]) -> None: ...
    async def upsert_members(self, app_id: str, members: Sequence[Member]) -> None: ...
    async def remove_member(self, app_id: str, channel_id: str, user_id: str) -> bool: ...
    async def upsert_user_mutes(self, app_id: str, mutes: Sequence[UserMute]) -> None: ...
    async def remove_user_mute(self, app_id: str, user_id: str, muted_user_id: str) -> bool: ...
    async def add_thread_participants(
        self, app_id: str, parent_id: str, user_ids: Sequence[str]
    ) -> None: ...
    async def set_presence(self, app_id: str, online_until: Mapping[str, float | None]) -> None:
        """User -> until when online; None sets the user offline."""

    async def channel_exists(self, app_id: str, channel_id: str) -> bool: ...
    async def missing_channels(self, app_id: str, channel_ids: Sequence[str]) -> list[str]: ...
    async def post_state(
        self,
        app_id: str,
        message: ChatMessage,
        inline_members: Sequence[str] | None,
        now: float,
        choose: Choose,
    ) -> PostState:
        """One read for posting ``message``: the channel as the message will see it (a
        reply's thread counts its own sender and mentions, as ``record_step`` writes them),
        then the devices and unread totals of ``choose``'s recipients. Concurrent posts to a
        channel may both count only themselves in a badge."""

    def record_step(self, app_id: str, posted: Posted) -> WriteStep:
        """The writes of a post, for the transaction of its accept (``Outbox.accept``): the
        message (its thread participants, the members' unread counts, its decisions and
        notification ids) and the fetch tokens. Raises ``AlreadyPosted`` when the message
        was posted before; also purges expired content."""

    async def record(self, app_id: str, posted: Posted) -> None:
        """``record_step`` on its own, durably: a post that accepts no push."""

    async def message_context(
        self,
        app_id: str,
        message: ChatMessage,
        inline_members: Sequence[str] | None,
        now: float,
    ) -> MessageContext: ...
    async def message(self, app_id: str, message_id: str) -> ChatMessage | None: ...
    async def recent_message_ids_for_user(
        self, app_id: str, user_id: str, limit: int, now: float
    ) -> list[str]:
        """Messages of the user's channels whose content is still kept, newest first."""

    async def unread_counts(self, app_id: str, user_ids: Sequence[str]) -> dict[str, int]: ...
    async def mark_read(self, app_id: str, channel_id: str, user_id: str) -> int | None:
        """Zero the member's unread count; their total unread after, None if not a member."""

    async def put_template(
        self, app_id: str, provider_type: str, event_type: str, source: str
    ) -> None: ...
    async def templates(self, app_id: str) -> dict[tuple[str, str], str]:
        """(provider type, event type or '') -> source."""

    async def delete_template(self, app_id: str, provider_type: str, event_type: str) -> bool: ...
    async def fetch(self, token_hash: str, now: float) -> Fetched | None:
        """The token's notification and content; the caller records the acknowledgement on
        the notification (``Acceptor.acknowledge``)."""
