"""Chat state the app server mirrors: settings, users, channels, members, mutes, threads,
presence and templates. Every list endpoint is a batch upsert in one transaction."""

from __future__ import annotations

import re
import time
from typing import Any, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from pushgate.api.auth import GatewayDep, ManagedApp
from pushgate.api.errors import error_response, error_responses
from pushgate.engine.chat.anonymous import refuse_anonymous
from pushgate.engine.chat.preferences import PushPreference
from pushgate.engine.content_modes import ContentMode
from pushgate.engine.templates import DEFAULT_TEMPLATE, ProviderType, TemplateError, check_template
from pushgate.errors import NotFound
from pushgate.store.chat import Channel, ChatSettings, ChatUser, Member, UserMute

router = APIRouter(prefix="/v1/chat", tags=["chat"])

MAX_BATCH = 1_000
Id = Field(min_length=1, max_length=255)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PushPreferenceIn(_Strict):
    """``all`` / ``mentions`` / ``none`` (None defers to the next scope), and a snooze."""

    level: Literal["all", "mentions", "none"] | None = None
    disabled_until: float | None = Field(default=None, description="Epoch seconds.")

    def record(self) -> PushPreference:
        return PushPreference(self.level, self.disabled_until)


def _preference(value: PushPreferenceIn | None) -> PushPreference:
    return value.record() if value is not None else PushPreference()


class SettingsIn(_Strict):
    content_mode: ContentMode = "full"
    skip_online: bool = Field(default=True, description="Skip members who are online.")
    max_recipients: int = Field(default=100, ge=1, le=10_000)
    anonymous_user_pattern: str = Field(default=r"^!anon", max_length=200)
    content_ttl_seconds: float = Field(default=86_400.0, ge=60, le=30 * 86_400)

    @field_validator("anonymous_user_pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return value


class UserIn(_Strict):
    id: str = Id
    name: str | None = Field(default=None, max_length=255)
    push: PushPreferenceIn | None = None


class UsersIn(_Strict):
    users: list[UserIn] = Field(min_length=1, max_length=MAX_BATCH)


class ChannelIn(_Strict):
    id: str = Id
    type: str = Field(default="messaging", min_length=1, max_length=64)
    name: str | None = Field(default=None, max_length=255)
    push_notifications: bool = True
    content_mode: ContentMode | None = Field(
        default=None, description="Overrides the app's content mode for this channel."
    )
    push: PushPreferenceIn | None = None


class ChannelsIn(_Strict):
    channels: list[ChannelIn] = Field(min_length=1, max_length=MAX_BATCH)


class MemberIn(_Strict):
    channel_id: str = Id
    user_id: str = Id
    push: PushPreferenceIn | None = None
    muted: bool = Field(default=False, description="The member muted this channel.")
    mute_expires_at: float | None = Field(default=None, description="Epoch s; None: for good.")


class MembersIn(_Strict):
    members: list[MemberIn] = Field(min_length=1, max_length=10_000)


class MuteIn(_Strict):
    user_id: str = Id
    muted_user_id: str = Id
    expires_at: float | None = None


class MutesIn(_Strict):
    mutes: list[MuteIn] = Field(min_length=1, max_length=MAX_BATCH)


class ThreadIn(_Strict):
    parent_id: str = Id
    user_ids: list[str] = Field(min_length=1, max_length=MAX_BATCH)


class PresenceIn(_Strict):
    user_id: str = Id
    online: bool
    ttl_seconds: float = Field(
        default=300.0, gt=0, le=86_400, description="Online until this runs out."
    )


class PresencesIn(_Strict):
    presence: list[PresenceIn] = Field(min_length=1, max_length=MAX_BATCH)


class TemplateIn(_Strict):
    template: str = Field(min_length=1, max_length=32_768)


@router.get("/settings")
async def get_settings(app: ManagedApp, gw: GatewayDep) -> dict[str, Any]:
    found = await gw.chat.settings(app.id)
    return SettingsIn(
        content_mode=found.content_mode,  # type: ignore[arg-type]
        skip_online=found.skip_online,
        max_recipients=found.max_recipients,
        anonymous_user_pattern=found.anonymous_user_pattern,
        content_ttl_seconds=found.content_ttl,
    ).model_dump()


@router.put("/settings")
async def put_settings(body: SettingsIn, app: ManagedApp, gw: GatewayDep) -> dict[str, Any]:
    await gw.chat.put_settings(
        app.id,
        ChatSettings(
            content_mode=body.content_mode,
            skip_online=body.skip_online,
            max_recipients=body.max_recipients,
            anonymous_user_pattern=body.anonymous_user_pattern,
            content_ttl=body.content_ttl_seconds,
        ),
    )
    return body.model_dump()


@router.post("/users")
async def upsert_users(body: UsersIn, app: ManagedApp, gw: GatewayDep) -> dict[str, int]:
    await refuse_anonymous(gw.chat, app.id, [u.id for u in body.users])
    users = [ChatUser(id=u.id, name=u.name, push=_preference(u.push)) for u in body.users]
    await gw.chat.upsert_users(app.id, users)
    return {"upserted": len(users)}


@router.post("/channels")
async def upsert_channels(body: ChannelsIn, app: ManagedApp, gw: GatewayDep) -> dict[str, int]:
    channels = [
        Channel(
            id=c.id,
            type=c.type,
            name=c.name,
            push_notifications=c.push_notifications,
            content_mode=c.content_mode,
            push=_preference(c.push),
        )
        for c in body.channels
    ]
    await gw.chat.upsert_channels(app.id, channels)
    return {"upserted": len(channels)}


@router.post("/members", responses=error_responses(404))
async def upsert_members(body: MembersIn, app: ManagedApp, gw: GatewayDep) -> dict[str, int]:
    missing = await gw.chat.missing_channels(app.id, [m.channel_id for m in body.members])
    if missing:
        raise NotFound(
            f"No channel {missing[0][:80]!r}: create channels (POST /v1/chat/channels) before "
            "adding members."
        )
    await refuse_anonymous(gw.chat, app.id, [m.user_id for m in body.members])
    members = [
        Member(
            channel_id=m.channel_id,
            user_id=m.user_id,
            push=_preference(m.push),
            muted=m.muted,
            mute_expires_at=m.mute_expires_at,
        )
        for m in body.members
    ]
    await gw.chat.upsert_members(app.id, members)
    return {"upserted": len(members)}


@router.delete(
    "/channels/{channel_id}/members/{user_id}", status_code=204, responses=error_responses(404)
)
async def remove_member(channel_id: str, user_id: str, app: ManagedApp, gw: GatewayDep) -> Response:
    if not await gw.chat.remove_member(app.id, channel_id, user_id):
        raise NotFound("That user is not a member of that channel.")
    return Response(status_code=204)


@router.post("/mutes")
async def upsert_mutes(body: MutesIn, app: ManagedApp, gw: GatewayDep) -> dict[str, int]:
    mutes = [UserMute(user_id=m.user_id, muted_user_id=m.muted_user_id, expires_at=m.expires_at)
             for m in body.mutes]  # fmt: skip
    await gw.chat.upsert_user_mutes(app.id, mutes)
    return {"upserted": len(mutes)}


@router.delete("/mutes/{user_id}/{muted_user_id}", status_code=204, responses=error_responses(404))
async def remove_mute(
    user_id: str, muted_user_id: str, app: ManagedApp, gw: GatewayDep
) -> Response:
    if not await gw.chat.remove_user_mute(app.id, user_id, muted_user_id):
        raise NotFound("That user has not muted that user.")
    return Response(status_code=204)


@router.post("/threads")
async def add_thread_participants(
    body: ThreadIn, app: ManagedApp, gw: GatewayDep
) -> dict[str, int]:
    await gw.chat.add_thread_participants(app.id, body.parent_id, body.user_ids)
    return {"added": len(body.user_ids)}


@router.post("/presence")
async def set_presence(body: PresencesIn, app: ManagedApp, gw: GatewayDep) -> dict[str, int]:
    now = time.time()
    await gw.chat.set_presence(
        app.id, {p.user_id: (now + p.ttl_seconds if p.online else None) for p in body.presence}
    )
    return {"updated": len(body.presence)}


@router.put("/templates/{provider_type}", response_model=None)
async def put_template(
    provider_type: ProviderType,
    body: TemplateIn,
    app: ManagedApp,
    gw: GatewayDep,
    event_type: str = Query(default="", max_length=64, description="'' for every event type."),
) -> dict[str, Any] | JSONResponse:
    """Save a template after rendering it with sample data; 422 with the stage and line if not."""
    try:
        sample = check_template(body.template, provider_type)
    except TemplateError as exc:
        return error_response(422, exc.code, exc.message, stage=exc.stage, line=exc.line)
    await gw.chat.put_template(app.id, provider_type, event_type, body.template)
    return {
        "provider_type": provider_type,
        "event_type": event_type,
        "sample": sample.model_dump(exclude_defaults=True),
    }


@router.get("/templates")
async def list_templates(app: ManagedApp, gw: GatewayDep) -> dict[str, Any]:
    found = await gw.chat.templates(app.id)
    return {
        "templates": [
            {"provider_type": p, "event_type": e, "template": s}
            for (p, e), s in sorted(found.items())
        ],
        "default": DEFAULT_TEMPLATE,
    }


@router.delete("/templates/{provider_type}", status_code=204, responses=error_responses(404))
async def delete_template(
    provider_type: ProviderType, app: ManagedApp, gw: GatewayDep, event_type: str = ""
) -> Response:
    if not await gw.chat.delete_template(app.id, provider_type, event_type):
        raise NotFound("No such template; GET /v1/chat/templates lists them.")
    return Response(status_code=204)
