"""The push log: an app's recent notifications with what happened to each device.

Read by ``GET /v1/notifications`` and by the admin console, so both show the same thing.
"""

from __future__ import annotations

from typing import Any

from pushgate.notification_ids import PREFIX, first_id_at
from pushgate.queue import Outbox

MAX_LIMIT = 500
RESULTS_EACH = 100
"""Deliveries listed per notification; ``GET /v1/notifications/{id}`` has them all."""


async def recent_notifications(
    outbox: Outbox,
    app_id: str,
    *,
    user_id: str | None = None,
    since: float | None = None,
    before: str | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    """Notifications newest first, accepted at or after ``since`` (epoch s), before id ``before``.

    "Accepted" is the time the id was made, a few microseconds before ``created_at``.

    ``next_before`` is the id to pass as ``before`` for the next (older) page, or None when
    this page is the last.
    """
    listed = await outbox.recent_notifications(
        app_id,
        from_id=first_id_at(since) if since is not None else PREFIX,
        before_id=before,
        user_id=user_id,
        limit=limit,
        results_each=RESULTS_EACH,
    )
    more = len(listed) == limit
    return {"notifications": listed, "next_before": listed[-1]["id"] if more else None}
