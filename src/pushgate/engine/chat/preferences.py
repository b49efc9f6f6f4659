"""Push preferences: ``all`` / ``mentions`` / ``none`` plus a snooze, resolved across scopes.

Stream Chat's precedence: a channel member's own setting beats the user's, which beats the
channel's, and without any the level is ``all``. The snooze (``disabled_until``) follows the
same precedence, so a member-level snooze of one channel does not silence the user elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

Level = Literal["all", "mentions", "none"]
LEVELS: tuple[str, ...] = get_args(Level)
DEFAULT_LEVEL: Level = "all"


@dataclass(frozen=True, slots=True)
class PushPreference:
    """One scope's setting; a None field defers to the next scope."""

    level: Level | None = None
    disabled_until: float | None = None
    """Epoch seconds until which pushes are snoozed."""


NOT_SET = PushPreference()


@dataclass(frozen=True, slots=True)
class Effective:
    """The setting that applies to one member for one message."""

    level: Level
    disabled_until: float | None

    def snoozed(self, now: float) -> bool:
        return self.disabled_until is not None and self.disabled_until > now


def resolve(
    member: PushPreference = NOT_SET,
    user: PushPreference = NOT_SET,
    channel: PushPreference = NOT_SET,
) -> Effective:
    """Member > user > channel > default, field by field."""
    level = member.level or user.level or channel.level or DEFAULT_LEVEL
    until = member.disabled_until
    if until is None:
        until = user.disabled_until if user.disabled_until is not None else channel.disabled_until
    return Effective(level, until)
