"""Feedback rows and webhook calls are written with the results that cause them, on every
backend; the call queue is claimed with a lease and keeps every try."""

from __future__ import annotations

import json
import time

from pushgate.store import DeliveryResult, NewDelivery, NewNotification
from pushgate.store.backends import Backend


async def _setup(backend: Backend) -> tuple[str, int, int, int]:
    """An app with a webhook and two devices, and one notification to both (two deliveries)."""
    app = await backend.store.create_app("chat", "hash-chat", "pgapp_x")
    assert app is not None
    devices = []
    for token in ("ab" * 32, "cd" * 32):
        device, _ = await backend.store.register_device(
            app_id=app.id, user_id="u", platform="apns", token=token,
            apns_environment="sandbox", fcm_credential=None, extra=None, max_per_user=25,
        )  # fmt: skip
        devices.append(device)
    await backend.store.create_webhook(
        app.id, "http://127.0.0.1:9/hook", ["device.deactivated", "notification.finished"], b"s"
    )
    await backend.outbox.accept(
        [
            NewNotification(
                id="ntf_1", app_id=app.id, message_json="{}", deadline=time.time() + 60,
                deliveries=[
                    NewDelivery(device_id=d.id, user_id="u", platform="apns", token=d.token,
                                apns_environment="sandbox")
                    for d in devices
                ],
            )
        ]
    )  # fmt: skip
    first, second = sorted(row.id for row in await backend.outbox.claim(0, 10))
    return app.id, devices[0].id, first, second


async def test_a_deactivation_is_feedback_and_a_webhook_call(backend: Backend) -> None:
    app_id, device_id, first, second = await _setup(backend)
    stamp = time.time() + 5
    await backend.outbox.record_results(
        [
            DeliveryResult(
                delivery_id=first, state="unregistered", attempts=1, reason="Unregistered",
                unregistered_at=stamp, deactivate_device_id=device_id,
            )
        ]
    )  # fmt: skip
    (entry,) = await backend.store.list_feedback(app_id, after=0, limit=10)
    assert (entry.device_id, entry.platform, entry.reason) == (device_id, "apns", "Unregistered")
    assert abs((entry.provider_at or 0) - stamp) < 0.01
    assert await backend.store.list_feedback(app_id, after=entry.id, limit=10) == []

    claimed = await backend.store.claim_webhook_calls(time.time(), lease=30, limit=10)
    assert [call.event for call, _ in claimed] == ["device.deactivated"]  # one still pending
    body = json.loads(claimed[0][0].body)
    assert body["cursor"] == entry.id and body["reason"] == "Unregistered"
    assert await backend.store.claim_webhook_calls(time.time(), lease=30, limit=10) == []  # leased

    await backend.outbox.record_results([], [(1, "apns-id", second)])
    later = await backend.store.claim_webhook_calls(time.time(), lease=30, limit=10)
    ((call, hook),) = later
    assert call.event == "notification.finished" and hook.app_id == app_id
    assert json.loads(call.body)["counts"] == {"delivered": 1, "unregistered": 1}

    await backend.store.finish_webhook_call(
        call.id, state="delivered", attempts=1, next_attempt_at=0, status=200, error=None, at=1.0
    )
    log = await backend.store.list_webhook_calls(app_id, hook.id, before=None, limit=10)
    assert [(c.event, c.state) for c in log] == [
        ("notification.finished", "delivered"),
        ("device.deactivated", "pending"),
    ]
    assert log[0].delivered_at == 1.0 and log[0].last_status == 200

    assert await backend.store.purge_feedback(time.time() + 1) == 2  # the feedback, the sent call
    assert await backend.store.list_feedback(app_id, after=0, limit=10) == []
    left = await backend.store.list_webhook_calls(app_id, hook.id, before=None, limit=10)
    assert [c.state for c in left] == ["pending"]  # a call not yet taken is never purged
