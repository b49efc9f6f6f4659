"""Turn a send request's targets (tokens, user ids) into one delivery per device."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pushgate.store import Device, NewDelivery, SqliteStore


@dataclass(slots=True)
class Recipients:
    """The deliveries to make, and the targets that got none (with why)."""

    deliveries: list[NewDelivery] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)

    @property
    def platforms(self) -> set[str]:
        return {d.platform for d in self.deliveries}


async def resolve(
    store: SqliteStore, app_id: str, *, tokens: Sequence[str], user_ids: Sequence[str]
) -> Recipients:
    """Active devices of ``user_ids`` plus the devices of ``tokens``, each device once."""
    result = Recipients()
    seen: set[int] = set()
    if user_ids:
        devices = await store.active_devices_of_users(app_id, user_ids)
        found_users = {d.user_id for d in devices}
        result.skipped += [
            {"user_id": u, "reason": "no_active_devices"}
            for u in dict.fromkeys(user_ids)
            if u not in found_users
        ]
        _add(result, devices, seen)
    if tokens:
        wanted = list(dict.fromkeys(tokens))
        # APNs tokens are stored lower-case; FCM tokens and endpoints are case-sensitive.
        candidates = list(dict.fromkeys([*wanted, *(t.lower() for t in wanted)]))
        by_token = {d.token: d for d in await store.devices_by_tokens(app_id, candidates)}
        found = []
        for token in wanted:
            device = by_token.get(token) or by_token.get(token.lower())
            if device is None:
                result.skipped.append({"token": token, "reason": "unknown_token"})
            elif not device.active:
                result.skipped.append({"token": token, "reason": "inactive_device"})
            else:
                found.append(device)
        _add(result, found, seen)
    return result


def _add(result: Recipients, devices: Sequence[Device], seen: set[int]) -> None:
    for device in devices:
        if device.id in seen:
            continue
        seen.add(device.id)
        result.deliveries.append(
            NewDelivery(
                device_id=device.id,
                user_id=device.user_id,
                platform=device.platform,
                token=device.token,
                environment=device.environment,
                extra=device.extra or None,
            )
        )
