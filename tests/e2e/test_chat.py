"""The chat push engine end to end: rules, content modes, ID-only fetch, templates, badges."""

from __future__ import annotations

import json

import httpx
import pytest
from chat_helpers import all_platforms, android, browser, channel, iphone, ok, post, wait_all
from harness import ADMIN_KEY, RunningGateway

from pushgate.simulator import Simulator

SECRET = "the launch code is 4711"


@pytest.fixture
async def chat(api: httpx.AsyncClient, sim: Simulator) -> tuple[httpx.AsyncClient, str]:
    vapid = await all_platforms(api, sim)
    await ok(
        await api.post(
            "/v1/chat/users",
            json={"users": [{"id": "alice", "name": "Alice"}, {"id": "bob", "name": "Bob"}]},
        )
    )
    return api, vapid


BOTH = pytest.mark.parametrize("store_backend", ["sqlite", "postgresql"])


@BOTH
async def test_rules_decide_and_explain_every_member(chat, sim: Simulator) -> None:
    api, _ = chat
    tokens = {u: await iphone(api, u) for u in ("bob", "carol", "dave", "erin", "fred", "gus")}
    await channel(api, "general", ["alice", "bob", "carol", "dave", "erin", "fred", "gus", "hal"],
                  name="general")  # fmt: skip
    await ok(
        await api.post(
            "/v1/chat/presence", json={"presence": [{"user_id": "carol", "online": True}]}
        )
    )
    await ok(
        await api.post(
            "/v1/chat/mutes", json={"mutes": [{"user_id": "dave", "muted_user_id": "alice"}]}
        )
    )
    await ok(
        await api.post(
            "/v1/chat/users", json={"users": [{"id": "erin", "push": {"level": "none"}}]}
        )
    )
    body = {"members": [{"channel_id": "general", "user_id": "fred", "muted": True},
                        {"channel_id": "general", "user_id": "gus", "push": {"level": "mentions"}}]}  # fmt: skip
    await ok(await api.post("/v1/chat/members", json=body))

    answer = await post(api, id="m1", channel_id="general", sender_id="alice", text="hi all")
    assert answer["recipients"] == ["bob"]
    reasons = {s["user_id"]: s["reason"] for s in answer["skipped"]}
    assert reasons == {
        "alice": "sender",
        "carol": "online",
        "dave": "sender_muted",
        "erin": "preference_none",
        "fred": "channel_muted",
        "gus": "preference_mentions",
        "hal": "no_devices",
    }
    (delivery,) = await wait_all(api, [n["id"] for n in answer["notifications"]])
    assert delivery["status"] == "delivered"
    (received,) = sim.inbox.query(token=tokens["bob"])
    aps = received.payload["aps"]
    assert aps["alert"] == {"title": "Alice in #general", "body": "hi all"}
    assert aps["badge"] == 1 and aps["thread-id"] == "general"
    assert received.payload["message_id"] == "m1"
    for user in ("carol", "dave", "erin", "fred", "gus"):
        assert sim.inbox.query(token=tokens[user]) == []

    explained = await ok(await api.get("/v1/chat/messages/m1/recipients"))
    members = {m["user_id"]: m for m in explained["members"]}
    assert members["bob"]["reason"] == "notified"
    assert members["bob"]["notifications"][0]["counts"] == {"delivered": 1}
    assert members["dave"]["reason"] == "sender_muted" and members["dave"]["notifications"] == []

    # "Why didn't Gus get a push?" — the push log shows Bob's delivery and nothing for Gus.
    log = await ok(await api.get("/v1/notifications", params={"user_id": "bob"}))
    assert [n["id"] for n in log["notifications"]] == [answer["notifications"][0]["id"]]
    assert (await ok(await api.get("/v1/notifications", params={"user_id": "gus"})))[
        "notifications"
    ] == []

    # A thread reply reaches only the thread's participants and those mentioned in it.
    reply = await post(api, id="m2", channel_id="general", sender_id="bob", text="re",
                       parent_id="m1", mentioned_user_ids=["gus"])  # fmt: skip
    assert reply["recipients"] == ["gus"]  # alice started the thread but has no device
    reasons = {s["user_id"]: s["reason"] for s in reply["skipped"]}
    assert reasons["alice"] == "no_devices" and reasons["dave"] == "not_thread_participant"

    again = await api.post(
        "/v1/chat/messages", json={"id": "m1", "channel_id": "general", "sender_id": "alice"}
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    skipped = await post(
        api, id="m3", channel_id="general", sender_id="alice", text="x", skip_push=True
    )
    assert skipped["notifications"] == [] and {s["reason"] for s in skipped["skipped"]} == {
        "sender",
        "skip_push",
    }


async def test_inline_members_need_no_mirrored_channel(chat, sim: Simulator) -> None:
    api, _ = chat
    token = await iphone(api, "bob")
    answer = await post(api, id="x1", channel_id="dm-1", sender_id="alice", text="psst",
                        members=["alice", "bob"])  # fmt: skip
    assert answer["recipients"] == ["bob"]
    await wait_all(api, [n["id"] for n in answer["notifications"]])
    assert sim.inbox.query(token=token)[0].payload["aps"]["alert"]["body"] == "psst"
    missing = await api.post(
        "/v1/chat/messages", json={"id": "x2", "channel_id": "nope", "sender_id": "alice"}
    )
    assert (
        missing.status_code == 404
        and "POST /v1/chat/channels" in missing.json()["error"]["message"]
    )


@BOTH
async def test_a_repeated_post_with_the_same_idempotency_key_sends_nothing_twice(
    chat, sim: Simulator
) -> None:
    api, _ = chat
    token = await iphone(api, "bob")
    await channel(api, "room", ["alice", "bob"])
    body = {"id": "k1", "channel_id": "room", "sender_id": "alice", "text": "once"}
    once = {"idempotency-key": "chat-1"}
    first = await ok(await api.post("/v1/chat/messages", json=body, headers=once), 202)
    again = await ok(await api.post("/v1/chat/messages", json=body, headers=once), 202)
    assert again == first and first["recipients"] == ["bob"]
    await wait_all(api, [n["id"] for n in first["notifications"]])
    assert len(sim.inbox.query(token=token)) == 1
    log = await ok(await api.get("/v1/notifications", params={"user_id": "bob"}))
    assert [n["id"] for n in log["notifications"]] == [first["notifications"][0]["id"]]
    explained = await ok(await api.get("/v1/chat/messages/k1/recipients"))
    assert explained["members"][0]["notifications"][0]["id"] == first["notifications"][0]["id"]

    other = await api.post("/v1/chat/messages", json={**body, "text": "twice"}, headers=once)
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"
    elsewhere = await api.post(
        "/v1/notifications", json={"tokens": [token], "alert": {"body": "x"}}, headers=once
    )
    assert elsewhere.status_code == 422, elsewhere.text  # the key names this post, not a send
    unkeyed = await api.post("/v1/chat/messages", json=body)
    assert unkeyed.status_code == 409 and unkeyed.json()["error"]["code"] == "conflict"

    # A post that notifies nobody keeps its key too: its repeat is answered, not 409.
    quiet = {"id": "k2", "channel_id": "room", "sender_id": "alice", "skip_push": True}
    keyed = {"idempotency-key": "chat-2"}
    first = await ok(await api.post("/v1/chat/messages", json=quiet, headers=keyed), 202)
    again = await ok(await api.post("/v1/chat/messages", json=quiet, headers=keyed), 202)
    assert again == first and first["notifications"] == []
    assert len(sim.inbox.query(token=token)) == 1


def text_of_everything(sim: Simulator, apns_token: str, fcm_token: str, endpoint: str) -> str:
    """All the simulator received for these devices, as text."""
    parts = [json.dumps(r.payload) for r in sim.inbox.query(token=apns_token)]
    parts += [json.dumps(r.message) for r in sim.fcm_inbox.query(token=fcm_token)]
    parts += [r.plaintext.decode() for r in sim.webpush_inbox.query(endpoint=endpoint)]
    return "\n".join(parts)


@pytest.mark.parametrize(
    ("mode", "store_backend"),
    [
        ("full", "sqlite"),
        ("generic", "sqlite"),
        ("generic_no_channel", "sqlite"),
        ("id_only", "sqlite"),
        ("id_only", "postgresql"),
    ],
)
async def test_content_modes_on_three_platforms(chat, sim: Simulator, mode: str) -> None:
    api, vapid = chat
    settings = await ok(await api.get("/v1/chat/settings"))
    await ok(await api.put("/v1/chat/settings", json={**settings, "content_mode": mode}))
    apns_token, fcm_token = await iphone(api, "bob"), await android(api, sim, "bob")
    endpoint = await browser(api, sim, vapid, "bob")
    await channel(api, "ops", ["alice", "bob"], name="ops-room")
    answer = await post(api, id="c1", channel_id="ops", sender_id="alice", text=SECRET)
    assert {n["platform"] for n in answer["notifications"]} == {"apns", "fcm", "webpush"}
    results = await wait_all(api, [n["id"] for n in answer["notifications"]])
    assert [r["status"] for r in results] == ["delivered"] * 3, [
        (r["platform"], r["reason"], r["status_code"]) for r in results
    ]
    seen = text_of_everything(sim, apns_token, fcm_token, endpoint)
    aps = sim.inbox.query(token=apns_token)[0].payload["aps"]
    fcm_message = sim.fcm_inbox.query(token=fcm_token)[0].message
    web = json.loads(sim.webpush_inbox.query(endpoint=endpoint)[0].plaintext)
    if mode == "full":
        assert aps["alert"]["body"] == SECRET and fcm_message["notification"]["body"] == SECRET
        assert web["body"] == SECRET
        return
    assert SECRET not in seen
    if mode == "generic":
        assert aps["alert"] == {"title": "Alice", "body": "New message in #ops-room"}
        assert fcm_message["notification"]["title"] == "Alice"
    elif mode == "generic_no_channel":
        assert "ops-room" not in seen and aps["alert"] == {"title": "Alice", "body": "New message"}
    else:
        assert "Alice" not in seen and "ops-room" not in seen
        assert aps["mutable-content"] == 1 and aps["alert"] == {"body": "You have a new message"}
        assert "notification" not in fcm_message  # a data message
        assert fcm_message["data"]["message_id"] == "c1"
        assert "title" not in web and "body" not in web
        # The device fetches the content with its push's token alone (no API key).
        async with httpx.AsyncClient(base_url=str(api.base_url)) as device:
            token = fcm_message["data"]["ack_token"]
            fetched = await ok(await device.post("/v1/chat/fetch", json={"token": token}))
            assert fetched["content"]["alert"] == {"title": "Alice in #ops-room", "body": SECRET}
            assert fetched["content"]["badge"] == 1
            refetched = await ok(await device.post("/v1/chat/fetch", json={"token": token}))
            assert refetched["acknowledged_at"] == fetched["acknowledged_at"]
            unknown = await device.post("/v1/chat/fetch", json={"token": "not-a-token"})
            assert unknown.status_code == 404
        explained = await ok(await api.get("/v1/chat/messages/c1/recipients"))
        (bob,) = [m for m in explained["members"] if m["user_id"] == "bob"]
        acked = [n for n in bob["notifications"] if n["acknowledged_at"] is not None]
        assert [n["id"] for n in acked] == [fetched["notification_id"]]
        status = await ok(await api.get(f"/v1/notifications/{fetched['notification_id']}"))
        assert status["acknowledged_at"] == fetched["acknowledged_at"]
        others = [n["id"] for n in bob["notifications"] if n["acknowledged_at"] is None]
        assert (await ok(await api.get(f"/v1/notifications/{others[0]}")))[
            "acknowledged_at"
        ] is None
        metrics = (await api.get("/metrics")).text
        assert "pushgate_chat_fetch_acknowledged_total" in metrics


async def test_channel_overrides_the_apps_content_mode(chat, sim: Simulator) -> None:
    api, _ = chat
    token = await iphone(api, "bob")
    await channel(api, "secret", ["alice", "bob"], name="secret", content_mode="id_only")
    answer = await post(api, id="s1", channel_id="secret", sender_id="alice", text=SECRET)
    await wait_all(api, [n["id"] for n in answer["notifications"]])
    (received,) = sim.inbox.query(token=token)
    assert SECRET not in json.dumps(received.payload) and received.payload["id_only"] is True


async def test_templates_are_checked_when_saved_and_used_when_sent(chat, sim: Simulator) -> None:
    api, _ = chat
    bad = '{\n  "alert": {"body": {{ mesage.text | tojson }}}\n}'
    refused = await api.put("/v1/chat/templates/apns", json={"template": bad})
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "invalid_template" and error["line"] == 2 and error["stage"] == "render"
    assert "'mesage' is undefined" in error["message"]
    not_json = await api.put(
        "/v1/chat/templates/fcm", json={"template": '{"alert": {"body": {{ message.text }}}}'}
    )
    assert not_json.status_code == 422 and not_json.json()["error"]["stage"] == "produce JSON"
    too_big = await api.put(
        "/v1/chat/templates/webpush", json={"template": '{"alert": {"body": "{{ "x" * 5000 }}"}}'}
    )
    assert too_big.status_code == 422 and "Web Push payload" in too_big.json()["error"]["message"]
    assert (await ok(await api.get("/v1/chat/templates")))["templates"] == []

    good = '{"alert": {"title": {{ ("#" ~ channel.name) | tojson }}, "body": {{ (sender.name ~ ": " ~ message.text | truncate(10)) | tojson }}}, "badge": {{ unread_count }}}'
    saved = await ok(await api.put("/v1/chat/templates/apns", json={"template": good}))
    assert saved["sample"]["alert"]["title"] == "#general"
    token = await iphone(api, "bob")
    await channel(api, "dev", ["alice", "bob"], name="dev")
    answer = await post(
        api, id="t1", channel_id="dev", sender_id="alice", text="a rather long message"
    )
    await wait_all(api, [n["id"] for n in answer["notifications"]])
    (received,) = sim.inbox.query(token=token)
    assert received.payload["aps"]["alert"] == {"title": "#dev", "body": "Alice: a rather …"}


async def test_a_long_text_is_cut_to_the_platform_limit(chat, sim: Simulator) -> None:
    api, _ = chat
    token = await iphone(api, "bob")
    await channel(api, "long", ["alice", "bob"], name="long")
    text = "é" * 5000
    answer = await post(api, id="l1", channel_id="long", sender_id="alice", text=text)
    await wait_all(api, [n["id"] for n in answer["notifications"]])
    (received,) = sim.inbox.query(token=token)
    body = received.payload["aps"]["alert"]["body"]
    assert body.endswith("…") and text.startswith(body[:-1]) and len(body) > 1000
    assert (
        len(json.dumps(received.payload, ensure_ascii=False, separators=(",", ":")).encode())
        <= 4096
    )


@BOTH
async def test_marking_read_updates_the_badge_on_the_other_devices(chat, sim: Simulator) -> None:
    api, _ = chat
    phone, tablet = await iphone(api, "bob"), await iphone(api, "bob")
    await channel(api, "a", ["alice", "bob"], name="a")
    await channel(api, "b", ["alice", "bob"], name="b")
    for i, ch in enumerate(["a", "a", "b"]):
        sent = await post(api, id=f"u{i}", channel_id=ch, sender_id="alice", text="x")
        await wait_all(api, [n["id"] for n in sent["notifications"]])
    assert [r.payload["aps"]["badge"] for r in sim.inbox.query(token=phone)] == [1, 2, 3]
    read = await ok(
        await api.post("/v1/chat/channels/a/read", json={"user_id": "bob", "device_token": phone})
    )
    assert read["unread_count"] == 1
    await wait_all(api, read["notifications"])
    assert len(sim.inbox.query(token=phone)) == 3  # the device that read gets nothing
    update = sim.inbox.query(token=tablet)[-1]
    assert update.payload["aps"] == {"badge": 1}  # silent: no alert, no sound
    assert update.payload["type"] == "clear" and update.payload["channel_id"] == "a"
    assert update.priority == 5
    missing = await api.post("/v1/chat/channels/a/read", json={"user_id": "zed"})
    assert missing.status_code == 404


@BOTH
async def test_anonymous_users_are_refused(chat) -> None:
    api, _ = chat
    refused = await api.post("/v1/chat/users", json={"users": [{"id": "!anon-42"}]})
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "anonymous_user"
    device = {
        "user_id": "!anon-42",
        "platform": "apns",
        "token": "ab" * 32,
        "environment": "sandbox",
    }
    refused = await api.post("/v1/devices", json=device)
    assert refused.status_code == 422 and "anonymous" in refused.json()["error"]["message"]
    settings = await ok(await api.get("/v1/chat/settings"))
    await ok(
        await api.put("/v1/chat/settings", json={**settings, "anonymous_user_pattern": "^guest-"})
    )
    await ok(await api.post("/v1/devices", json=device), 201)
    bad = await api.put("/v1/chat/settings", json={**settings, "anonymous_user_pattern": "("})
    assert bad.status_code == 422


async def test_a_receiver_whose_push_fails_to_render_is_reported_and_the_others_get_theirs(
    chat, sim: Simulator
) -> None:
    api, _ = chat
    # Passes the save-time check (the sample has no attachments), fails on a real message.
    source = '{"alert": {"body": {% if message.attachments %}{{ nope }}{% else %}"x"{% endif %}}}'
    await ok(await api.put("/v1/chat/templates/apns", json={"template": source}))
    await iphone(api, "bob")
    fcm_token = await android(api, sim, "carol")
    await channel(api, "files", ["alice", "bob", "carol"], name="files")
    answer = await post(api, id="f1", channel_id="files", sender_id="alice", text="see file",
                        attachments=2)  # fmt: skip
    assert answer["recipients"] == ["carol"]
    (failed,) = [s for s in answer["skipped"] if s["user_id"] == "bob"]
    assert failed["reason"] == "render_failed" and "'nope' is undefined" in failed["detail"]
    await wait_all(api, [n["id"] for n in answer["notifications"]])
    assert sim.fcm_inbox.query(token=fcm_token)[0].message["notification"]["body"] == "see file"


async def test_the_post_served_ahead_of_fastapi_refuses_as_the_api_does(
    api: httpx.AsyncClient, gw: RunningGateway
) -> None:
    """``POST /v1/chat/messages`` is served by HotRoutes; its refusals are the API's own."""
    await channel(api, "general", ["alice", "bob"])
    good = {"id": "m1", "channel_id": "general", "sender_id": "alice", "text": "hi"}

    async def refused(status: int, code: str, **kwargs: object) -> dict[str, object]:
        response = await api.post("/v1/chat/messages", **kwargs)  # type: ignore[arg-type]
        assert response.status_code == status, response.text
        error: dict[str, object] = response.json()["error"]
        assert error["code"] == code
        return error

    async with gw.client(None) as anonymous:
        response = await anonymous.post("/v1/chat/messages", json=good)
        assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"
    async with gw.client(ADMIN_KEY) as admin:
        response = await admin.post("/v1/chat/messages", json=good)
        assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
    missing = await refused(422, "validation_error", json={"id": "m1", "sender_id": "alice"})
    assert missing["details"] == [{"field": "channel_id", "message": "Field required"}]
    extra = await refused(422, "validation_error", json={**good, "colour": "red"})
    assert extra["details"] == [{"field": "colour", "message": "is not a known field; remove it"}]
    both = await refused(
        422, "validation_error", json={**good, "text": 5}, headers={"Idempotency-Key": "a b"}
    )
    assert [d["field"] for d in both["details"]] == ["header.idempotency-key", "text"]  # type: ignore[index, union-attr]
    await refused(
        422, "malformed_json", content=b'{"id": ', headers={"content-type": "application/json"}
    )
    plain = await refused(
        422, "validation_error", content=b"{}", headers={"content-type": "text/plain"}
    )
    assert plain["details"] == [
        {
            "field": "body",
            "message": "Input should be a valid dictionary or object to extract fields from",
        }
    ]
    empty = await refused(422, "validation_error", content=b"")
    assert empty["details"] == [{"field": "body", "message": "Field required"}]
    wrong = await api.get("/v1/chat/messages")
    assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"
    posted = await api.post("/v1/chat/messages", json=good)
    assert posted.status_code == 202 and posted.json()["message_id"] == "m1"
    other = await api.get("/v1/devices")  # the key's rate-limit headers, as on any endpoint
    assert {h for h in posted.headers if h.startswith("x-ratelimit")} == {
        h for h in other.headers if h.startswith("x-ratelimit")
    }
    await refused(409, "conflict", json=good)
