"""Turn send requests' targets (tokens, user ids) into one delivery per device.

A batch is resolved with two queries in all (devices of every user id, devices of every
token), not two per request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pushgate.store import Device, DeviceRepository, NewDelivery


@dataclass(frozen=True, slots=True)
class Targets:
    """Who one send request addresses."""

    tokens: Sequence[str] = ()
    user_ids: Sequence[str] = ()


@dataclass(slots=True)
class Recipients:
    """The deliveries to make, and the targets that got none (with why)."""

    deliveries: list[NewDelivery] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)

    @property
    def platforms(self) -> set[str]:
        return {d.platform for d in self.deliveries}


async def resolve_many(
    store: DeviceRepository, app_id: str, batch: Sequence[Targets]
) -> list[Recipients]:
    """Recipients of each request: active devices of its users and devices of its tokens."""
    users = list(dict.fromkeys(u for t in batch for u in t.user_ids))
    # APNs tokens are stored lower-case; FCM tokens and endpoints are case-sensitive.
    tokens = list(dict.fromkeys(x for t in batch for tok in t.tokens for x in (tok, tok.lower())))
    by_user: dict[str, list[Device]] = {}
    for device in await store.active_devices_of_users(app_id, users) if users else []:
        by_user.setdefault(device.user_id, []).append(device)
    by_token = {d.token: d for d in await store.devices_by_tokens(app_id, tokens)} if tokens else {}
    return [_assemble(targets, by_user, by_token) for targets in batch]


async def resolve(
    store: DeviceRepository, app_id: str, *, tokens: Sequence[str], user_ids: Sequence[str]
) -> Recipients:
    """Recipients of one request."""
    return (await resolve_many(store, app_id, [Targets(tokens, user_ids)]))[0]


def _assemble(
    targets: Targets, by_user: dict[str, list[Device]], by_token: dict[str, Device]
) -> Recipients:
    result = Recipients()
    seen: set[int] = set()
    for user_id in dict.fromkeys(targets.user_ids):
        devices = by_user.get(user_id)
        if not devices:
            result.skipped.append({"user_id": user_id, "reason": "no_active_devices"})
            continue
        _add(result, devices, seen)
    for token in dict.fromkeys(targets.tokens):
        device = by_token.get(token) or by_token.get(token.lower())
        if device is None:
            result.skipped.append({"token": token, "reason": "unknown_token"})
        elif not device.active:
            result.skipped.append({"token": token, "reason": "inactive_device"})
        else:
            _add(result, [device], seen)
    return result


def _add(result: Recipients, devices: Sequence[Device], seen: set[int]) -> None:
    for device in devices:
        if device.id in seen:
            continue
        seen.add(device.id)
        result.deliveries.append(delivery_to(device))


def delivery_to(device: Device) -> NewDelivery:
    """A new delivery to a registered device."""
    return NewDelivery(
        device_id=device.id,
        user_id=device.user_id,
        platform=device.platform,
        token=device.token,
        apns_environment=device.apns_environment,
        fcm_credential=device.fcm_credential,
        extra=device.extra or None,
    )
