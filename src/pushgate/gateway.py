"""The running gateway: store, credentials, transport pool, providers and dispatcher, wired once.

``Gateway`` is the composition root. The API layer calls its methods; nothing below it
knows about HTTP.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from pushgate.config import Settings
from pushgate.credentials import CredentialRegistry
from pushgate.dispatch import Dispatcher
from pushgate.providers.apns_client import ApnsProvider
from pushgate.providers.base import Provider
from pushgate.providers.fcm_client import FcmProvider
from pushgate.providers.webpush_client import WebPushProvider
from pushgate.security import (
    ADMIN_PREFIX,
    SecretBox,
    hash_api_key,
    key_matches,
    new_api_key,
)
from pushgate.store import App, SqliteStore
from pushgate.transport import HTTP2Pool

ADMIN_KEY_META = "admin_api_key_hash"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who made an API request: the admin, or one app."""

    admin: bool
    app: App | None = None


class Gateway:
    """Owns every long-lived part of a running pushgate."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.store = SqliteStore(settings.database_path, synchronous=settings.store.synchronous)
        self.registry = CredentialRegistry(self.store, _secret_box(settings))
        self.pool = HTTP2Pool(
            connections_per_origin=settings.apns.connections_per_credential,
            request_timeout=settings.apns.request_timeout,
        )
        self.providers: dict[str, Provider] = {
            "apns": ApnsProvider(
                pool=self.pool, registry=self.registry, settings=settings.apns, clock=clock
            ),
            "fcm": FcmProvider(
                pool=self.pool, registry=self.registry, settings=settings.fcm, clock=clock
            ),
            "webpush": WebPushProvider(
                pool=self.pool, registry=self.registry, settings=settings.webpush, clock=clock
            ),
        }
        self.dispatcher = Dispatcher(self.store, self.providers, settings.dispatch)
        self._admin_hash: str | None = None
        self.generated_admin_key: str | None = None
        """Set on the first start without a configured admin key; shown to the operator once."""

    async def start(self) -> None:
        """Open the store, settle the admin key, load the outbox and start dispatching."""
        self.store.open()
        await self._settle_admin_key()
        await self.dispatcher.start()

    async def stop(self) -> None:
        """Finish in-flight sends, write their results, close connections and the store."""
        await self.dispatcher.stop()
        for provider in self.providers.values():
            await provider.aclose()
        await self.pool.aclose()
        self.store.close()

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
            return Caller(admin=True)
        app = await self.store.app_by_key_hash(hash_api_key(api_key))
        return Caller(admin=False, app=app) if app else None

    def forget_credentials(self, app_id: str) -> None:
        """Make every provider reload the app's credentials."""
        for provider in self.providers.values():
            provider.forget_app(app_id)


def _secret_box(settings: Settings) -> SecretBox:
    if settings.secret_key is not None:
        return SecretBox.from_passphrase(settings.secret_key.get_secret_value())
    return SecretBox.from_key_file(settings.data_dir / "secret.key")
