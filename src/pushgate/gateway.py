"""The running gateway: store, credentials and dispatch (here or in its own process), wired once.

``Gateway`` is the composition root. The API layer calls its methods; nothing below it
knows about HTTP.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from pushgate.config import Settings
from pushgate.credentials import CredentialRegistry, secret_box
from pushgate.dispatch.process import DispatcherProcess
from pushgate.dispatch.stack import DeliveryStack, DispatchControl
from pushgate.engine.accept import Acceptor
from pushgate.errors import ConfigurationError
from pushgate.files import private_dir
from pushgate.keys import ADMIN, KeyUsage
from pushgate.ratelimit import RateLimiter
from pushgate.readiness import Readiness
from pushgate.retention import Retention
from pushgate.security import (
    ADMIN_PREFIX,
    hash_api_key,
    key_matches,
    new_api_key,
)
from pushgate.store import App
from pushgate.store.backends import backend_for
from pushgate.webhooks import WebhookSender

ADMIN_KEY_META = "admin_api_key_hash"
ADMIN_ACTOR = "admin"
"""The audit log's name for the installation's admin key (configured or generated)."""
CLI_ACTOR = "cli"
"""The audit log's name for operator commands run on the data dir (``pushgate admin``)."""


@dataclass(frozen=True, slots=True)
class Caller:
    """Who made an API request: an admin key, or a key of one app. ``key_id`` names the key
    in the audit log (``admin`` for the installation's admin key)."""

    key_id: str
    scope: str
    """``admin``, ``manage`` or ``send`` (see ``pushgate.keys``)."""
    app: App | None = None
    rate_limit: int | None = None
    """The key's own requests per minute, over ``rate_limits.per_key``."""

    @property
    def admin(self) -> bool:
        """An admin key."""
        return self.scope == ADMIN


class Gateway:
    """Owns every long-lived part of a running pushgate."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.backend = backend_for(settings)
        self.store = self.backend.store
        self.chat = self.backend.chat
        self.secret_box = secret_box(settings)
        self.registry = CredentialRegistry(self.store, self.secret_box)
        if clock is not time.time and settings.dispatch.separate_process:
            raise ValueError("an injected clock needs dispatch.separate_process = false")
        self.dispatcher: DispatchControl = (
            DispatcherProcess(settings)
            if settings.dispatch.separate_process
            else DeliveryStack(
                settings, self.backend.outbox, self.store, self.registry, clock=clock
            )
        )
        self.acceptor = Acceptor(
            self.store,
            self.backend.outbox,
            self.dispatcher,
            retry_deadline=settings.dispatch.retry_deadline,
            wait_timeout=settings.dispatch.wait_timeout,
            limits=settings.limits,
            clock=clock,
        )
        self.retention = Retention(self.backend.outbox, self.store, settings.retention, clock=clock)
        self.webhooks = WebhookSender(self.store, self.secret_box, settings.webhooks, clock=clock)
        self.key_usage = KeyUsage(self.store)
        self.rate_limiter = RateLimiter(settings.rate_limits)
        self.readiness = Readiness(self.store, self.backend.outbox, self.dispatcher, clock=clock)
        self._admin_hash: str | None = None
        self.generated_admin_key: str | None = None
        """Set on the first start without a configured admin key; shown to the operator once."""

    async def start(self) -> None:
        """Open the store, settle the admin key, load the outbox and start dispatching."""
        private_dir(self.settings.data_dir)
        await self.backend.open()
        await self._settle_admin_key()
        await self.dispatcher.start()
        self.retention.start()
        self.webhooks.start()

    async def stop(self) -> None:
        """Finish in-flight sends, write their results, close connections and the store."""
        await self.retention.stop()
        await self.webhooks.stop()
        await self.rate_limiter.close()
        await self.dispatcher.stop()
        await self.backend.close()

    async def reset_admin_key(self) -> str:
        """A new admin key replacing the stored one (the old one stops working); shown once."""
        if self.settings.admin_api_key is not None:
            raise ConfigurationError(
                "The admin key is set in the configuration (admin_api_key or "
                "PUSHGATE_ADMIN_API_KEY): change it there instead."
            )
        key = new_api_key(ADMIN_PREFIX)
        await self.store.set_meta(ADMIN_KEY_META, hash_api_key(key))
        self._admin_hash = hash_api_key(key)
        await self.audit(CLI_ACTOR, "key.reset_admin", ADMIN_ACTOR, None)
        return key

    async def _settle_admin_key(self) -> None:
        configured = self.settings.admin_api_key
        if configured is not None:
            self._admin_hash = hash_api_key(configured.get_secret_value())
            return
        stored = await self.store.get_meta(ADMIN_KEY_META)
        if stored is None:
            key = new_api_key(ADMIN_PREFIX)
            if await self.store.set_meta_if_absent(ADMIN_KEY_META, hash_api_key(key)):
                self.generated_admin_key = key
            stored = await self.store.get_meta(ADMIN_KEY_META)
        self._admin_hash = stored

    async def identify(self, api_key: str) -> Caller | None:
        """The caller an API key belongs to, or None."""
        if self._admin_hash and key_matches(api_key, self._admin_hash):
            return Caller(key_id=ADMIN_ACTOR, scope=ADMIN)
        if api_key.startswith(ADMIN_PREFIX) and self.settings.admin_api_key is None:
            # 'pushgate admin reset-key' may have replaced the stored hash since start-up
            stored = await self.store.get_meta(ADMIN_KEY_META)
            if stored and stored != self._admin_hash and key_matches(api_key, stored):
                self._admin_hash = stored
                return Caller(key_id=ADMIN_ACTOR, scope=ADMIN)
        found = await self.store.key_by_hash(hash_api_key(api_key), time.time())
        if found is None:
            return None
        key, app = found
        self.key_usage.seen(key.id)
        return Caller(key_id=key.id, scope=key.scope, app=app, rate_limit=key.rate_limit)

    async def audit(self, actor: str, action: str, target: str, app_id: str | None) -> None:
        """Record who (a key id) changed what; ``target`` names it, never holds a secret."""
        await self.store.record_audit(actor=actor, app_id=app_id, action=action, target=target)

    def forget_credentials(self, app_id: str) -> None:
        """Make every provider reload the app's credentials."""
        self.dispatcher.forget_app(app_id)
