"""Google's firebase-admin, unchanged, against the FCM simulator: ``messaging.send``,
``send_each`` and dry runs deliver (or, dry, deliver nothing), and it raises its documented
errors for an unregistered token, another project's token, a malformed token and injected
faults; the inbox holds exactly what firebase-admin reports as sent.

firebase-admin sends to ``https://fcm.googleapis.com`` (not configurable) through sessions it
makes itself, and google-auth signs the token request for Google's own audience: the
``real_hosts`` fixture resolves fcm.googleapis.com to the simulator, whose certificate names it,
and this test's environment tells those sessions to trust the simulator's CA.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import firebase_admin
import pytest
from firebase_admin import credentials, exceptions, messaging

from pushgate.simulator import FaultRate, Simulator

PROJECT = "chat-demo-1a2b3"
_Result = TypeVar("_Result")


@pytest.fixture
async def app(
    sim: Simulator, real_hosts: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[firebase_admin.App]:
    for variable in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.setenv(variable, sim.ca_file)  # this test only: trust the simulator's CA
    info = await asyncio.to_thread(sim.create_service_account, PROJECT)
    firebase = firebase_admin.initialize_app(
        credentials.Certificate(info), name=f"sim-{secrets.token_hex(4)}"
    )
    yield firebase
    await asyncio.to_thread(firebase_admin.delete_app, firebase)  # it runs its own event loop


async def _call(function: Callable[..., _Result], *args: Any, **kwargs: Any) -> _Result:
    """firebase-admin is synchronous: run it in a thread while the simulator serves."""
    return await asyncio.to_thread(function, *args, **kwargs)


def _message(token: str, n: int = 0) -> messaging.Message:
    return messaging.Message(
        token=token,
        notification=messaging.Notification(title="general", body=f"hello {n}"),
        data={"room": "general", "n": str(n)},
        android=messaging.AndroidConfig(priority="high", ttl=3600),
    )


async def test_send_and_send_each_deliver(sim: Simulator, app: firebase_admin.App) -> None:
    tokens = [sim.create_fcm_token(PROJECT) for _ in range(4)]

    name = await _call(messaging.send, _message(tokens[0]), app=app)
    batch = await _call(
        messaging.send_each, [_message(t, n) for n, t in enumerate(tokens[1:], 1)], app=app
    )

    assert name.startswith(f"projects/{PROJECT}/messages/0:")
    assert (batch.success_count, batch.failure_count) == (3, 0)
    received = sim.fcm_inbox.query()
    assert {m.message_id for m in received} == {name, *(r.message_id for r in batch.responses)}
    by_token = {m.target: m.message for m in received}
    assert by_token[tokens[2]]["data"] == {"room": "general", "n": "2"}
    assert by_token[tokens[2]]["android"]["ttl"] == "3600s"
    clients = sim.fcm_inbox.stats()["clients"]
    assert clients["deliveries"] == dict.fromkeys(tokens, 1)
    assert clients["token_refreshes"] == 1  # google-auth fetched one access token and kept it


async def test_an_installation_id_target_is_delivered(
    sim: Simulator, app: firebase_admin.App
) -> None:
    fid = "c" + secrets.token_urlsafe(16)[:21]  # 22 characters, as Firebase installations has

    name = await _call(messaging.send, messaging.Message(fid=fid, data={"k": "v"}), app=app)

    (received,) = sim.fcm_inbox.query()
    assert (received.message_id, received.target_kind, received.target) == (name, "fid", fid)


async def test_a_dry_run_checks_and_delivers_nothing(
    sim: Simulator, app: firebase_admin.App
) -> None:
    token = sim.create_fcm_token(PROJECT)
    dead = sim.create_fcm_token(PROJECT)
    sim.mark_fcm_unregistered(dead)

    name = await _call(messaging.send, _message(token), dry_run=True, app=app)
    batch = await _call(
        messaging.send_each, [_message(token), _message(dead)], dry_run=True, app=app
    )

    assert name == f"projects/{PROJECT}/messages/fake_message_id"
    assert batch.success_count == 1
    assert isinstance(batch.responses[1].exception, messaging.UnregisteredError)
    assert sim.fcm_inbox.query() == []


async def test_firebase_admin_raises_its_documented_errors(
    sim: Simulator, app: firebase_admin.App
) -> None:
    dead = sim.create_fcm_token(PROJECT)
    sim.mark_fcm_unregistered(dead)
    elsewhere = sim.create_fcm_token("someone-elses-project")
    good = sim.create_fcm_token(PROJECT)

    async def raised(message: messaging.Message) -> Exception:
        with pytest.raises(exceptions.FirebaseError) as caught:
            await _call(messaging.send, message, app=app)
        return caught.value

    unregistered = await raised(_message(dead))
    mismatch = await raised(_message(elsewhere))
    malformed = await raised(_message("not-a-token"))
    # without Retry-After: with one, urllib3 under firebase-admin waits and retries a 429
    sim.set_fcm_faults(quota_exceeded=FaultRate(first=1), quota_retry_after=None)
    quota = await raised(_message(good))
    sim.set_fcm_faults(internal=FaultRate(first=1))
    after_retry = await _call(messaging.send, _message(good), app=app)  # the SDK retries a 500

    assert isinstance(unregistered, messaging.UnregisteredError)
    assert isinstance(mismatch, messaging.SenderIdMismatchError)
    assert isinstance(malformed, exceptions.InvalidArgumentError)
    assert "not a valid FCM registration token" in str(malformed)
    assert isinstance(quota, messaging.QuotaExceededError)
    assert [m.message_id for m in sim.fcm_inbox.query()] == [after_retry]
