"""The APNs provider's callback path (``try_start``) against a fault-injecting HTTP/2 server.

The provider is the real one, with its credentials in a real store; the server plays APNs and
decides per request whether to answer, refuse the stream or reset it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from h2_fault_server import FaultServer, Request, ServerConnection
from transport_testkit import PKI

from pushgate.config import ApnsSettings, Settings
from pushgate.credentials import CredentialRegistry, secret_box
from pushgate.jobs import Job, Notice
from pushgate.message import Message
from pushgate.outcomes import Delivered, Outcome, Retry
from pushgate.providers.apns_client import ApnsProvider
from pushgate.providers.apns_credentials import load_token_credential
from pushgate.providers.apns_render import ApnsRender
from pushgate.store import SqliteStore
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
    opened = SqliteStore(tmp_path / "db.sqlite", synchronous="NORMAL")
    opened.open()
    yield opened
    opened.close()


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
    return Job(number, notice, None, "apns", TOKEN, "sandbox")


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
