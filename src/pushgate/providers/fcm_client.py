"""The FCM provider: OAuth tokens per service account, sends over the shared HTTP/2 pool.

Access tokens are fetched through the JWT-bearer grant at the account's token endpoint (over
the same pool), cached by ``FcmTokenSource`` and shared by every send of that account; one
exchange runs at a time per account. A 401 invalidates the token and retries once.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pushgate.config import FcmSettings
from pushgate.credentials import CredentialRegistry
from pushgate.dispatch.jobs import Job
from pushgate.errors import PushgateError
from pushgate.message import Message
from pushgate.outcomes import Outcome, Rejected, Retry, blame
from pushgate.providers import fcm
from pushgate.providers._app_cache import AppCache
from pushgate.providers._urls import origin_and_path
from pushgate.providers.failures import failure_outcome
from pushgate.providers.fcm_credentials import FcmServiceAccount
from pushgate.providers.fcm_oauth import FcmTokenSource
from pushgate.transport import HTTP2Pool, Origin, TransportError, client_context


@dataclass(slots=True, eq=False)
class _Account:
    """A service account with its token source and where to send."""

    app_id: str
    account: FcmServiceAccount
    tokens: FcmTokenSource
    send_origin: Origin
    send_path: bytes
    token_origin: Origin
    token_path: bytes
    refreshing: asyncio.Future[str] | None = field(default=None)


def render(message: Message, token: str, extra: dict[str, Any] | None, *, now: float) -> bytes:
    """The send body for a device token, or for an app-level topic/condition delivery;
    ``now`` (epoch seconds) turns the message's expiration into a ttl."""
    target: dict[str, str] = {"token": token}
    if extra and ("topic" in extra or "condition" in extra):
        target = {k: extra[k] for k in ("topic", "condition") if k in extra}
    options = message.fcm
    return fcm.build_message(
        message,
        android=options.android or None,
        apns=options.apns or None,
        webpush=options.webpush or None,
        fcm_options=options.fcm_options or None,
        validate_only=options.validate_only,
        now=now,
        **target,
    )


class FcmProvider:
    """Sends deliveries of platform ``fcm`` with the service account ``job.fcm_credential``."""

    platform = "fcm"

    def __init__(
        self,
        *,
        pool: HTTP2Pool,
        registry: CredentialRegistry,
        settings: FcmSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._pool = pool
        self._registry = registry
        self._settings = settings
        self._clock = clock
        self._accounts: AppCache[dict[str, _Account]] = AppCache(self._load_accounts)
        self._context: ssl.SSLContext | None = None

    def forget_app(self, app_id: str) -> None:
        """Reload the app's service accounts on its next send."""
        self._accounts.forget(app_id)

    async def aclose(self) -> None:
        """Connections belong to the shared pool; nothing of our own to close."""

    async def send(self, job: Job) -> Outcome:
        """Deliver one job; a 401 refreshes the access token and retries once."""
        try:
            account = await self._account(job.notice.app_id, job.fcm_credential or "default")
            body = render(job.notice.message, job.token, job.extra, now=self._clock())
        except PushgateError as exc:
            return failure_outcome(exc)
        outcome = await self._attempt(account, body)
        if isinstance(outcome, Retry) and outcome.refresh_credentials:
            outcome = await self._attempt(account, body)
            if isinstance(outcome, Retry) and outcome.refresh_credentials:
                return Rejected(
                    reason="UNAUTHENTICATED with a fresh access token",
                    status=401,
                    configuration=True,
                )
        return outcome

    async def _attempt(self, account: _Account, body: bytes) -> Outcome:
        try:
            access_token = await self._access_token(account)
        except PushgateError as exc:
            return failure_outcome(exc, where="token endpoint")
        outcome = await self._post(account, body, access_token)
        if isinstance(outcome, Retry) and outcome.refresh_credentials:
            account.tokens.invalidate(access_token)
        return outcome

    async def _post(self, account: _Account, body: bytes, access_token: str) -> Outcome:
        try:
            response = await self._pool.request(
                account.send_origin,
                account.send_path,
                headers=fcm.request_headers(access_token),
                body=body,
                timeout=self._settings.request_timeout,
            )
        except TransportError as exc:
            return failure_outcome(exc)
        outcome = fcm.classify(response.status, response.body, response.headers, now=self._clock())
        return blame(outcome, account.account.name)

    async def _access_token(self, account: _Account) -> str:
        token = account.tokens.current()
        if token is not None:
            return token
        if account.refreshing is None:
            account.refreshing = asyncio.ensure_future(self._exchange(account))
            account.refreshing.add_done_callback(lambda _: setattr(account, "refreshing", None))
        return await asyncio.shield(account.refreshing)

    async def _exchange(self, account: _Account) -> str:
        _, form, headers = account.tokens.assertion_request()
        response = await self._pool.request(
            account.token_origin,
            account.token_path,
            headers=headers,
            body=form,
            timeout=self._settings.request_timeout,
        )
        token = account.tokens.accept_token_response(response.status, response.body)
        # About once an hour: the console shows the access token's age on the credential.
        self._registry.note_token_issued(
            account.app_id, "fcm", account.account.name, int(self._clock())
        )
        return token

    async def _load_accounts(self, app_id: str) -> dict[str, _Account]:
        """The app's service accounts by name, each with its token source and origins."""
        loaded = await self._registry.fcm_for_app(app_id)
        return {name: self._prepare(app_id, account) for name, account in loaded.items()}

    async def _account(self, app_id: str, name: str) -> _Account:
        account = (await self._accounts.get(app_id)).get(name)
        if account is None:
            raise PushgateError(
                f"The app has no FCM credential named '{name}'; upload one with "
                f"'pushgate push fcm --service-account sa.json --name {name}'.",
                code="no_fcm_credential",
            )
        return account

    def _prepare(self, app_id: str, account: FcmServiceAccount) -> _Account:
        context = self._tls_context()
        connections = self._settings.connections_per_credential
        send_origin, send_path = origin_and_path(
            fcm.send_url(self._settings.base_url, account.project_id),
            context,
            "fcm",
            connections=connections,
        )
        token_origin, token_path = origin_and_path(
            self._settings.token_url or account.token_uri,
            context,
            "fcm-oauth",
            connections=connections,
        )
        return _Account(
            app_id=app_id,
            account=account,
            tokens=FcmTokenSource(account, clock=self._clock),
            send_origin=send_origin,
            send_path=send_path,
            token_origin=token_origin,
            token_path=token_path,
        )

    def _tls_context(self) -> ssl.SSLContext:
        if self._context is None:
            ca_file = str(self._settings.ca_file) if self._settings.ca_file else None
            self._context = client_context(ca_file=ca_file)
        return self._context
