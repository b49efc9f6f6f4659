"""Who gets a push for one posted message, and why each other member does not.

The rules follow Stream Chat's push delivery logic (see docs/chat.md). Every member of the
channel ends up either a recipient or skipped with exactly one machine-readable reason: the
first rule in ``REASONS`` order that excludes them. Mentioned users who are not members are
reported as ``not_member`` and never receive anything.

Which members get a push when more qualify than ``Rules.max_recipients`` is deterministic:
mentioned members first, in the order the message mentions them, then the others in the
order of the member list (the store lists members in the order they joined). The algorithm
is one pass over the members with set and dict look-ups (linear in the channel's size).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from pushgate.engine.chat.preferences import NOT_SET, Effective, PushPreference, resolve

SENDER: Final = "sender"
SKIP_PUSH: Final = "skip_push"
CHANNEL_PUSH_DISABLED: Final = "channel_push_disabled"
NOT_THREAD_PARTICIPANT: Final = "not_thread_participant"
SENDER_MUTED: Final = "sender_muted"
CHANNEL_MUTED: Final = "channel_muted"
PREFERENCE_NONE: Final = "preference_none"
PREFERENCE_MENTIONS: Final = "preference_mentions"
SNOOZED: Final = "snoozed"
ONLINE: Final = "online"
RECIPIENT_CAP: Final = "recipient_cap"
NOT_MEMBER: Final = "not_member"

REASONS: Final = (
    SENDER,
    SKIP_PUSH,
    CHANNEL_PUSH_DISABLED,
    NOT_THREAD_PARTICIPANT,
    SENDER_MUTED,
    CHANNEL_MUTED,
    PREFERENCE_NONE,
    PREFERENCE_MENTIONS,
    SNOOZED,
    ONLINE,
    RECIPIENT_CAP,
)
"""Reasons a member is skipped, in the order the rules are applied."""

DEFAULT_MAX_RECIPIENTS: Final = 100


@dataclass(frozen=True, slots=True)
class Rules:
    """Per-app choices: Stream's older docs skip online members, its newer ones do not."""

    skip_online: bool = True
    max_recipients: int = DEFAULT_MAX_RECIPIENTS


@dataclass(frozen=True, slots=True)
class Post:
    """The parts of a message the rules look at."""

    sender_id: str
    mentioned: Sequence[str] = ()
    parent_id: str | None = None
    """Set for a thread reply."""
    skip_push: bool = False


@dataclass(slots=True)
class Audience:
    """The channel's state at the time of the message.

    Expiries are epoch seconds; a mute without expiry (None) lasts until it is removed.
    """

    members: Sequence[str]
    push_enabled: bool = True
    channel_preference: PushPreference = NOT_SET
    member_preferences: Mapping[str, PushPreference] = field(default_factory=dict)
    user_preferences: Mapping[str, PushPreference] = field(default_factory=dict)
    channel_mutes: Mapping[str, float | None] = field(default_factory=dict)
    """Member -> expiry of their mute of this channel."""
    sender_muted_by: Mapping[str, float | None] = field(default_factory=dict)
    """Member -> expiry of their mute of the message's sender."""
    thread_participants: frozenset[str] = frozenset()
    """Users who posted in the message's thread (or were mentioned in it)."""
    online_until: Mapping[str, float] = field(default_factory=dict)
    """User -> when their presence expires; online while that is in the future."""


@dataclass(frozen=True, slots=True)
class Skip:
    user_id: str
    reason: str


@dataclass(slots=True)
class Selection:
    """Recipients in priority order, and every other member (or mentioned user) with why."""

    recipients: list[str] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)


def _active(mutes: Mapping[str, float | None], user_id: str, now: float) -> bool:
    if user_id not in mutes:
        return False
    until = mutes[user_id]
    return until is None or until > now


def select(post: Post, audience: Audience, rules: Rules, now: float) -> Selection:
    """Apply the rules to every member; see the module docstring for the order."""
    result = Selection()
    skipped = result.skipped
    mentioned = set(post.mentioned)
    message_wide = (
        SKIP_PUSH if post.skip_push else None if audience.push_enabled else CHANNEL_PUSH_DISABLED
    )
    thread = audience.thread_participants | mentioned if post.parent_id is not None else None
    online = audience.online_until if rules.skip_online else {}
    # Members with no state of their own share one verdict (the channel's preference, or
    # none): only the others go through every rule.
    plain_reason = _preference_reason(resolve(channel=audience.channel_preference), False, now)
    with_state = (
        audience.sender_muted_by.keys()
        | audience.channel_mutes.keys()
        | audience.member_preferences.keys()
        | audience.user_preferences.keys()
        | online.keys()
        | mentioned
    )
    eligible: list[str] = []
    eligible_mentioned: set[str] = set()
    seen: set[str] = set()
    for user_id in audience.members:
        if user_id in seen:
            continue
        seen.add(user_id)
        if user_id == post.sender_id:
            reason: str | None = SENDER
        elif message_wide is not None:
            reason = message_wide
        elif thread is not None and user_id not in thread:
            reason = NOT_THREAD_PARTICIPANT
        elif user_id not in with_state:
            reason = plain_reason
        else:
            reason = _member_reason(user_id, user_id in mentioned, audience, online, now)
        if reason is not None:
            skipped.append(Skip(user_id, reason))
        elif user_id in mentioned:
            eligible_mentioned.add(user_id)
        else:
            eligible.append(user_id)
    ordered = [u for u in dict.fromkeys(post.mentioned) if u in eligible_mentioned]
    ordered.extend(eligible)
    cap = max(rules.max_recipients, 0)
    result.recipients = ordered[:cap]
    skipped.extend(Skip(u, RECIPIENT_CAP) for u in ordered[cap:])
    skipped.extend(Skip(u, NOT_MEMBER) for u in dict.fromkeys(post.mentioned) if u not in seen)
    return result


def _member_reason(
    user_id: str, mentioned: bool, audience: Audience, online: Mapping[str, float], now: float
) -> str | None:
    """The rules after the thread rule, for a member with mutes, preferences or presence."""
    if _active(audience.sender_muted_by, user_id, now):
        return SENDER_MUTED
    if _active(audience.channel_mutes, user_id, now):
        return CHANNEL_MUTED
    effective = resolve(
        audience.member_preferences.get(user_id, NOT_SET),
        audience.user_preferences.get(user_id, NOT_SET),
        audience.channel_preference,
    )
    reason = _preference_reason(effective, mentioned, now)
    if reason is None and online.get(user_id, 0.0) > now:
        return ONLINE
    return reason


def _preference_reason(effective: Effective, mentioned: bool, now: float) -> str | None:
    if effective.level == "none":
        return PREFERENCE_NONE
    if effective.level == "mentions" and not mentioned:
        return PREFERENCE_MENTIONS
    if effective.snoozed(now):
        return SNOOZED
    return None
