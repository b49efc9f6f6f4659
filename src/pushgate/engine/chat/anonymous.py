"""Anonymous users hold no devices: ids matching the app's pattern are refused.

Stream Chat's push documentation warns against registering devices for anonymous users; we
refuse them outright, with an error that says so, instead of silently ignoring them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pushgate.errors import RequestError
from pushgate.store.chat import ChatStore


async def refuse_anonymous(chat: ChatStore, app_id: str, user_ids: Sequence[str]) -> None:
    """RequestError (code ``anonymous_user``) if any id matches the app's pattern."""
    settings = await chat.settings(app_id)
    pattern = re.compile(settings.anonymous_user_pattern)
    anonymous = next((u for u in user_ids if pattern.search(u)), None)
    if anonymous is not None:
        raise RequestError(
            f"{anonymous[:80]!r} is an anonymous user id (it matches {pattern.pattern!r}); "
            "anonymous users cannot hold devices or chat state. Use a signed-in user's id.",
            code="anonymous_user",
        )
