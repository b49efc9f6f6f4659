"""The APNs provider: picks the app's credential, sends over the shared HTTP/2 pool, classifies.

Payload bytes are rendered once per notification and reused for every device; the stable
header block (topic, push type, priority, bearer token) is cached per sender until the JWT
changes, so the hot path (``try_start``) is a dict lookup and one ``pool.start``.
"""

from __future__ import annotations

import enum
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from pushgate.config import ApnsSettings
from pushgate.credentials import ApnsCredential, CredentialRegistry
from pushgate.dispatch.jobs import Job, Notice
from pushgate.errors import ConfigurationError, PushgateError
from pushgate.outcomes import Delivered, Outcome, Rejected, Retry, blame
from pushgate.providers import apns
from pushgate.providers._app_cache import AppCache
from pushgate.providers.apns_credentials import ApnsTokenCredential
from pushgate.providers.apns_jwt import ProviderTokenSigner
from pushgate.providers.apns_render import ApnsRender
from pushgate.providers.base import Reporter
from pushgate.providers.failures import failure_outcome
from pushgate.transport import HTTP2Pool, Origin, Response, TransportError, client_context

Headers = tuple[tuple[bytes, bytes], ...]


@dataclass(slots=True, eq=False)
class _Sender:
    """Everything needed to send with one credential."""

    credential: ApnsCredential
    origin: Origin
    signer: ProviderTokenSigner | None
    headers: dict[tuple[str, int, bytes | None, str | None], Headers] = field(default_factory=dict)

    def header_block(self, render: ApnsRender) -> Headers:
        authorization = self.signer.token() if self.signer else None
        key = (render.push_type, render.priority, authorization, render.topic)
        block = self.headers.get(key)
        if block is None:
            if len(self.headers) > 64:
                self.headers.clear()
            block = apns.stable_headers(
                topic=render.topic or apns.topic_for(self.credential.topic, render.push_type),
                push_type=render.push_type,
                priority=render.priority,
                authorization=authorization,
            )
            self.headers[key] = block
        return block


class ApnsProvider:
    """Sends deliveries of platform ``apns``.

    Two paths send: ``send`` (a coroutine, waits for credentials and a free stream) and
    ``try_start`` (the dispatcher's hot path, a transport callback). Both pick the sender
    with ``_pick`` and let ``_decide`` say what an answer or a transport error means: the
    outcome, a JWT refresh and one resend, or a resend of a request APNs never processed.
    """

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
        self._senders: AppCache[dict[str, _Sender]] = AppCache(self._load_senders)
        self._token_context: ssl.SSLContext | None = None

    def forget_app(self, app_id: str) -> None:
        """Reload the app's credentials on its next send."""
        self._senders.forget(app_id)

    async def aclose(self) -> None:
        """Connections belong to the shared pool; nothing of our own to close."""

    async def send(self, job: Job) -> Outcome:
        """Deliver one job; ExpiredProviderToken refreshes the JWT and retries once."""
        try:
            sender = _pick(await self._senders.get(job.notice.app_id), job)
            rendered = self._rendered(job.notice)
            path = apns.device_path(job.token)
        except PushgateError as exc:
            return failure_outcome(exc)
        return await self._post(sender, job, path, rendered, refreshed=False)

    def try_start(self, job: Job, reporter: Reporter) -> bool:
        """The hot path: send at once when the app's senders are loaded and a stream is free.

        The exchange reports the outcome from the transport's callback; the rare answers that
        need awaiting (token refresh, an unprocessed resend) become follow-ups.
        """
        senders = self._senders.values.get(job.notice.app_id)
        if not senders:
            return False
        sender = _pick(senders, job)
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
            volatile_headers=_volatile(job, rendered),
            body=rendered.payload,
            timeout=self._settings.request_timeout,
        )

    def _decide(
        self,
        sender: _Sender,
        job: Job,
        headers: Headers,
        answer: Response | BaseException,
        *,
        may_resend: bool,
        refreshed: bool,
    ) -> Outcome | _Again:
        """What one answer (or transport error) means for the job, on either path.

        ``_REFRESH``: the JWT expired; mint a new one and resend once (``refreshed`` says
        this already was that resend: a second expiry is a configuration fault).
        ``_RESEND``: APNs never processed the request; send it again (``may_resend`` is False
        where the pool has already resent it). Otherwise the outcome to record.
        """
        if isinstance(answer, Response):
            if answer.status == 200:  # the common case, without classify's lookups
                apns_id = answer.header(b"apns-id")
                return (
                    _DELIVERED_WITHOUT_ID
                    if apns_id is None
                    else Delivered(provider_id=_text(apns_id))
                )
            credential_environment = sender.credential.environment
            outcome = apns.for_device(
                apns.classify(answer.status, answer.body, answer.headers, now=self._clock()),
                device_environment=job.apns_environment or credential_environment,
                credential_environment=credential_environment,
            )
            if isinstance(outcome, Retry) and outcome.refresh_credentials and sender.signer:
                if refreshed or not sender.signer.invalidate(dict(headers).get(b"authorization")):
                    outcome = _EXPIRED_AGAIN
                else:
                    return _REFRESH
            return blame(outcome, credential_environment)
        if not isinstance(answer, TransportError):  # not raised: this runs in a transport callback
            return Retry(reason=f"transport: {type(answer).__name__}")
        if may_resend and answer.unprocessed:
            return _RESEND
        return failure_outcome(answer)

    async def _post(
        self, sender: _Sender, job: Job, path: bytes, rendered: ApnsRender, *, refreshed: bool
    ) -> Outcome:
        """Send through the pool (which resends unprocessed requests itself) and decide."""
        headers = sender.header_block(rendered)
        try:
            answer: Response | TransportError = await self._pool.request(
                sender.origin,
                path,
                headers=headers,
                volatile_headers=_volatile(job, rendered),
                body=rendered.payload,
                timeout=self._settings.request_timeout,
            )
        except TransportError as exc:
            answer = exc
        decision = self._decide(sender, job, headers, answer, may_resend=False, refreshed=refreshed)
        if decision is _REFRESH:
            return await self._post(sender, job, path, rendered, refreshed=True)
        assert not isinstance(decision, _Again)
        return decision

    @staticmethod
    def _rendered(notice: Notice) -> ApnsRender:
        """The notice's APNs render: as stored at accept time, else made now (once)."""
        rendered = notice.rendered.get("apns")
        if isinstance(rendered, ApnsRender):
            return rendered
        render = ApnsRender.from_stored(rendered) if rendered else ApnsRender.of(notice.message)
        notice.rendered["apns"] = render
        return render

    async def _load_senders(self, app_id: str) -> dict[str, _Sender]:
        """One sender (and JWT signer) per credential of the app, by environment."""
        credentials = await self._registry.apns_for_app(app_id)
        return {env: self._make_sender(app_id, c) for env, c in credentials.items()}

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
            connections=s.connections_per_credential,
        )
        signer = None
        if isinstance(credential, ApnsTokenCredential):
            environment = credential.environment
            signer = ProviderTokenSigner(
                credential,
                clock=self._clock,
                refresh_after=s.token_refresh_minutes * 60,
                on_mint=lambda issued_at: self._registry.note_token_issued(
                    app_id, "apns", environment, issued_at
                ),
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
        self._act(response)

    def set_exception(self, error: BaseException) -> None:
        self._act(error)

    def _act(self, answer: Response | BaseException) -> None:
        """Report the decision, or hand what needs awaiting to the dispatcher."""
        provider = self.provider
        decision = provider._decide(
            self.sender, self.job, self.headers, answer, may_resend=True, refreshed=False
        )
        if decision is _REFRESH:
            resend = provider._post(self.sender, self.job, self.path, self.rendered, refreshed=True)
            self.reporter.follow_up(self.job, resend)
        elif decision is _RESEND:
            self.reporter.follow_up(self.job, provider.send(self.job))  # as ``request`` would
        else:
            assert not isinstance(decision, _Again)
            self.reporter.report(self.job, decision)


def _volatile(job: Job, rendered: ApnsRender) -> tuple[tuple[bytes, bytes], ...]:
    """The request's literal headers: the delivery's own ``apns-id`` (the message's when it
    names one) and the notification's."""
    if rendered.apns_id is not None:
        apns_id = rendered.apns_id.encode()
    else:
        prefix = rendered.id_prefix
        if prefix is None:
            prefix = rendered.id_prefix = apns.apns_id_prefix(job.notice.id)
        apns_id = apns.delivery_apns_id(prefix, job.delivery_id)
    return ((b"apns-id", apns_id), *rendered.volatile)


def _pick(senders: dict[str, _Sender], job: Job) -> _Sender:
    """The sender for the device's APNs environment, else the app's only other one."""
    sender = senders.get(job.apns_environment or "")
    if sender is not None:
        return sender
    if not senders:
        raise ConfigurationError(
            "The app has no APNs credential; upload one with 'pushgate push apn'.",
            code="no_apns_credential",
        )
    return next(iter(senders.values()))


class _Again(enum.Enum):
    """A decision that is not an outcome yet: the request must go out again."""

    REFRESH = "refresh"
    RESEND = "resend"


_REFRESH: Final = _Again.REFRESH
_RESEND: Final = _Again.RESEND
_DELIVERED_WITHOUT_ID: Final = Delivered()
_EXPIRED_AGAIN: Final = Rejected(reason="ExpiredProviderToken", status=403, configuration=True)


def _text(value: bytes) -> str:
    return value.decode("ascii", "replace")
