"""The audit log: who (a key id) changed apps, keys and credentials, and when.

The admin reads every entry (or one app's); an app's manage key reads its own app's only.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from pushgate.api.auth import AnyCaller, Forbidden, GatewayDep
from pushgate.keys import MANAGE
from pushgate.store.models import MAX_ROW_ID

router = APIRouter(prefix="/v1/audit", tags=["audit"])


class AuditEntryOut(BaseModel):
    """One change: never a secret, only names of what changed."""

    id: int
    at: float
    actor: str
    app_id: str | None
    action: str
    target: str


class AuditPage(BaseModel):
    """Entries newest first; ``next_before`` fetches the older ones (None: no more)."""

    entries: list[AuditEntryOut]
    next_before: int | None


@router.get("", response_model=AuditPage)
async def list_audit(
    gw: GatewayDep,
    who: AnyCaller,
    app_id: Annotated[str | None, Query(description="Only this app's entries (admin).")] = None,
    before: Annotated[
        int | None, Query(ge=1, le=MAX_ROW_ID, description="Entries older than this id.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditPage:
    """The audit log, newest first."""
    if not who.admin:
        if who.scope != MANAGE or who.app is None:
            raise Forbidden("The audit log needs an admin key or a manage key of the app.")
        if app_id is not None and app_id != who.app.id:
            raise Forbidden("An app key reads only its own app's audit log.")
        app_id = who.app.id
    found = await gw.store.list_audit(app_id=app_id, before=before, limit=limit)
    return AuditPage(
        entries=[AuditEntryOut(**dataclasses.asdict(entry)) for entry in found],
        next_before=found[-1].id if len(found) == limit else None,
    )
