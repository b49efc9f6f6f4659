"""What the rest of pushgate may ask of the store: one protocol per repository.

Code outside ``store/`` and ``queue/`` depends on these protocols only; ``store.backends``
picks the implementation (SQLite or PostgreSQL) from the configuration.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from pushgate.store.models import (
    ApiKey,
    App,
    AuditEntry,
    Device,
    DeviceFeedback,
    StoredCredential,
    Webhook,
    WebhookCall,
)


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
    """Tenants; each is created with its ``default`` manage key."""

    async def create_app(self, name: str, api_key_hash: str, api_key_prefix: str) -> App | None:
        """A new app with its default manage key (stored as this hash), or None when the
        name is taken."""
        ...

    async def list_apps(self) -> list[App]:
        """Every app, oldest first."""
        ...

    async def delete_app(self, app_id: str) -> bool:
        """Remove an app with its keys, credentials, devices and notifications; False if
        unknown."""
        ...


class KeyRepository(Protocol):
    """API keys (stored as hashes): admin keys and the keys of apps."""

    async def create_key(
        self,
        *,
        app_id: str | None,
        scope: str,
        name: str,
        key_hash: str,
        key_prefix: str,
        rate_limit: int | None = None,
    ) -> ApiKey:
        """A new key (``app_id`` None: an admin key)."""
        ...

    async def list_keys(self, app_id: str | None = None) -> list[ApiKey]:
        """Keys oldest first: one app's, or every key when ``app_id`` is None."""
        ...

    async def key_by_hash(self, key_hash: str, now: float) -> tuple[ApiKey, App | None] | None:
        """The usable key (not revoked, not expired at ``now``) with this hash, and its app."""
        ...

    async def rotate_key(
        self, key_id: str, key_hash: str, key_prefix: str, *, previous_valid_until: float
    ) -> ApiKey | None:
        """A new key like ``key_id`` (app, scope, name, rate limit) under this hash; the old
        one expires at ``previous_valid_until``. None when ``key_id`` is unknown, revoked or
        already rotated."""
        ...

    async def revoke_key(self, key_id: str, now: float) -> bool:
        """Stop a key at once; False when there is no such unrevoked key."""
        ...

    async def touch_keys(self, used: Sequence[tuple[str, float]]) -> None:
        """Record (key id, last used at) pairs; not fsynced on their own."""
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
        apns_environment: str | None,
        fcm_credential: str | None,
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


class FeedbackRepository(Protocol):
    """Deactivated devices in order, and apps' webhooks with the durable queue of their calls.

    The outbox writes both when it records results (``record_results``): a device's
    deactivation, its feedback row and its webhook calls commit together."""

    async def list_feedback(self, app_id: str, *, after: int, limit: int) -> list[DeviceFeedback]:
        """Deactivations of the app with ids above ``after``, oldest first."""
        ...

    async def create_webhook(
        self, app_id: str, url: str, events: Sequence[str], secret: bytes
    ) -> Webhook:
        """A new webhook (``secret`` sealed)."""
        ...

    async def list_webhooks(self, app_id: str) -> list[Webhook]:
        """The app's webhooks, oldest first."""
        ...

    async def delete_webhook(self, app_id: str, webhook_id: str) -> bool:
        """Remove a webhook and its queued calls; False when there was none."""
        ...

    async def list_webhook_calls(
        self, app_id: str, webhook_id: str, *, before: int | None, limit: int
    ) -> list[WebhookCall]:
        """The webhook's delivery log, newest first, with ids below ``before``."""
        ...

    async def claim_webhook_calls(
        self, now: float, *, lease: float, limit: int
    ) -> list[tuple[WebhookCall, Webhook]]:
        """Pending calls due by ``now``, oldest first, each held for ``lease`` seconds (so
        another gateway does not send it meanwhile), with its webhook."""
        ...

    async def finish_webhook_call(
        self,
        call_id: int,
        *,
        state: str,
        attempts: int,
        next_attempt_at: float,
        status: int | None,
        error: str | None,
        at: float,
    ) -> None:
        """Write what one try of a call came to (``delivered`` sets ``delivered_at``)."""
        ...

    async def purge_feedback(self, before: float) -> int:
        """Erase feedback rows recorded and finished webhook calls made before ``before``
        (pending calls stay); how many rows went."""
        ...


class Store(
    MetaRepository,
    AppRepository,
    KeyRepository,
    CredentialRepository,
    DeviceRepository,
    AuditRepository,
    FeedbackRepository,
    Protocol,
):
    """Every repository of one backend."""
