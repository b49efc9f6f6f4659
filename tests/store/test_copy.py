"""``pushgate store migrate``: an SQLite installation moved to PostgreSQL reads the same."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from typer.testing import CliRunner

from backends import store_settings
from pushgate.cli import app as cli
from pushgate.config import Settings
from pushgate.engine.chat.preferences import PushPreference
from pushgate.store import DeliveryResult, NewDelivery, NewNotification
from pushgate.store.backends import Backend, backend_for
from pushgate.store.chat import (
    Channel,
    ChatMessage,
    ChatSettings,
    FetchToken,
    Member,
    Posted,
    UserMute,
)


async def _fill(sqlite: Backend) -> str:
    app = await sqlite.store.create_app("chat", "hash-chat", "pgapp_x")
    assert app is not None
    await sqlite.store.set_meta_if_absent("admin_api_key_hash", "admin-hash")
    await sqlite.store.put_credential(app.id, "fcm", "default", {"project_id": "p"}, b"\x00s")
    devices = []
    for i in range(3):
        device, _ = await sqlite.store.register_device(
            app_id=app.id, user_id=f"u{i}", platform="apns", token=f"{i:064x}",
            apns_environment="sandbox", fcm_credential=None, extra=None, max_per_user=25,
        )  # fmt: skip
        devices.append(device)
    await sqlite.outbox.accept(
        [
            NewNotification(
                id="ntf_1",
                app_id=app.id,
                message_json='{"alert": {"body": "hi"}}',
                deadline=time.time() + 600,
                deliveries=[
                    NewDelivery(
                        device_id=d.id,
                        user_id=d.user_id,
                        platform="apns",
                        token=d.token,
                        apns_environment="sandbox",
                    )
                    for d in devices
                ],
                key="door-key",
                key_expires_at=time.time() + 600,
            )
        ]
    )
    await sqlite.outbox.acknowledge(app.id, "ntf_1", 1767225600.5)
    first, *_ = await sqlite.outbox.claim(0, 10)
    await sqlite.outbox.record_results(
        [DeliveryResult(delivery_id=first.id, state="unregistered", attempts=1,
                        reason="Unregistered", unregistered_at=time.time(),
                        deactivate_device_id=first.device_id)]
    )  # fmt: skip
    await _fill_chat(sqlite, app.id)
    return app.id


async def _fill_chat(sqlite: Backend, app_id: str) -> None:
    chat = sqlite.chat
    await chat.put_settings(app_id, ChatSettings(content_mode="id_only"))
    await chat.upsert_channels(app_id, [Channel(id="general", push=PushPreference("mentions"))])
    await chat.upsert_members(app_id, [
        Member(channel_id="general", user_id=u, muted=u == "bob") for u in ("zoe", "bob", "al")
    ])  # fmt: skip
    await chat.upsert_user_mutes(app_id, [UserMute(user_id="zoe", muted_user_id="al")])
    now = time.time()
    posted = ChatMessage(id="m1", channel_id="general", sender_id="al", text="hi",
                         mentioned=["zoe"], skip_push=True, created_at=now,
                         content_expires_at=now + 600)  # fmt: skip
    await chat.record(app_id, Posted(message=posted, tokens=[
        FetchToken(token_hash="h", message_id="m1", user_id="zoe", notification_id="ntf_1",
                   content="{}", expires_at=now + 600),
    ]))  # fmt: skip


async def test_a_store_moved_to_postgresql_reads_the_same(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    sqlite = backend_for(settings)
    await sqlite.open()
    try:
        app_id = await _fill(sqlite)
        before = await sqlite.outbox.notification_report(app_id, "ntf_1")
        devices_before = await sqlite.store.list_devices(app_id)
    finally:
        await sqlite.close()
    async with store_settings("postgresql", tmp_path) as store:
        result = await asyncio.to_thread(  # the command runs its own event loop
            CliRunner().invoke,
            cli,
            ["store", "migrate", "--to", store["url"], "--schema", store["schema_name"],
             "--data-dir", str(tmp_path)],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert "deliveries: 3 rows" in result.output
        pg = backend_for(Settings(data_dir=tmp_path, store=store))
        await pg.open()
        try:
            assert await pg.outbox.notification_report(app_id, "ntf_1") == before
            assert before is not None and before["acknowledged_at"] == 1767225600.5
            assert await pg.outbox.notification_for_key(app_id, "door-key") == "ntf_1"
            assert [(d.id, d.token, d.active) for d in await pg.store.list_devices(app_id)] == [
                (d.id, d.token, d.active) for d in devices_before
            ]
            assert await pg.store.get_meta("admin_api_key_hash") == "admin-hash"
            (credential,) = await pg.store.list_credentials(app_id)
            assert credential.secret == b"\x00s" and credential.summary == {"project_id": "p"}
            assert len(await pg.outbox.claim(0, 10)) == 2  # the pending ones, claimable
            newer, _ = await pg.store.register_device(
                app_id=app_id, user_id="later", platform="apns", token="f" * 64,
                apns_environment="sandbox", fcm_credential=None, extra=None, max_per_user=25,
            )  # fmt: skip
            assert newer.id == max(d.id for d in devices_before) + 1
            assert (await pg.chat.settings(app_id)).content_mode == "id_only"
            message = await pg.chat.message(app_id, "m1")
            assert message is not None and message.mentioned == ["zoe"] and message.skip_push
            await pg.chat.upsert_members(app_id, [Member(channel_id="general", user_id="new")])
            context = await pg.chat.message_context(app_id, message, None, time.time())
            assert context.members == ["zoe", "bob", "al", "new"]  # join order, seq continued
            assert context.channel_mutes == {"bob": None} and context.sender_muted_by == {
                "zoe": None
            }
            assert context.channel is not None and context.channel.push.level == "mentions"
            assert await pg.chat.unread_counts(app_id, ["zoe", "al"]) == {"zoe": 1, "al": 0}
            fetched = await pg.chat.fetch("h", time.time())
            assert fetched is not None and fetched.content == "{}"
        finally:
            await pg.close()
        again = await asyncio.to_thread(
            CliRunner().invoke,
            cli,
            ["store", "migrate", "--to", store["url"], "--schema", store["schema_name"],
             "--data-dir", str(tmp_path)],
        )  # fmt: skip
        assert again.exit_code == 2 and "already has apps" in again.output
