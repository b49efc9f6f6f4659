"""The embedded SQLite store: migrations, devices rules, outbox durability and results."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from pushgate.store import DeliveryResult, NewDelivery, SqliteStore
from pushgate.store.schema import available_migrations


@pytest.fixture(params=[False, True], ids=["reader-thread", "inline-reads"])
async def store(tmp_path: Path, request: pytest.FixtureRequest):
    s = SqliteStore(tmp_path / "db.sqlite", inline_reads=request.param)
    s.open()
    yield s
    s.close()


def test_inline_reads_start_no_reader_thread(tmp_path: Path) -> None:
    before = {thread.name for thread in threading.enumerate()}
    inline = SqliteStore(tmp_path / "db.sqlite", inline_reads=True)
    inline.open()
    try:
        started = {thread.name for thread in threading.enumerate()} - before
        assert started == {"pushgate-db-writer"}
    finally:
        inline.close()


async def _app(store: SqliteStore, name: str = "chat") -> str:
    app = await store.create_app(name, f"hash-{name}", "pgapp_x")
    assert app is not None
    return app.id


def test_migrations_are_recorded_and_not_reapplied(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    first = SqliteStore(path)
    assert first.open() == [name for _, name, _ in available_migrations()]
    first.close()
    second = SqliteStore(path)
    assert second.open() == []
    second.close()
    versions = sqlite3.connect(path).execute("SELECT version FROM schema_migrations").fetchall()
    assert versions == [(v,) for v, _, _ in available_migrations()]


async def test_app_names_are_unique_and_keys_resolve(store: SqliteStore) -> None:
    app_id = await _app(store)
    assert await store.create_app("chat", "other-hash", "p") is None
    found = await store.app_by_key_hash("hash-chat")
    assert found is not None and found.id == app_id
    assert await store.app_by_key_hash("nope") is None


async def _register(store: SqliteStore, app_id: str, user: str, token: str, limit: int = 25):
    return await store.register_device(
        app_id=app_id,
        user_id=user,
        platform="apns",
        token=token,
        environment="sandbox",
        extra=None,
        max_per_user=limit,
    )


async def test_oldest_device_dropped_past_the_per_user_limit(store: SqliteStore) -> None:
    app_id = await _app(store)
    for i in range(3):
        _, dropped = await _register(store, app_id, "u1", f"{i:064x}", limit=3)
        assert dropped == []
    newest, dropped = await _register(store, app_id, "u1", f"{9:064x}", limit=3)
    assert [d.token for d in dropped] == [f"{0:064x}"]
    tokens = [d.token for d in await store.list_devices(app_id, "u1")]
    assert tokens == [f"{1:064x}", f"{2:064x}", newest.token]


async def test_reregistering_moves_the_token_to_the_new_user(store: SqliteStore) -> None:
    app_id = await _app(store)
    first, _ = await _register(store, app_id, "alice", "ab" * 32)
    second, _ = await _register(store, app_id, "bob", "ab" * 32)
    assert second.id == first.id and second.user_id == "bob"
    assert await store.list_devices(app_id, "alice") == []


async def test_apps_never_see_each_others_devices(store: SqliteStore) -> None:
    one, two = await _app(store, "one"), await _app(store, "two")
    await _register(store, one, "u", "cd" * 32)
    assert await store.list_devices(two) == []
    assert await store.devices_by_tokens(two, ["cd" * 32]) == []
    assert await store.delete_device(two, "cd" * 32) == 0
    assert len(await store.list_devices(one)) == 1


async def test_accepted_notification_is_pending_until_a_result_is_recorded(
    store: SqliteStore,
) -> None:
    app_id = await _app(store)
    device, _ = await _register(store, app_id, "u", "ef" * 32)
    rows = await store.accept_notification(
        notification_id="n1",
        app_id=app_id,
        message_json="{}",
        deadline=time.time() + 60,
        deliveries=[
            NewDelivery(
                device_id=device.id,
                user_id="u",
                platform="apns",
                token=device.token,
                environment="sandbox",
            )
        ],
        skipped=[{"token": "00", "reason": "unknown_token"}],
    )
    assert [r.id for r in await store.pending_deliveries()] == [rows[0].id]
    await store.record_results(
        [
            DeliveryResult(
                delivery_id=rows[0].id,
                state="unregistered",
                attempts=1,
                reason="Unregistered",
                unregistered_at=time.time(),
                deactivate_device_id=device.id,
            )
        ]
    )
    assert await store.pending_deliveries() == []
    report = await store.notification_report(app_id, "n1")
    assert report is not None and report["complete"]
    assert report["results"][0]["status"] == "unregistered"
    assert report["skipped"] == [{"token": "00", "reason": "unknown_token"}]
    (stored,) = await store.list_devices(app_id)
    assert not stored.active and stored.inactive_reason == "Unregistered"


async def test_device_registered_after_the_410_timestamp_stays_active(store: SqliteStore) -> None:
    app_id = await _app(store)
    device, _ = await _register(store, app_id, "u", "12" * 32)
    await store.record_results(
        [
            DeliveryResult(
                delivery_id=0,
                state="unregistered",
                attempts=1,
                reason="Unregistered",
                unregistered_at=device.created_at - 3600,
                deactivate_device_id=device.id,
            )
        ]
    )
    (stored,) = await store.list_devices(app_id)
    assert stored.active


async def test_a_failing_job_does_not_undo_others_in_its_group(store: SqliteStore) -> None:
    await _app(store, "one")
    with pytest.raises(sqlite3.IntegrityError):
        await store._writer.run(lambda c: c.execute("INSERT INTO apps (id) VALUES (NULL)"))
    assert [a.name for a in await store.list_apps()] == ["one"]


async def test_only_groups_with_durable_work_are_fsynced(store: SqliteStore) -> None:
    def synchronous(conn: sqlite3.Connection) -> int:
        return int(conn.execute("PRAGMA synchronous").fetchone()[0])

    assert await store._writer.run(synchronous, durable=False) == 1  # NORMAL
    assert await store._writer.run(synchronous) == 2  # FULL
