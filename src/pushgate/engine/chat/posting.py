"""Posting a message: record it, decide who gets a push, and compose each receiver's pushes.

One notification per (receiver, platform): each receiver's push carries their own badge and
name, and a platform's template applies to that platform's devices only. The caller accepts
the planned notifications through the accept use case, with the message, its decisions and
notification ids (``posted``) written in the accept's transaction: one durable write.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from pushgate.engine.chat.recipients import Audience, Post, Rules, Selection, select
from pushgate.engine.content_modes import ContentMode, compose
from pushgate.engine.templates import (
    DEFAULT_TEMPLATE,
    EVENT_MESSAGE_NEW,
    MEMBERS_SHOWN,
    variables_used,
)
from pushgate.errors import Conflict, NotFound, RequestError
from pushgate.message import Message
from pushgate.store import Device
from pushgate.store.chat import (
    Channel,
    ChatMessage,
    ChatSettings,
    ChatStore,
    FetchToken,
    MessageContext,
    Posted,
)

NOTIFIED: Final = "notified"
NO_DEVICES: Final = "no_devices"
RENDER_FAILED: Final = "render_failed"
MAX_DEVICES_PER_RECIPIENT: Final = 25


def token_hash(token: str) -> str:
    """How fetch tokens are stored: a leaked database does not hand out content."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(slots=True)
class PlannedPush:
    """One notification to accept: one message for some receivers' devices on one platform."""

    user_ids: list[str]
    platform: str
    message: Message
    devices: list[Device]
    fetch_token: FetchToken | None = None


@dataclass(slots=True)
class Plan:
    message: ChatMessage
    decisions: list[dict[str, Any]]
    pushes: list[PlannedPush] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    """Receiver -> why their push could not be rendered (reason ``render_failed``)."""


def template_for(
    templates: Mapping[tuple[str, str], str], platform: str, event_type: str
) -> str | None:
    """The app's template for the event type, else for every event, else None (default)."""
    return templates.get((platform, event_type)) or templates.get((platform, ""))


def variables(
    message: ChatMessage,
    context: MessageContext,
    receiver_id: str,
    unread: int,
    event_type: str = EVENT_MESSAGE_NEW,
) -> dict[str, Any]:
    """The template variables for one receiver (see engine.templates)."""
    return for_receiver(
        shared_variables(message, context, event_type), context, receiver_id, unread
    )


def shared_variables(
    message: ChatMessage, context: MessageContext, event_type: str = EVENT_MESSAGE_NEW
) -> dict[str, Any]:
    """The variables that are the same for every receiver of a message."""
    channel = context.channel or Channel(id=message.channel_id)
    return {
        "sender": _person(context, message.sender_id),
        "channel": {"id": channel.id, "type": channel.type, "name": channel.name or ""},
        "message": {
            "id": message.id,
            "text": message.text or "",
            "parent_id": message.parent_id,
            "mentioned_user_ids": list(message.mentioned),
            "attachments": message.attachments,
        },
        "thread": {"id": message.parent_id},
        "members": [_person(context, u) for u in context.members[:MEMBERS_SHOWN]],
        "member_count": len(context.members),
        "event_type": event_type,
    }


def for_receiver(
    shared: Mapping[str, Any], context: MessageContext, receiver_id: str, unread: int
) -> dict[str, Any]:
    """``shared`` plus the variables of one receiver (``RECEIVER_VARIABLES``)."""
    return {**shared, "receiver": _person(context, receiver_id), "unread_count": unread}


RECEIVER_VARIABLES: Final = ("receiver", "unread_count")
"""The only variables that differ between the receivers of one message."""


def _person(context: MessageContext, user_id: str) -> dict[str, Any]:
    user = context.users.get(user_id)
    return {"id": user_id, "name": (user.name if user and user.name else user_id)}


class Renders:
    """The messages composed for one post so far. Receivers whose pushes read the same values
    share one render: a template that names no receiver renders once per distinct badge, not
    once per receiver (a 100-member channel is one or two renders instead of 100)."""

    def __init__(self) -> None:
        self._done: dict[tuple[Any, ...], Message] = {}

    def compose(
        self,
        platform: str,
        mode: ContentMode,
        values: Mapping[str, Any],
        source: str | None,
        ack_token: str | None,
    ) -> Message:
        if ack_token is not None:  # a push with its own fetch token is never shared
            return compose(mode, platform, values, source, ack_token).message
        used = variables_used(source or DEFAULT_TEMPLATE) if mode == "full" else _FIXED_MODES
        key = (
            platform,
            mode,
            source,
            values["receiver"]["id"] if "receiver" in used else None,
            values["unread_count"] if "unread_count" in used else None,
        )
        found = self._done.get(key)
        if found is None:
            found = self._done[key] = compose(mode, platform, values, source).message
        return found


_FIXED_MODES: Final = frozenset({"unread_count"})
"""What the fixed content modes read of the receiver's variables (the badge)."""


def audience_of(context: MessageContext) -> Audience:
    channel = context.channel or Channel(id="")
    return Audience(
        members=context.members,
        push_enabled=channel.push_notifications,
        channel_preference=channel.push,
        member_preferences=context.member_preferences,
        user_preferences={u.id: u.push for u in context.users.values()},
        channel_mutes=context.channel_mutes,
        sender_muted_by=context.sender_muted_by,
        thread_participants=context.thread_participants,
        online_until=context.online_until,
    )


def decide(
    message: ChatMessage, context: MessageContext, settings: ChatSettings, now: float
) -> Selection:
    post = Post(message.sender_id, message.mentioned, message.parent_id, message.skip_push)
    rules = Rules(settings.skip_online, settings.max_recipients)
    return select(post, audience_of(context), rules, now)


def devices_by_user(devices: Sequence[Device]) -> dict[str, list[Device]]:
    """Each user's devices, newest first, at most MAX_DEVICES_PER_RECIPIENT."""
    found: dict[str, list[Device]] = {}
    for device in sorted(devices, key=lambda d: d.created_at, reverse=True):
        mine = found.setdefault(device.user_id, [])
        if len(mine) < MAX_DEVICES_PER_RECIPIENT:
            mine.append(device)
    return found


def content_mode(context: MessageContext, settings: ChatSettings) -> ContentMode:
    mode = (context.channel.content_mode if context.channel else None) or settings.content_mode
    return mode  # type: ignore[return-value]


def compose_for(
    platform: str,
    mode: ContentMode,
    values: Mapping[str, Any],
    templates: Mapping[tuple[str, str], str],
    ack_token: str | None = None,
    template: str | None = None,
    renders: Renders | None = None,
) -> Message:
    """One receiver's message on one platform; ``template`` overrides the app's."""
    source = template or template_for(templates, platform, values["event_type"])
    return (renders or Renders()).compose(platform, mode, values, source, ack_token)


async def plan_message(
    chat: ChatStore,
    app_id: str,
    message: ChatMessage,
    inline_members: Sequence[str] | None,
    now: float,
) -> Plan:
    """Decide and compose a message's pushes from one read of the chat state (nothing is
    written, sent or accepted here: ``Plan.posted`` is written with the pushes' accept).

    The message's content is kept for the app's content TTL from ``now``.
    """
    chosen: list[Selection] = []

    def choose(settings: ChatSettings, context: MessageContext) -> Sequence[str]:
        chosen.append(decide(message, context, settings, now))
        return chosen[0].recipients

    state = await chat.post_state(app_id, message, inline_members, now, choose)
    if state.posted:
        raise already_posted(message.id)
    context = state.context
    if context is None:
        raise NotFound(
            f"No channel {message.channel_id[:80]!r}: create it (POST /v1/chat/channels) or "
            "send the message's members inline ('members')."
        )
    settings = state.settings
    stored = dataclasses.replace(message, content_expires_at=now + settings.content_ttl)
    selection = chosen[0]
    devices = devices_by_user(state.devices)
    reasons = {u: NOTIFIED if u in devices else NO_DEVICES for u in selection.recipients}
    plan = Plan(stored, [])
    notified = [u for u in selection.recipients if u in devices]
    if notified:
        mode = content_mode(context, settings)
        shared = shared_variables(stored, context)
        renders = Renders()
        for user_id in notified:
            values = for_receiver(shared, context, user_id, state.unread.get(user_id, 0))
            try:
                pushes = plan_pushes(
                    user_id, devices[user_id], values, mode, state.templates, settings, now,
                    renders=renders,
                )  # fmt: skip
            except RequestError as exc:  # this receiver's render failed; the others still go
                reasons[user_id] = RENDER_FAILED
                plan.failures[user_id] = exc.message
                continue
            plan.pushes.extend(pushes)
    plan.decisions = [{"user_id": u, "reason": r} for u, r in reasons.items()]
    plan.decisions.extend({"user_id": s.user_id, "reason": s.reason} for s in selection.skipped)
    plan.pushes = merge_identical(plan.pushes)
    return plan


def already_posted(message_id: str) -> Conflict:
    return Conflict(
        f"Message {message_id[:80]!r} was already posted; its pushes were accepted then."
    )


def posted(
    message: ChatMessage | None,
    decisions: list[dict[str, Any]] | None,
    pushes: Sequence[PlannedPush],
    notification_ids: Sequence[str],
) -> Posted:
    """What to write with the accepted pushes: the message with its decisions and their
    notification ids (None: a test push), and each fetch token naming its notification."""
    tokens = [
        dataclasses.replace(p.fetch_token, notification_id=nid)
        for p, nid in zip(pushes, notification_ids, strict=True)
        if p.fetch_token is not None
    ]
    if message is not None:
        message = dataclasses.replace(
            message, decisions=decisions, notification_ids=list(notification_ids)
        )
    return Posted(message=message, tokens=tokens)


def merge_identical(pushes: Sequence[PlannedPush]) -> list[PlannedPush]:
    """One notification per distinct message and platform: receivers whose pushes render the
    same (same badge, a template that does not name the receiver) share it, so the outbox
    write and the dispatcher see one fan-out instead of one notification per receiver. Pushes
    with a fetch token stay apart (each token is its own)."""
    merged: dict[tuple[str, str], PlannedPush] = {}
    texts: dict[int, str] = {}  # receivers sharing a render share its message object
    result = []
    for push in pushes:
        if push.fetch_token is not None:
            result.append(push)
            continue
        text = texts.get(id(push.message))
        if text is None:
            text = texts[id(push.message)] = push.message.model_dump_json(exclude_defaults=True)
        key = (push.platform, text)
        found = merged.get(key)
        if found is None:
            merged[key] = push
            result.append(push)
        else:
            found.user_ids.extend(push.user_ids)
            found.devices.extend(push.devices)
    return result


def plan_pushes(
    user_id: str,
    devices: Sequence[Device],
    values: Mapping[str, Any],
    mode: ContentMode,
    templates: Mapping[tuple[str, str], str],
    settings: ChatSettings,
    now: float,
    template: str | None = None,
    renders: Renders | None = None,
) -> list[PlannedPush]:
    """One receiver's pushes, one per platform of their devices.

    In ``id_only`` mode each push gets a fresh fetch token; the content it fetches is what
    ``full`` mode would have shown on that platform.
    """
    by_platform: dict[str, list[Device]] = {}
    for device in devices:
        by_platform.setdefault(device.platform, []).append(device)
    pushes = []
    for platform, mine in by_platform.items():
        fetch = None
        ack_token = None
        if mode == "id_only":
            ack_token = secrets.token_urlsafe(24)
            full = compose_for(
                platform, "full", values, templates, template=template, renders=renders
            )
            fetch = FetchToken(
                token_hash=token_hash(ack_token),
                message_id=values["message"]["id"],
                user_id=user_id,
                notification_id="",
                content=full.model_dump_json(exclude_defaults=True),
                expires_at=now + settings.content_ttl,
            )
        pushed = compose_for(platform, mode, values, templates, ack_token, template, renders)
        pushes.append(PlannedPush([user_id], platform, pushed, mine, fetch))
    return pushes
