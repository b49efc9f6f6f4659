"""The repositories and the outbox, the same behaviour on every backend."""

from __future__ import annotations

import time

import pytest

from backends import backend_settings
from pushgate.notification_ids import first_id_at
from pushgate.store import DeliveryResult, NewDelivery, NewNotification
from pushgate.store.backends import Backend, backend_for


async def _app(backend: Backend, name: str = "chat") -> str:
    app = await backend.store.create_app(name, f"hash-{name}", "pgapp_x")
    assert app is not None
    return app.id


async def _register(backend: Backend, app_id: str, user: str, token: str, limit: int = 25):
    return await backend.store.register_device(
        app_id=app_id,
        user_id=user,
        platform="apns",
        token=token,
        apns_environment="sandbox",
        fcm_credential=None,
        extra=None,
        max_per_user=limit,
    )


def _notification(app_id: str, nid: str, deliveries: list[NewDelivery], **kw) -> NewNotification:
    return NewNotification(
        id=nid,
        app_id=app_id,
        message_json='{"alert": {"body": "hi"}}',
        deadline=time.time() + 60,
        deliveries=deliveries,
        **kw,
    )


def _delivery(token: str, device_id: int | None = None, **kw) -> NewDelivery:
    return NewDelivery(
        device_id=device_id,
        user_id="u",
        platform=kw.pop("platform", "apns"),
        token=token,
        apns_environment="sandbox",
        **kw,
    )


async def test_migrations_are_recorded_and_not_reapplied(backend: Backend) -> None:
    second = backend_for(backend_settings(backend))  # a second gateway on the same database
    assert await second.open() == []  # the fixture's open applied them all already
    await second.close()


async def test_meta_values_are_set_once(backend: Backend) -> None:
    assert await backend.store.get_meta("k") is None
    assert await backend.store.set_meta_if_absent("k", "one")
    assert not await backend.store.set_meta_if_absent("k", "two")
    assert await backend.store.get_meta("k") == "one"


async def test_app_names_are_unique_and_keys_resolve(backend: Backend) -> None:
    app_id = await _app(backend)
    assert await backend.store.create_app("chat", "other-hash", "p") is None
    found = await backend.store.key_by_hash("hash-chat", time.time())
    assert found is not None
    key, app = found
    assert app is not None and app.id == app_id and app.name == "chat"
    assert (key.app_id, key.scope, key.name, key.key_prefix) == (
        app_id,
        "manage",
        "default",
        "pgapp_x",
    )
    assert await backend.store.key_by_hash("nope", time.time()) is None
    await _app(backend, "second")
    assert [a.name for a in await backend.store.list_apps()] == ["chat", "second"]


async def test_credentials_are_replaced_by_name_and_show_problems(backend: Backend) -> None:
    app_id = await _app(backend)
    store = backend.store
    await store.put_credential(app_id, "fcm", "default", {"project_id": "a"}, b"\x00secret")
    await store.put_credential(app_id, "fcm", "default", {"project_id": "b"}, b"\x01other")
    await store.put_credential(app_id, "apns", "sandbox", {"kind": "token"}, b"k")
    (fcm,) = await store.list_credentials(app_id, "fcm")
    assert fcm.summary == {"project_id": "b"} and fcm.secret == b"\x01other"
    assert [c.platform for c in await store.list_credentials(app_id)] == ["apns", "fcm"]
    await store.record_credential_problem(app_id, "fcm", "default", "THIRD_PARTY_AUTH_ERROR", 5.0)
    (fcm,) = await store.list_credentials(app_id, "fcm")
    assert fcm.summary["last_error"] == {"reason": "THIRD_PARTY_AUTH_ERROR", "at": 5.0}
    assert await store.delete_credential(app_id, "fcm", "default")
    assert not await store.delete_credential(app_id, "fcm", "default")
    assert [c.platform for c in await store.list_credentials(app_id)] == ["apns"]


async def test_oldest_device_dropped_past_the_per_user_limit(backend: Backend) -> None:
    app_id = await _app(backend)
    for i in range(3):
        _, dropped = await _register(backend, app_id, "u1", f"{i:064x}", limit=3)
        assert dropped == []
    newest, dropped = await _register(backend, app_id, "u1", f"{9:064x}", limit=3)
    assert [d.token for d in dropped] == [f"{0:064x}"]
    tokens = [d.token for d in await backend.store.list_devices(app_id, "u1")]
    assert tokens == [f"{1:064x}", f"{2:064x}", newest.token]


async def test_reregistering_moves_the_token_to_the_new_user(backend: Backend) -> None:
    app_id = await _app(backend)
    first, _ = await _register(backend, app_id, "alice", "ab" * 32)
    second, _ = await _register(backend, app_id, "bob", "ab" * 32)
    assert second.id == first.id and second.user_id == "bob"
    assert await backend.store.list_devices(app_id, "alice") == []


async def test_device_extra_round_trips(backend: Backend) -> None:
    app_id = await _app(backend)
    keys = {"p256dh": "BAx", "auth": "y"}
    device, _ = await backend.store.register_device(
        app_id=app_id,
        user_id="u",
        platform="webpush",
        token="https://push.example/1",
        apns_environment=None,
        fcm_credential=None,
        extra=keys,
        max_per_user=25,
    )
    assert device.extra == keys and device.active
    (by_token,) = await backend.store.devices_by_tokens(app_id, ["https://push.example/1"])
    (by_user,) = await backend.store.active_devices_of_users(app_id, ["u"])
    for found in (by_token, by_user):  # SQLite's JSON aggregates keep 15 digits of a time
        assert (found.id, found.extra, found.platform) == (device.id, keys, "webpush")
        assert found.created_at == pytest.approx(device.created_at, abs=1e-3)


async def test_apps_never_see_each_others_devices(backend: Backend) -> None:
    one, two = await _app(backend, "one"), await _app(backend, "two")
    await _register(backend, one, "u", "cd" * 32)
    assert await backend.store.list_devices(two) == []
    assert await backend.store.devices_by_tokens(two, ["cd" * 32]) == []
    assert await backend.store.delete_device(two, "cd" * 32) == 0
    assert len(await backend.store.list_devices(one)) == 1
    assert await backend.store.delete_device(one, "cd" * 32, "apns") == 1


async def test_accepted_notification_is_pending_until_a_result_is_recorded(
    backend: Backend,
) -> None:
    app_id = await _app(backend)
    device, _ = await _register(backend, app_id, "u", "ef" * 32)
    accepted = await backend.outbox.accept(
        [
            _notification(
                app_id,
                "n1",
                [_delivery(device.token, device.id)],
                skipped=[{"token": "00", "reason": "unknown_token"}],
                renders_json='{"apns": {"payload": "x"}}',
            )
        ]
    )
    assert accepted.count == 1
    (pending,) = await backend.outbox.claim(0, 100)
    assert pending.notification_id == "n1" and pending.token == device.token
    assert pending.renders == {"apns": {"payload": "x"}}
    assert pending.message_json == '{"alert": {"body": "hi"}}'
    if accepted.rows is not None:
        assert [r.id for r in accepted.rows] == [pending.id]
    await backend.outbox.record_results(
        [
            DeliveryResult(
                delivery_id=pending.id,
                state="unregistered",
                attempts=1,
                reason="Unregistered",
                unregistered_at=time.time(),
                deactivate_device_id=device.id,
            )
        ]
    )
    assert await backend.outbox.claim(0, 100) == []
    report = await backend.outbox.notification_report(app_id, "n1")
    assert report is not None and report["complete"] and report["total"] == 1
    assert report["results"][0]["status"] == "unregistered"
    assert report["skipped"] == [{"token": "00", "reason": "unknown_token"}]
    (stored,) = await backend.store.list_devices(app_id)
    assert not stored.active and stored.inactive_reason == "Unregistered"
    assert await backend.outbox.notification_report("other-app", "n1") is None


async def test_delivered_and_retried_results(backend: Backend) -> None:
    app_id = await _app(backend)
    extra = {"p256dh": "k", "auth": "a"}
    await backend.outbox.accept(
        [
            _notification(
                app_id, "n1", [_delivery("t1"), _delivery("t2", platform="webpush", extra=extra)]
            )
        ]
    )
    first, second = await backend.outbox.claim(0, 100)
    assert second.extra == extra and first.extra is None
    due = time.time() + 30
    await backend.outbox.record_results(
        [DeliveryResult(delivery_id=second.id, state="pending", attempts=1, next_attempt_at=due,
                        reason="ServiceUnavailable", status_code=503)],
        [(1, "apns-id-1", first.id)],
    )  # fmt: skip
    report = await backend.outbox.notification_report(app_id, "n1")
    assert report is not None and not report["complete"]
    by_token = {r["token"]: r for r in report["results"]}
    assert by_token["t1"]["status"] == "delivered" and by_token["t1"]["provider_id"] == "apns-id-1"
    assert by_token["t2"]["status"] == "pending" and by_token["t2"]["status_code"] == 503
    assert report["counts"] == {"delivered": 1, "pending": 1}


async def test_delivery_results_of_many_notifications_in_one_read(backend: Backend) -> None:
    app_id = await _app(backend)
    other_app = await _app(backend, "other")
    await backend.outbox.accept(
        [
            _notification(app_id, "n1", [_delivery("t1"), _delivery("t2")]),
            _notification(app_id, "n2", [_delivery("t3")]),
            _notification(app_id, "n3", [], skipped=[{"token": "00", "reason": "unknown_token"}]),
            _notification(other_app, "n4", [_delivery("t4")]),
        ]
    )
    first, *_ = await backend.outbox.claim(0, 100)
    await backend.outbox.record_results([], [(1, "apns-id-1", first.id)])
    found = await backend.outbox.delivery_results(app_id, ["n2", "n1", "n4", "nope", "n3"])
    reports = [await backend.outbox.notification_report(app_id, nid) for nid in ("n2", "n1")]
    assert found[:2] == [report["results"] for report in reports if report is not None]
    assert [r["status"] for r in found[1] or []] == ["delivered", "pending"]
    assert found[2:] == [None, None, []]


async def test_device_registered_after_the_410_timestamp_stays_active(backend: Backend) -> None:
    app_id = await _app(backend)
    device, _ = await _register(backend, app_id, "u", "12" * 32)
    await backend.outbox.record_results(
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
    (stored,) = await backend.store.list_devices(app_id)
    assert stored.active


async def test_a_batch_is_accepted_whole(backend: Backend) -> None:
    app_id = await _app(backend)
    batch = [
        _notification(app_id, f"n{i}", [_delivery(f"t{i}-{d}") for d in range(3)])
        for i in range(50)
    ]
    accepted = await backend.outbox.accept(batch)
    assert accepted.count == 150
    claimed = await backend.outbox.claim(0, 1000)
    assert len(claimed) == 150 and len({c.id for c in claimed}) == 150
    with pytest.raises(Exception):  # noqa: B017 - each backend's own integrity error
        await backend.outbox.accept([_notification(app_id, "n0", [_delivery("again")])])
    report = await backend.outbox.notification_report(app_id, "n0")
    assert report is not None and len(report["results"]) == 3  # nothing of the refused one


async def test_key_rotation_keeps_the_old_key_for_its_overlap(backend: Backend) -> None:
    app_id = await _app(backend)
    store, now = backend.store, time.time()
    (default,) = await store.list_keys(app_id)
    new = await store.rotate_key(default.id, "new-hash", "pgapp_n", previous_valid_until=now + 60)
    assert new is not None and (new.app_id, new.scope, new.name) == (app_id, "manage", "default")
    (app,) = await store.list_apps()
    assert app.api_key_prefix == "pgapp_n"  # the listing shows the default key's prefix
    assert (await store.key_by_hash("new-hash", now))[0].id == new.id  # type: ignore[index]
    assert (await store.key_by_hash("hash-chat", now))[0].id == default.id  # type: ignore[index]
    assert await store.key_by_hash("hash-chat", now + 61) is None  # the overlap ended
    assert await store.rotate_key(default.id, "h", "p", previous_valid_until=now + 120) is None
    assert await store.rotate_key("key_missing", "h", "p", previous_valid_until=now) is None


async def test_keys_of_several_scopes_revoke_touch_and_go_with_their_app(
    backend: Backend,
) -> None:
    app_id = await _app(backend)
    store, now = backend.store, time.time()
    sender = await store.create_key(
        app_id=app_id, scope="send", name="ci", key_hash="h-send", key_prefix="pgapp_s",
        rate_limit=30,
    )  # fmt: skip
    admin = await store.create_key(
        app_id=None, scope="admin", name="ops", key_hash="h-adm", key_prefix="pgadm_a"
    )
    found = await store.key_by_hash("h-send", now)
    assert found is not None and found[0] == sender and found[1] is not None
    assert await store.key_by_hash("h-adm", now) == (admin, None)
    assert [k.name for k in await store.list_keys(app_id)] == ["default", "ci"]
    assert [k.id for k in await store.list_keys()][-1] == admin.id
    await store.touch_keys([(sender.id, now - 5)])
    (_, listed) = await store.list_keys(app_id)
    assert listed.last_used_at == now - 5 and listed.rate_limit == 30
    assert await store.revoke_key(sender.id, now) and not await store.revoke_key(sender.id, now)
    assert await store.key_by_hash("h-send", now) is None
    assert (await store.list_keys(app_id))[1].revoked_at == now
    assert await store.delete_app(app_id)
    assert [k.id for k in await store.list_keys()] == [admin.id]


async def test_deleting_an_app_removes_what_it_owned(backend: Backend) -> None:
    app_id = await _app(backend)
    await _register(backend, app_id, "u", "ab" * 32)
    await backend.store.put_credential(app_id, "fcm", "default", {}, b"s")
    await backend.outbox.accept([_notification(app_id, "n1", [_delivery("t")])])
    assert await backend.store.delete_app(app_id)
    assert not await backend.store.delete_app(app_id)
    assert await backend.store.list_devices(app_id) == []
    assert await backend.store.list_credentials(app_id) == []
    assert await backend.outbox.notification_report(app_id, "n1") is None
    assert await backend.outbox.claim(0, 10) == []


async def test_meta_values_can_be_replaced(backend: Backend) -> None:
    await backend.store.set_meta("k", "one")
    await backend.store.set_meta("k", "two")
    assert await backend.store.get_meta("k") == "two"


async def test_the_audit_log_lists_newest_first_by_app_with_a_cursor(backend: Backend) -> None:
    store = backend.store
    for n in range(3):
        await store.record_audit(actor="admin", app_id="app_a", action="app.create", target=f"t{n}")
    await store.record_audit(actor="key_1", app_id="app_b", action="credential.put", target="fcm/x")
    await store.record_audit(actor="cli", app_id=None, action="master_key.rotate", target="all")
    every = await store.list_audit()
    assert [e.target for e in every] == ["all", "fcm/x", "t2", "t1", "t0"]
    assert every[0].app_id is None and every[0].actor == "cli" and every[0].at > 0
    first = await store.list_audit(app_id="app_a", limit=2)
    assert [e.target for e in first] == ["t2", "t1"]
    rest = await store.list_audit(app_id="app_a", before=first[-1].id, limit=2)
    assert [e.target for e in rest] == ["t0"]


def _ntf_id(accepted_at: float, tail: str) -> str:
    return f"{first_id_at(accepted_at)}{tail}"


async def test_retention_purges_finished_notifications_and_keeps_pending_and_devices(
    backend: Backend,
) -> None:
    app_id = await _app(backend)
    device, _ = await _register(backend, app_id, "u", "ab" * 32)
    await backend.store.put_credential(app_id, "fcm", "default", {}, b"sealed")
    old, now = time.time() - 8 * 86_400, time.time()
    ids = {
        "old_done": _ntf_id(old, "00000001"),
        "old_pending": _ntf_id(old, "00000002"),
        "new_done": _ntf_id(now, "00000003"),
    }
    await backend.outbox.accept(
        [_notification(app_id, nid, [_delivery(device.token, device.id)]) for nid in ids.values()]
    )
    by_notification = {p.notification_id: p for p in await backend.outbox.claim(0, 100)}
    await backend.outbox.record_results(
        [],
        [(1, None, by_notification[ids[k]].id) for k in ("old_done", "new_done")],
    )
    cutoff = first_id_at(now - 7 * 86_400)
    assert await backend.outbox.purge_finished(cutoff, 100) == 1
    assert await backend.outbox.notification_report(app_id, ids["old_done"]) is None
    pending = await backend.outbox.notification_report(app_id, ids["old_pending"])
    assert pending is not None and not pending["complete"]
    assert await backend.outbox.notification_report(app_id, ids["new_done"]) is not None
    assert [d.token for d in await backend.store.list_devices(app_id)] == [device.token]
    assert len(await backend.store.list_credentials(app_id)) == 1
    assert await backend.outbox.purge_finished(cutoff, 100) == 0


async def test_reseal_rewrites_every_credential_secret(backend: Backend) -> None:
    first, second = await _app(backend, "one"), await _app(backend, "two")
    await backend.store.put_credential(first, "fcm", "a", {"k": 1}, b"s1")
    await backend.store.put_credential(second, "apns", "sandbox", {}, b"s2")
    assert await backend.store.reseal_credentials(lambda s: b"new:" + s) == 2
    assert [c.secret for c in await backend.store.list_credentials(first)] == [b"new:s1"]
    (other,) = await backend.store.list_credentials(second)
    assert other.secret == b"new:s2" and other.summary == {}


async def test_outbox_depth_counts_what_is_not_final(backend: Backend) -> None:
    """The counters accept adds to and final results take from (issue 12 item 5)."""
    app_id, other = await _app(backend), await _app(backend, "other")
    outbox = backend.outbox
    await outbox.accept(
        [
            _notification(app_id, "n1", [_delivery("t1"), _delivery("t2"), _delivery("t3")]),
            _notification(other, "n2", [_delivery("t4")]),
        ]
    )
    depth = await outbox.depth(app_id)
    assert (depth.app, depth.total) == (3, 4)
    rows = {row.token: row for row in await outbox.claim(0, 100)}
    retry = DeliveryResult(
        delivery_id=rows["t2"].id,
        state="pending",
        attempts=1,
        next_attempt_at=time.time() + 30,
        reason="ServiceUnavailable",
    )
    failed = DeliveryResult(delivery_id=rows["t3"].id, state="failed", attempts=1, reason="x")
    await outbox.record_results([retry, failed], [(1, None, rows["t1"].id)])  # fmt: skip
    await outbox.record_results([], [(1, None, rows["t1"].id)])  # a repeat counts once
    depth = await outbox.depth(app_id)
    assert (depth.app, depth.total) == (1, 2)  # only the retried one is left of this app
    assert await backend.store.delete_app(other)
    depth = await outbox.depth(app_id)
    assert (depth.app, depth.total) == (1, 1)
