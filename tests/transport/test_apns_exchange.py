"""The APNs provider's callback path (``try_start``) against a fault-injecting HTTP/2 server.

The provider is the real one, with its credentials in a real store; the server plays APNs and
decides per request whether to answer, refuse the stream or reset it.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from h2_fault_server import FaultServer, Request, ServerConnection
from transport_testkit import PKI

from pushgate.config import ApnsSettings, Settings
from pushgate.credentials import CredentialRegistry, secret_box
from pushgate.dispatch.jobs import Job, Notice
from pushgate.message import Message
from pushgate.outcomes import Delivered, Outcome, Rejected, Retry
from pushgate.providers.apns_client import ApnsProvider
from pushgate.providers.apns_credentials import load_token_credential
from pushgate.providers.apns_render import ApnsRender
from pushgate.store.sqlite import SqliteDatabase, SqliteStore
from pushgate.transport import HTTP2Pool

pytestmark = pytest.mark.timeout(30)

TOKEN = "ab" * 32
REFUSED_STREAM = 0x7
INTERNAL_ERROR = 0x2


class Recorder:
    """The dispatcher's side of the callback path: what came back, and how."""

    def __init__(self) -> None:
        self.outcomes: asyncio.Queue[tuple[str, Outcome]] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()

    def report(self, job: Job, outcome: Outcome) -> None:
        self.outcomes.put_nowait(("report", outcome))

    def follow_up(self, job: Job, outcome: Awaitable[Outcome]) -> None:
        async def finish() -> None:
            self.outcomes.put_nowait(("follow_up", await outcome))

        task = asyncio.ensure_future(finish())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    database = SqliteDatabase(tmp_path / "db.sqlite", synchronous="NORMAL")
    database.open()
    yield SqliteStore(database)
    database.close()


async def provider_for(
    store: SqliteStore, pool: HTTP2Pool, pki: PKI, port: int, clock: list[float], tmp_path: Path
) -> tuple[ApnsProvider, str]:
    settings = Settings(data_dir=tmp_path, secret_key="test-secret-key-of-some-length")
    registry = CredentialRegistry(store, secret_box(settings))
    app = await store.create_app("chat", "hash", "pgapp_x")
    assert app is not None
    key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    credential = load_token_credential(
        key_p8=key, key_id="ABC123DEFG", team_id="TEAM123456", topic="com.example.chat",
        environment="sandbox",
    )  # fmt: skip
    await registry.put_apns(app.id, credential)
    apns = ApnsSettings(sandbox_host="127.0.0.1", sandbox_port=port, ca_file=Path(pki.ca_file))
    provider = ApnsProvider(pool=pool, registry=registry, settings=apns, clock=lambda: clock[0])
    return provider, app.id


def job_for(app_id: str, number: int) -> Job:
    message = Message.model_validate({"alert": {"body": f"hello {number}"}})
    notice = Notice(f"n{number}", app_id, time.time() + 60, "{}", message)
    notice.rendered["apns"] = ApnsRender.of(message)
    return Job(number, notice, None, "apns", TOKEN, "sandbox", None)


async def test_callback_path_refused_reset_and_expired_token(
    pki: PKI, store: SqliteStore, tmp_path: Path
) -> None:
    script = iter(
        [
            (200, None),  # the send() that loads the credentials
            (None, REFUSED_STREAM),  # unprocessed: resent through send() as a follow-up
            (200, None),
            (None, INTERNAL_ERROR),  # maybe processed: a Retry for the dispatcher
            (403, None),  # ExpiredProviderToken: a new JWT, then one resend
            (200, None),
        ]
    )

    async def handler(request: Request, conn: ServerConnection) -> None:
        status, reset = next(script)
        if reset is not None:
            conn.reset(request.stream_id, reset)
        elif status == 403:
            conn.respond(request.stream_id, 403, body=b'{"reason":"ExpiredProviderToken"}')
        else:
            conn.respond(request.stream_id, status)

    recorder = Recorder()
    clock = [time.time()]
    server = FaultServer(pki.server_cert, pki.server_key, handler=handler)
    async with server as srv, HTTP2Pool() as pool:
        provider, app_id = await provider_for(store, pool, pki, srv.port, clock, tmp_path)
        assert not provider.try_start(job_for(app_id, 1), recorder)  # senders not loaded
        assert isinstance(await provider.send(job_for(app_id, 1)), Delivered)

        assert provider.try_start(job_for(app_id, 2), recorder)
        kind, outcome = await recorder.outcomes.get()
        assert kind == "follow_up" and isinstance(outcome, Delivered)

        assert provider.try_start(job_for(app_id, 3), recorder)
        kind, outcome = await recorder.outcomes.get()
        assert kind == "report" and isinstance(outcome, Retry)
        assert outcome.reason == "transport: stream_reset"

        clock[0] += 21 * 60  # old enough for APNs to accept a new token
        assert provider.try_start(job_for(app_id, 4), recorder)
        kind, outcome = await recorder.outcomes.get()
        assert kind == "follow_up" and isinstance(outcome, Delivered)
    authorizations = [dict(r.headers)[b"authorization"] for r in srv.requests]
    assert len(authorizations) == 6
    assert authorizations[4] != authorizations[5]  # resent with a freshly minted JWT
    assert len(set(authorizations[:5])) == 1


PROTOCOL_ERROR = 0x1
EXPIRED = b'{"reason":"ExpiredProviderToken"}'


async def expired(request: Request, conn: ServerConnection) -> None:
    conn.respond(request.stream_id, 403, body=EXPIRED)


async def malformed(request: Request, conn: ServerConnection) -> None:
    conn.reset(request.stream_id, PROTOCOL_ERROR)  # how servers refuse an illegal header field


async def throttled(request: Request, conn: ServerConnection) -> None:
    body = b'{"reason":"TooManyRequests"}'
    conn.respond(request.stream_id, 429, [(b"retry-after", b"999999")], body)


async def bad_token(request: Request, conn: ServerConnection) -> None:
    conn.respond(request.stream_id, 400, body=b'{"reason":"BadDeviceToken"}')


DECISIONS = {
    # the JWT is refreshed once; a second ExpiredProviderToken names the credential at fault
    "expired twice": (
        expired,
        "sandbox",
        Rejected(
            reason="ExpiredProviderToken", status=403, configuration=True, credential="sandbox"
        ),
        2,
    ),
    # TransportError.retryable is False: rejected, sent once, never retried blindly
    "malformed": (malformed, "sandbox", None, 1),
    # the shared Retry-After parser clamps to an hour
    "throttled": (throttled, "sandbox", Retry(reason="TooManyRequests", after=3600.0), 1),
    # a production token sent with the app's only (sandbox) credential: our setup, not dead
    "other environment": (bad_token, "production", None, 1),
}


def same_decision(one: Outcome, other: Outcome) -> bool:
    """Equal outcomes, but for the stream number a transport error names."""
    if isinstance(one, Rejected) and isinstance(other, Rejected):
        one = replace(one, reason=re.sub(r"stream \d+", "stream N", one.reason))
        other = replace(other, reason=re.sub(r"stream \d+", "stream N", other.reason))
    return one == other


@pytest.mark.parametrize("case", sorted(DECISIONS))
async def test_send_and_the_callback_path_decide_alike(
    case: str, pki: PKI, store: SqliteStore, tmp_path: Path
) -> None:
    answer, environment, expected, requests_per_send = DECISIONS[case]
    warmed = False

    async def handler(request: Request, conn: ServerConnection) -> None:
        nonlocal warmed
        if not warmed:
            warmed = True
            conn.respond(request.stream_id, 200)
        else:
            await answer(request, conn)

    recorder = Recorder()
    clock = [time.time()]
    server = FaultServer(pki.server_cert, pki.server_key, handler=handler)
    async with server as srv, HTTP2Pool() as pool:
        provider, app_id = await provider_for(store, pool, pki, srv.port, clock, tmp_path)
        assert isinstance(await provider.send(job_for(app_id, 1)), Delivered)  # loads senders
        job = job_for(app_id, 2)
        job.apns_environment = environment
        clock[0] += 21 * 60  # old enough for a new JWT
        by_send = await provider.send(job)
        clock[0] += 21 * 60
        assert provider.try_start(job, recorder)
        _, by_callback = await recorder.outcomes.get()
    assert same_decision(by_send, by_callback)
    assert len(srv.requests) == 1 + 2 * requests_per_send
    if expected is not None:
        assert by_send == expected
    elif case == "malformed":
        assert isinstance(by_send, Rejected) and not by_send.configuration
        assert by_send.reason.startswith("transport: stream_reset (not retried")
    else:
        assert isinstance(by_send, Rejected) and by_send.configuration
        assert "registered a production token" in by_send.reason
        assert by_send.credential == "sandbox"
