"""The APNs provider: picks the app's credential, sends over the shared HTTP/2 pool, classifies.

Payload bytes are rendered once per notification and reused for every device; the stable
header block (topic, push type, priority, bearer token) is cached per sender until the JWT
changes, so the hot path is a dict lookup and one ``pool.request``.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pushgate.config import ApnsSettings
from pushgate.credentials import ApnsCredential, CredentialRegistry
from pushgate.errors import PushgateError, RequestError
from pushgate.jobs import Job, Notice
from pushgate.outcomes import Delivered, Outcome, Rejected, Retry, blame
from pushgate.providers import apns
from pushgate.providers.apns_credentials import ApnsTokenCredential
from pushgate.providers.apns_jwt import ProviderTokenSigner
from pushgate.providers.apns_render import ApnsRender
from pushgate.providers.base import Reporter
from pushgate.transport import (
    ConnectionLost,
    HTTP2Pool,
    Origin,
    Response,
    StreamReset,
    TransportError,
    client_context,
)

Headers = tuple[tuple[bytes, bytes], ...]


@dataclass(slots=True, eq=False)
class _Sender:
    """Everything needed to send with one credential."""

    credential: ApnsCredential
    origin: Origin
    signer: ProviderTokenSigner | None
    headers: dict[tuple[str, int, bytes | None], Headers] = field(default_factory=dict)

    def header_block(self, render: ApnsRender) -> Headers:
        authorization = self.signer.token() if self.signer else None
        key = (render.push_type, render.priority, authorization)
        block = self.headers.get(key)
        if block is None:
            if len(self.headers) > 64:
                self.headers.clear()
            block = apns.stable_headers(
                topic=apns.topic_for(self.credential.topic, render.push_type),
                push_type=render.push_type,
                priority=render.priority,
                authorization=authorization,
            )
            self.headers[key] = block
        return block


class ApnsProvider:
    """Sends deliveries of platform ``apns``."""

    platform = "apns"

    def __init__(
        self,
        *,
        pool: HTTP2Pool,
        registry: CredentialRegistry,
        settings: ApnsSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._pool = pool
        self._registry = registry
        self._settings = settings
        self._clock = clock
        self._senders: dict[str, dict[str, _Sender]] = {}
        self._token_context: ssl.SSLContext | None = None
        self._loading: dict[str, asyncio.Future[dict[str, ApnsCredential]]] = {}

    def forget_app(self, app_id: str) -> None:
        """Reload the app's credentials on its next send."""
        self._senders.pop(app_id, None)
        self._loading.pop(app_id, None)

    async def aclose(self) -> None:
        """Connections belong to the shared pool; nothing of our own to close."""

    async def send(self, job: Job) -> Outcome:
        """Deliver one job; ExpiredProviderToken refreshes the JWT and retries once."""
        try:
            sender = await self._sender(job.notice.app_id, job.environment)
            rendered = self._rendered(job.notice)
            path = apns.device_path(job.token)
        except RequestError as exc:
            return Rejected(reason=f"{exc.code}: {exc.message}", status=exc.status)
        except PushgateError as exc:
            return Rejected(reason=f"{exc.code}: {exc.message}", configuration=True)
        headers = sender.header_block(rendered)
        outcome = await self._post(sender, job, path, headers, rendered)
        if isinstance(outcome, Retry) and outcome.refresh_credentials and sender.signer:
            return await self._refresh_and_resend(sender, job, path, headers, rendered)
        return outcome

    def try_start(self, job: Job, reporter: Reporter) -> bool:
        """The hot path: send at once when the app's senders are loaded and a stream is free.

        The exchange reports the outcome from the transport's callback; the rare answers that
        need awaiting (token refresh, an unprocessed resend) become follow-ups.
        """
        senders = self._senders.get(job.notice.app_id)
        if not senders:
            return False
        sender = senders.get(job.environment or "") or next(iter(senders.values()))
        try:
            rendered = self._rendered(job.notice)
            path = apns.device_path(job.token)
        except PushgateError:
            return False  # ``send`` turns it into the Rejected outcome
        headers = sender.header_block(rendered)
        exchange = _Exchange(self, sender, job, path, headers, rendered, reporter)
        return self._pool.start(
            sender.origin,
            path,
            exchange,
            headers=headers,
            volatile_headers=rendered.volatile,
            body=rendered.payload,
            timeout=self._settings.request_timeout,
        )

    async def _refresh_and_resend(
        self, sender: _Sender, job: Job, path: bytes, headers: Headers, rendered: ApnsRender
    ) -> Outcome:
        """ExpiredProviderToken: mint a new JWT (unless another send did) and resend once."""
        assert sender.signer is not None
        if not sender.signer.invalidate(dict(headers).get(b"authorization")):
            return Rejected(reason="ExpiredProviderToken", status=403, configuration=True)
        headers = sender.header_block(rendered)
        outcome = await self._post(sender, job, path, headers, rendered)
        if isinstance(outcome, Retry) and outcome.refresh_credentials:
            return Rejected(reason="ExpiredProviderToken", status=403, configuration=True)
        return outcome

    async def _post(
        self, sender: _Sender, job: Job, path: bytes, headers: Headers, rendered: ApnsRender
    ) -> Outcome:
        try:
            response = await self._pool.request(
                sender.origin,
                path,
                headers=headers,
                volatile_headers=rendered.volatile,
                body=rendered.payload,
                timeout=self._settings.request_timeout,
            )
        except TransportError as exc:
            return Retry(reason=f"transport: {exc.code}")
        return _outcome(sender, job, response)

    @staticmethod
    def _rendered(notice: Notice) -> ApnsRender:
        """The notice's APNs render: as stored at accept time, else made now (once)."""
        rendered = notice.rendered.get("apns")
        if isinstance(rendered, ApnsRender):
            return rendered
        render = ApnsRender.from_stored(rendered) if rendered else ApnsRender.of(notice.message)
        notice.rendered["apns"] = render
        return render

    async def _sender(self, app_id: str, environment: str | None) -> _Sender:
        senders = self._senders.get(app_id)
        if senders is None:
            senders = await self._load_senders(app_id)
        if not senders:
            raise PushgateError(
                "The app has no APNs credential; upload one with 'pushgate push apn'.",
                code="no_apns_credential",
            )
        return senders.get(environment or "") or next(iter(senders.values()))

    async def _load_senders(self, app_id: str) -> dict[str, _Sender]:
        """Load once even when many sends ask at the same moment: one signer per key."""
        loading = self._loading.get(app_id)
        if loading is None:
            loading = asyncio.ensure_future(self._registry.apns_for_app(app_id))
            self._loading[app_id] = loading
            loading.add_done_callback(lambda _: self._loading.pop(app_id, None))
        credentials = await asyncio.shield(loading)
        senders = self._senders.get(app_id)
        if senders is None:
            senders = {env: self._make_sender(app_id, c) for env, c in credentials.items()}
            self._senders[app_id] = senders
        return senders

    def _make_sender(self, app_id: str, credential: ApnsCredential) -> _Sender:
        production = credential.environment == "production"
        s = self._settings
        host = s.production_host if production else s.sandbox_host
        port = s.production_port if production else s.sandbox_port
        origin = Origin(
            host=host,
            port=port,
            ssl_context=self._context_for(credential),
            partition=f"apns:{app_id}:{credential.fingerprint}",
        )
        signer = None
        if isinstance(credential, ApnsTokenCredential):
            signer = ProviderTokenSigner(
                credential, clock=self._clock, refresh_after=s.token_refresh_minutes * 60
            )
        return _Sender(credential=credential, origin=origin, signer=signer)

    def _context_for(self, credential: ApnsCredential) -> ssl.SSLContext:
        ca_file = str(self._settings.ca_file) if self._settings.ca_file else None
        if isinstance(credential, ApnsTokenCredential):
            if self._token_context is None:
                self._token_context = client_context(ca_file=ca_file)
            return self._token_context
        return client_context(
            ca_file=ca_file, cert_pem=credential.cert_pem, key_pem=credential.key_pem
        )


class _Exchange:
    """One request of the callback path: the transport's ResponseHandler for a job."""

    __slots__ = ("headers", "job", "path", "provider", "rendered", "reporter", "sender")

    def __init__(
        self,
        provider: ApnsProvider,
        sender: _Sender,
        job: Job,
        path: bytes,
        headers: Headers,
        rendered: ApnsRender,
        reporter: Reporter,
    ) -> None:
        self.provider = provider
        self.sender = sender
        self.job = job
        self.path = path
        self.headers = headers
        self.rendered = rendered
        self.reporter = reporter

    def done(self) -> bool:
        return False  # nobody waits on the exchange, so it never gives up

    def set_result(self, response: Response) -> None:
        outcome = _outcome(self.sender, self.job, response)
        if isinstance(outcome, Retry) and outcome.refresh_credentials and self.sender.signer:
            resend = self.provider._refresh_and_resend(
                self.sender, self.job, self.path, self.headers, self.rendered
            )
            self.reporter.follow_up(self.job, resend)
        else:
            self.reporter.report(self.job, outcome)

    def set_exception(self, error: BaseException) -> None:
        if isinstance(error, ConnectionLost | StreamReset) and error.unprocessed:
            self.reporter.follow_up(self.job, self.provider.send(self.job))  # as ``request`` would
        else:
            code = getattr(error, "code", type(error).__name__)
            self.reporter.report(self.job, Retry(reason=f"transport: {code}"))


def _outcome(sender: _Sender, job: Job, response: Response) -> Outcome:
    """Classify one APNs answer for this job and credential."""
    if response.status == 200:  # the common case, without classify's keyword arguments
        apns_id = response.header(b"apns-id")
        return _DELIVERED_WITHOUT_ID if apns_id is None else Delivered(provider_id=_text(apns_id))
    outcome = apns.classify(
        response.status,
        response.body,
        device_environment=job.environment or sender.credential.environment,
        credential_environment=sender.credential.environment,
        apns_id=_text(response.header(b"apns-id")),
        retry_after=response.header(b"retry-after"),
    )
    return blame(outcome, sender.credential.environment)


_DELIVERED_WITHOUT_ID = Delivered()


def _text(value: bytes | None) -> str | None:
    return value.decode("ascii", "replace") if value is not None else None
