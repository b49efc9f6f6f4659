"""Front-door keys and acknowledgements in the outbox, the same on every backend."""

from __future__ import annotations

import asyncio
import time

from backends import backend_settings
from pushgate.store import NewDelivery, NewNotification
from pushgate.store.backends import Backend, backend_for


async def _app(backend: Backend) -> str:
    app = await backend.store.create_app("chat", "hash-chat", "pgapp_x")
    assert app is not None
    return app.id


def _keyed(app_id: str, nid: str, key: str | None, expires_in: float = 60) -> NewNotification:
    return NewNotification(
        id=nid,
        app_id=app_id,
        message_json='{"alert": {"body": "hi"}}',
        deadline=time.time() + 60,
        deliveries=[
            NewDelivery(device_id=None, user_id=None, platform="apns", token=f"tok-{nid}",
                        apns_environment="sandbox")
        ],
        key=key,
        key_expires_at=time.time() + expires_in,
    )  # fmt: skip


async def test_a_taken_key_writes_nothing_and_names_its_holder(backend: Backend) -> None:
    app_id = await _app(backend)
    first = await backend.outbox.accept([_keyed(app_id, "n1", "k1"), _keyed(app_id, "n2", None)])
    assert first.count == 2 and dict(first.earlier) == {}
    again = await backend.outbox.accept(
        [_keyed(app_id, "n3", "k1"), _keyed(app_id, "n4", "k2"), _keyed(app_id, "n5", "k2")]
    )
    # n3 retries n1; n5 repeats n4 inside the same batch: only n4 is written.
    assert dict(again.earlier) == {"n3": "n1", "n5": "n4"} and again.count == 1
    if again.rows is not None:
        assert [row.notification_id for row in again.rows] == ["n4"]
    assert await backend.outbox.notification_report(app_id, "n3") is None
    assert await backend.outbox.notification_report(app_id, "n5") is None
    pending = await backend.outbox.claim(0, 100)
    assert sorted(row.notification_id for row in pending) == ["n1", "n2", "n4"]
    assert await backend.outbox.notification_for_key(app_id, "k2") == "n4"
    assert await backend.outbox.notification_for_key("other-app", "k2") is None


async def test_two_gateways_accepting_one_key_at_once_write_it_once(backend: Backend) -> None:
    app_id = await _app(backend)
    second = backend_for(backend_settings(backend))
    if backend_settings(backend).store.backend == "postgresql":
        await second.open()
        outboxes = [backend.outbox, second.outbox] * 4
    else:  # one SQLite file has one writer: concurrent accepts of one gateway
        outboxes = [backend.outbox] * 8
    try:
        answers = await asyncio.gather(
            *(o.accept([_keyed(app_id, f"n{i}", "same")]) for i, o in enumerate(outboxes))
        )
    finally:
        if backend_settings(backend).store.backend == "postgresql":
            await second.close()
    written = [i for i, a in enumerate(answers) if a.count == 1]
    assert len(written) == 1
    holder = f"n{written[0]}"
    assert all(dict(a.earlier) == {f"n{i}": holder} for i, a in enumerate(answers) if a.count == 0)
    assert [row.notification_id for row in await backend.outbox.claim(0, 100)] == [holder]


async def test_expired_keys_are_purged_by_later_accepts(backend: Backend) -> None:
    app_id = await _app(backend)
    await backend.outbox.accept([_keyed(app_id, "old", "k-old", expires_in=-1)])
    await backend.outbox.accept([_keyed(app_id, "new", "k-new")])
    assert await backend.outbox.notification_for_key(app_id, "k-old") is None
    assert await backend.outbox.notification_for_key(app_id, "k-new") == "new"


async def test_the_first_acknowledgement_counts(backend: Backend) -> None:
    app_id = await _app(backend)
    await backend.outbox.accept([_keyed(app_id, "n1", None)])
    report = await backend.outbox.notification_report(app_id, "n1")
    assert report is not None and report["acknowledged_at"] is None
    assert await backend.outbox.acknowledge(app_id, "n1", 1000.5) == 1000.5
    assert await backend.outbox.acknowledge(app_id, "n1", 2000.0) == 1000.5
    assert await backend.outbox.acknowledge("other-app", "n1", 3000.0) is None
    assert await backend.outbox.acknowledge(app_id, "nope", 3000.0) is None
    report = await backend.outbox.notification_report(app_id, "n1")
    assert report is not None and report["acknowledged_at"] == 1000.5
    (logged,) = await backend.outbox.recent_notifications(app_id, from_id="")
    assert logged["acknowledged_at"] == 1000.5
