"""What only a shared PostgreSQL outbox does: leases, takeover, and other gateways' news."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from backends import store_settings
from pushgate.config import Settings
from pushgate.notification_ids import first_id_at
from pushgate.store import DeliveryResult, NewDelivery, NewNotification
from pushgate.store.backends import Backend, backend_for

LEASE = 1.0


@asynccontextmanager
async def gateways(tmp_path: Path, count: int) -> AsyncIterator[list[Backend]]:
    """``count`` backends on one fresh schema, as that many gateways would open them."""
    async with gateways_and_store(tmp_path, count) as (opened, _store):
        yield opened


@asynccontextmanager
async def gateways_and_store(
    tmp_path: Path, count: int
) -> AsyncIterator[tuple[list[Backend], dict[str, Any]]]:
    """``gateways``, with the store settings (to look at the tables themselves)."""
    async with store_settings("postgresql", tmp_path) as store:
        settings = Settings(data_dir=tmp_path, store={**store, "lease_seconds": LEASE})
        opened = [backend_for(settings) for _ in range(count)]
        for backend in opened:
            await backend.open()
        try:
            yield opened, store
        finally:
            for backend in opened:
                await backend.close()


async def _ids(store: dict[str, Any], table: str) -> set[int]:
    """The ids in ``table`` (outbox: the deliveries still pending)."""
    conn = await asyncpg.connect(
        store["url"], server_settings={"search_path": store["schema_name"]}
    )
    try:
        return {row["id"] for row in await conn.fetch(f"SELECT id FROM {table}")}
    finally:
        await conn.close()


async def _outbox_ids(store: dict[str, Any]) -> set[int]:
    return await _ids(store, "outbox")


async def _accept(backend: Backend, count: int) -> str:
    app = await backend.store.create_app(f"a{time.monotonic_ns()}", f"h{time.monotonic_ns()}", "p")
    assert app is not None
    deliveries = [
        NewDelivery(device_id=None, user_id="u", platform="apns", token=f"{i:064x}",
                    apns_environment="sandbox")
        for i in range(count)
    ]  # fmt: skip
    await backend.outbox.accept(
        [NewNotification(id=f"n{time.monotonic_ns()}", app_id=app.id, message_json="{}",
                         deadline=time.time() + 60, deliveries=deliveries)]
    )  # fmt: skip
    return app.id


class Events:
    """What a dispatcher hears (and holds), recorded."""

    def __init__(self) -> None:
        self.new_rows_heard = asyncio.Event()
        self.changed: list[str] = []
        self.changed_heard = asyncio.Event()
        self.held: Collection[int] = ()

    def new_rows(self) -> None:
        self.new_rows_heard.set()

    def credentials_changed(self, app_id: str) -> None:
        self.changed.append(app_id)
        self.changed_heard.set()

    def held_ids(self) -> Collection[int]:
        return self.held


@asynccontextmanager
async def serving(backend: Backend, events: Events) -> AsyncIterator[None]:
    task = asyncio.create_task(backend.outbox.serve(events))
    try:
        async with asyncio.timeout(5):
            await events.new_rows_heard.wait()  # serve() says "claim" once it listens
        events.new_rows_heard.clear()
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_two_gateways_never_claim_the_same_row(tmp_path: Path) -> None:
    async with gateways(tmp_path, 2) as (one, two):
        await _accept(one, 300)
        first, second = await asyncio.gather(one.outbox.claim(0, 200), two.outbox.claim(0, 200))
        ids_one, ids_two = {r.id for r in first}, {r.id for r in second}
        assert not ids_one & ids_two
        assert len(ids_one | ids_two) == 300
        assert await one.outbox.claim(0, 200) == []  # all leased, none expired


async def test_rows_of_a_dead_gateway_are_taken_over_after_the_lease(tmp_path: Path) -> None:
    async with gateways(tmp_path, 2) as (dead, alive):
        await _accept(dead, 10)
        taken = await dead.outbox.claim(0, 100)
        assert len(taken) == 10
        assert await alive.outbox.claim(0, 100) == []
        await asyncio.sleep(LEASE + 0.2)  # the dead one renews nothing
        assert {r.id for r in await alive.outbox.claim(0, 100)} == {r.id for r in taken}


async def test_a_live_gateway_renews_what_it_holds(tmp_path: Path) -> None:
    async with gateways(tmp_path, 2) as (holder, other):
        await _accept(holder, 6)
        rows = await holder.outbox.claim(0, 100)
        events = Events()
        events.held = [r.id for r in rows[:3]]  # holds half; the rest it let go of
        async with serving(holder, events):
            await asyncio.sleep(LEASE * 1.6)
            taken = {r.id for r in await other.outbox.claim(0, 100)}
        assert taken == {r.id for r in rows[3:]}


async def test_final_results_leave_the_outbox_and_a_retry_stays_leased(tmp_path: Path) -> None:
    async with gateways_and_store(tmp_path, 2) as ((holder, other), store):
        await _accept(holder, 4)
        sent, rejected, retried, untouched = await holder.outbox.claim(0, 100)
        await holder.outbox.record_results(
            [
                DeliveryResult(delivery_id=rejected.id, state="rejected", attempts=1),
                DeliveryResult(
                    delivery_id=retried.id,
                    state="pending",
                    attempts=1,
                    next_attempt_at=time.time() + 60,
                ),
            ],
            [(1, "apns-1", sent.id)],
        )
        assert await _outbox_ids(store) == {retried.id, untouched.id}
        assert await other.outbox.claim(0, 100) == []  # still the holder's until the lease ends
        await asyncio.sleep(LEASE + 0.2)
        assert {r.id for r in await other.outbox.claim(0, 100)} == {retried.id, untouched.id}


async def test_deleting_an_app_removes_its_deliveries_and_outbox_rows(tmp_path: Path) -> None:
    async with gateways_and_store(tmp_path, 1) as ((gateway,), store):
        kept = await _accept(gateway, 2)
        gone = await _accept(gateway, 3)
        assert len(await _outbox_ids(store)) == 5
        assert await gateway.store.delete_app(gone)
        assert len(await _outbox_ids(store)) == 2
        assert await _ids(store, "deliveries") == await _outbox_ids(store)
        assert {r.app_id for r in await gateway.outbox.claim(0, 100)} == {kept}


async def test_retention_takes_the_deliveries_with_their_notification(tmp_path: Path) -> None:
    async with gateways_and_store(tmp_path, 1) as ((gateway,), store):
        await _accept(gateway, 3)
        await gateway.outbox.record_results(
            [], [(1, None, r.id) for r in await gateway.outbox.claim(0, 100)]
        )
        later = first_id_at(time.time() + 60)
        assert await gateway.outbox.purge_finished(later, 100) == 1
        assert await _ids(store, "deliveries") == set()


async def test_accepts_and_credential_changes_on_one_gateway_reach_the_others(
    tmp_path: Path,
) -> None:
    async with gateways(tmp_path, 2) as (listener, writer):
        events = Events()
        async with serving(listener, events):
            app_id = await _accept(writer, 1)
            async with asyncio.timeout(2):
                await events.new_rows_heard.wait()
            await writer.store.put_credential(app_id, "fcm", "default", {}, b"s")
            async with asyncio.timeout(2):
                await events.changed_heard.wait()
            assert events.changed == [app_id]
            events.changed_heard.clear()
            await writer.store.delete_credential(app_id, "fcm", "default")
            async with asyncio.timeout(2):
                await events.changed_heard.wait()
            assert events.changed == [app_id, app_id]


async def test_gateways_on_another_schema_of_the_database_are_not_woken(
    tmp_path: Path,
) -> None:
    """Channels are database-wide; their names carry the schema, so an accept or a credential
    change on one schema wakes no gateway of another (it did, and a test heard the others')."""
    async with gateways(tmp_path / "a", 1) as (listener,), gateways(tmp_path / "b", 1) as (other,):
        events = Events()
        async with serving(listener, events):
            app_id = await _accept(other, 1)
            await other.store.put_credential(app_id, "fcm", "default", {}, b"s")
            await asyncio.sleep(0.5)
            assert not events.new_rows_heard.is_set() and events.changed == []
            await _accept(listener, 1)  # its own schema's news still arrives
            async with asyncio.timeout(2):
                await events.new_rows_heard.wait()


def test_postgresql_needs_a_url_and_a_sane_lease() -> None:
    with pytest.raises(ValueError, match=r"store\.url"):
        Settings(store={"backend": "postgresql"})
    with pytest.raises(ValueError, match="lease_seconds"):
        Settings(store={"backend": "postgresql", "url": "postgresql://x/y", "lease_seconds": 0.5})
