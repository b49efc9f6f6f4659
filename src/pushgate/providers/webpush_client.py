"""The Web Push provider: encrypt per subscription, sign with the app's VAPID key, POST.

The JSON payload is rendered once per notification; encryption is per device (each
subscription has its own keys), and the VAPID JWT is cached per push-service origin.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable

from pushgate.config import WebPushSettings
from pushgate.credentials import WEBPUSH_NAME, CredentialRegistry, VapidCredential
from pushgate.dispatch.jobs import Job
from pushgate.errors import PushgateError
from pushgate.message import Message
from pushgate.outcomes import Outcome, blame
from pushgate.providers import webpush, webpush_crypto
from pushgate.providers._app_cache import AppCache
from pushgate.providers._urls import origin_and_path
from pushgate.providers.failures import failure_outcome
from pushgate.transport import HTTP2Pool, TransportError, client_context


class WebPushProvider:
    """Sends deliveries of platform ``webpush`` (token = the subscription endpoint)."""

    platform = "webpush"

    def __init__(
        self,
        *,
        pool: HTTP2Pool,
        registry: CredentialRegistry,
        settings: WebPushSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._pool = pool
        self._registry = registry
        self._settings = settings
        self._clock = clock
        self._vapid: AppCache[VapidCredential | None] = AppCache(registry.webpush_for_app)
        self._context: ssl.SSLContext | None = None

    def forget_app(self, app_id: str) -> None:
        """Reload the app's VAPID key on its next send."""
        self._vapid.forget(app_id)

    async def aclose(self) -> None:
        """Connections belong to the shared pool; nothing of our own to close."""

    async def send(self, job: Job) -> Outcome:
        """Encrypt for the subscription and POST it to its push service."""
        now = self._clock()
        try:
            vapid = await self._vapid_for(job.notice.app_id)
            keys = job.extra or {}
            subscription = webpush.validate_subscription(
                job.token, keys.get("p256dh", ""), keys.get("auth", "")
            )
            body = webpush_crypto.encrypt(
                self._plaintext(job.notice.message, job.notice.rendered),
                p256dh=subscription.p256dh,
                auth_secret=subscription.auth,
            )
            authorization = vapid.key.vapid_header(job.token, vapid.subject, now=now)
            headers = webpush.request_headers(
                job.notice.message, vapid_header=authorization, now=now
            )
            origin, path = origin_and_path(
                job.token,
                self._tls_context(),
                "webpush",
                connections=self._settings.connections_per_host,
            )
        except PushgateError as exc:
            return failure_outcome(exc)
        try:
            response = await self._pool.request(
                origin, path, headers=headers, body=body, timeout=self._settings.request_timeout
            )
        except TransportError as exc:
            return failure_outcome(exc)
        outcome = webpush.classify(response.status, response.body, response.headers, now=now)
        return blame(outcome, WEBPUSH_NAME)

    @staticmethod
    def _plaintext(message: Message, cache: dict[str, object]) -> bytes:
        plaintext = cache.get("webpush")
        if plaintext is None:
            plaintext = webpush.build_payload(message)
            cache["webpush"] = plaintext
        assert isinstance(plaintext, bytes)
        return plaintext

    async def _vapid_for(self, app_id: str) -> VapidCredential:
        vapid = await self._vapid.get(app_id)
        if vapid is None:
            raise PushgateError(
                "The app has no VAPID key; create one with 'pushgate push webpush --generate'.",
                code="no_vapid_key",
            )
        return vapid

    def _tls_context(self) -> ssl.SSLContext:
        if self._context is None:
            ca_file = str(self._settings.ca_file) if self._settings.ca_file else None
            self._context = client_context(ca_file=ca_file)
        return self._context
