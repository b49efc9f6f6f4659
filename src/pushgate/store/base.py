"""What the rest of pushgate may ask of the store: one protocol per repository.

Code outside ``store/`` and ``queue/`` depends on these protocols only; ``store.backends``
picks the implementation (SQLite or PostgreSQL) from the configuration.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from pushgate.store.models import App, AuditEntry, Device, StoredCredential


class MetaRepository(Protocol):
    """Small key/value facts of the installation (the admin key's hash)."""

    async def get_meta(self, key: str) -> str | None:
        """The value stored under ``key``, or None."""
        ...

    async def set_meta_if_absent(self, key: str, value: str) -> bool:
        """Store ``value`` unless the key exists; True when it was stored."""
        ...

    async def set_meta(self, key: str, value: str) -> None:
        """Store ``value`` under the key, replacing any."""
        ...


class AppRepository(Protocol):
    """Tenants and their API keys (stored as hashes)."""

    async def create_app(self, name: str, api_key_hash: str, api_key_prefix: str) -> App | None:
        """A new app, or None when the name is taken."""
        ...

    async def list_apps(self) -> list[App]:
        """Every app, oldest first."""
        ...

    async def app_by_key_hash(self, api_key_hash: str) -> App | None:
        """The app whose API key (or previous key, within its overlap) hashes to this value."""
        ...

    async def rotate_app_key(
        self,
        app_id: str,
        api_key_hash: str,
        api_key_prefix: str,
        *,
        previous_valid_until: float | None = None,
    ) -> bool:
        """Give an app a new key; the old one keeps working until ``previous_valid_until``
        (None: stops at once). False when there is no such app."""
        ...

    async def delete_app(self, app_id: str) -> bool:
        """Remove an app with its credentials, devices and notifications; False if unknown."""
        ...


class CredentialRepository(Protocol):
    """Push credentials of apps; the secret part arrives and leaves encrypted."""

    async def put_credential(
        self, app_id: str, platform: str, name: str, summary: dict[str, Any], secret: bytes
    ) -> StoredCredential:
        """Store a credential, replacing one of the same platform and name."""
        ...

    async def list_credentials(
        self, app_id: str, platform: str | None = None
    ) -> list[StoredCredential]:
        """An app's credentials, optionally of one platform, by platform and name."""
        ...

    async def record_credential_problem(
        self, app_id: str, platform: str, name: str, reason: str, at: float
    ) -> None:
        """Show a configuration fault a push service reported on the credential."""
        ...

    async def annotate_credential(
        self, app_id: str, platform: str, name: str, field: str, value: Any
    ) -> None:
        """Set ``field`` of a credential's summary (what the dispatcher learns while sending)."""
        ...

    async def delete_credential(self, app_id: str, platform: str, name: str) -> bool:
        """Remove a credential; False when there was none."""
        ...

    async def reseal_credentials(self, reseal: Callable[[bytes], bytes]) -> int:
        """Replace every credential's encrypted secret with ``reseal(secret)``, all in one
        transaction (a master-key rotation); returns how many."""
        ...


class DeviceRepository(Protocol):
    """Registered push targets of users."""

    async def register_device(
        self,
        *,
        app_id: str,
        user_id: str,
        platform: str,
        token: str,
        environment: str | None,
        extra: dict[str, Any] | None,
        max_per_user: int,
    ) -> tuple[Device, list[Device]]:
        """Register (or move, or reactivate) a token; returns it and the devices dropped
        to keep the user within ``max_per_user``."""
        ...

    async def list_devices(
        self, app_id: str, user_id: str | None = None, *, limit: int = 1000
    ) -> list[Device]:
        """An app's devices (of one user when given), oldest first."""
        ...

    async def delete_device(self, app_id: str, token: str, platform: str | None = None) -> int:
        """Delete a device by token; returns how many rows went."""
        ...

    async def active_devices_of_users(self, app_id: str, user_ids: Sequence[str]) -> list[Device]:
        """Active devices of these users, oldest first."""
        ...

    async def devices_by_tokens(self, app_id: str, tokens: Sequence[str]) -> list[Device]:
        """Devices (active or not) with these tokens, oldest first."""
        ...


class AuditRepository(Protocol):
    """Who changed apps, keys and credentials, newest last."""

    async def record_audit(
        self, *, actor: str, app_id: str | None, action: str, target: str
    ) -> None:
        """Append one entry (durable before the change is acknowledged)."""
        ...

    async def list_audit(
        self, *, app_id: str | None = None, before: int | None = None, limit: int = 100
    ) -> list[AuditEntry]:
        """Entries newest first (of one app when given), with ids below ``before``."""
        ...


class Store(
    MetaRepository,
    AppRepository,
    CredentialRepository,
    DeviceRepository,
    AuditRepository,
    Protocol,
):
    """Every repository of one backend."""
