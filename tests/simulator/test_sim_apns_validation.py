"""APNs request checks: each reason the simulator sends."""

from __future__ import annotations

import json
import uuid

import pytest
from sim_h2_client import H2TestClient, client_context
from sim_support import TOKEN, TOPIC, Connect, FakeClock, SigningKey, push

from pushgate.simulator import ApnsRules, Simulator, SimulatorSettings
from pushgate.simulator.apns_state import Rejection

BACKGROUND = b'{"aps":{"content-available":1}}'

CASES = [
    # (case id, push() keyword arguments, status, reason)
    ("apns-id not a UUID", {"apns_id": "123"}, 400, "BadMessageId"),
    ("GET", {"method": "GET"}, 405, "MethodNotAllowed"),
    ("no topic", {"topic": None}, 400, "MissingTopic"),
    ("malformed topic", {"topic": "com example"}, 400, "BadTopic"),
    ("collapse id of 65 bytes", {"apns_collapse_id": "c" * 65}, 400, "BadCollapseId"),
    ("priority 7", {"apns_priority": "7"}, 400, "BadPriority"),
    ("expiration not a number", {"apns_expiration": "soon"}, 400, "BadExpirationDate"),
    ("unknown push type", {"apns_push_type": "banner"}, 400, "InvalidPushType"),
    ("no token in path", {"path": "/3/device/"}, 400, "MissingDeviceToken"),
    ("token too short", {"device": "ab" * 31}, 400, "BadDeviceToken"),
    ("token of odd length", {"device": "a" * 65}, 400, "BadDeviceToken"),
    ("token not hex", {"device": "g" * 64}, 400, "BadDeviceToken"),
    ("other path", {"path": "/3/devices/abc"}, 404, "BadPath"),
    ("empty body", {"body": b""}, 400, "PayloadEmpty"),
    ("4097 bytes", {"body": b'{"a":"' + b"x" * 4089 + b'"}'}, 413, "PayloadTooLarge"),
    ("body not JSON", {"body": b"{nope"}, 400, "PayloadEmpty"),
    ("body a JSON array", {"body": b"[1]"}, 400, "PayloadEmpty"),
    ("aps not a dictionary", {"body": b'{"aps":"hi"}'}, 400, "PayloadEmpty"),
    ("voip without .voip", {"apns_push_type": "voip"}, 400, "TopicDisallowed"),
    (
        "alert to a .voip topic",
        {"apns_push_type": "alert", "topic": f"{TOPIC}.voip"},
        400,
        "TopicDisallowed",
    ),
    (
        "background at priority 10",
        {"apns_push_type": "background", "body": BACKGROUND},
        400,
        "BadPriority",
    ),
]


@pytest.mark.parametrize(("kwargs", "status", "reason"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
async def test_rejections(
    key: SigningKey,
    connect: Connect,
    clock: FakeClock,
    kwargs: dict[str, object],
    status: int,
    reason: str,
) -> None:
    client = await connect("sandbox")

    answer = await push(client, key.token(clock()), **kwargs)  # type: ignore[arg-type]

    assert (answer.status, answer.json()) == (status, {"reason": reason})
    assert answer.headers["content-type"] == "application/json"
    uuid.UUID(answer.headers["apns-id"])


async def test_rejections_are_counted_by_reason(
    sim: Simulator, key: SigningKey, connect: Connect, clock: FakeClock
) -> None:
    client = await connect("sandbox")
    await push(client, key.token(clock()), apns_priority="7")
    await push(client, key.token(clock()), apns_priority="7")

    stats = sim.inbox.stats()

    assert stats["rejections"] == {"BadPriority": 2}
    assert (stats["requests"], stats["accepted"], stats["rejected"]) == (2, 0, 2)


async def test_checks_run_in_apns_order(key: SigningKey, connect: Connect) -> None:
    client = await connect("sandbox")

    # bad apns-id wins over GET, missing topic, bad token and missing auth
    first = await push(client, None, apns_id="x", method="GET", topic=None, device="zz")
    # then the method, then the topic ...
    second = await push(client, None, method="GET", topic=None, device="zz")
    third = await push(client, None, topic=None, device="zz")
    # ... the path before authentication
    fourth = await push(client, None, device="zz")

    reasons = [a.reason for a in (first, second, third, fourth)]
    assert reasons == ["BadMessageId", "MethodNotAllowed", "MissingTopic", "BadDeviceToken"]


async def test_duplicate_headers(key: SigningKey, connect: Connect, clock: FakeClock) -> None:
    client = await connect("sandbox")
    headers = [
        ("authorization", f"bearer {key.token(clock())}"),
        ("apns-topic", TOPIC),
        ("apns-priority", "10"),
        ("apns-priority", "5"),
    ]

    answer = await client.request(f"/3/device/{TOKEN}", headers, b"{}")

    assert (answer.status, answer.reason) == (400, "DuplicateHeaders")


async def test_dead_token_is_410_with_timestamp_in_ms(
    sim: Simulator, key: SigningKey, connect: Connect, clock: FakeClock
) -> None:
    sim.mark_dead(TOKEN.upper(), 1_700_000_000_123)
    client = await connect("sandbox")

    answer = await push(client, key.token(clock()))

    assert answer.status == 410
    assert answer.json() == {"reason": "Unregistered", "timestamp": 1_700_000_000_123}


async def test_dead_token_default_timestamp_is_now(
    sim: Simulator, key: SigningKey, connect: Connect, clock: FakeClock
) -> None:
    stamp = sim.mark_dead(TOKEN)
    client = await connect("production")

    answer = await push(client, key.token(clock()))

    assert stamp == int(clock() * 1000)
    assert answer.json()["timestamp"] == stamp


async def test_registered_devices_bind_topic_and_environment(
    sim: Simulator, key: SigningKey, connect: Connect, clock: FakeClock
) -> None:
    sim.register_device(TOKEN, TOPIC, "sandbox")
    sandbox, production = await connect("sandbox"), await connect("production")
    token = key.token(clock())

    ok = await push(sandbox, token)
    wrong_topic = await push(sandbox, token, topic="com.example.other")
    wrong_env = await push(production, token)

    assert ok.status == 200
    assert wrong_topic.reason == "DeviceTokenNotForTopic"
    assert (wrong_env.status, wrong_env.reason) == (400, "BadDeviceToken")


async def test_long_upper_case_tokens_are_accepted(
    sim: Simulator, key: SigningKey, connect: Connect, clock: FakeClock
) -> None:
    client = await connect("sandbox")
    device = "AB" * 50

    answer = await push(client, key.token(clock()), device=device)

    assert answer.status == 200
    assert sim.inbox.query(token=device)[0].token == device.lower()


@pytest.mark.parametrize(
    ("push_type", "topic", "priority", "body"),
    [
        ("voip", f"{TOPIC}.voip", "10", b'{"a":"' + b"x" * 5110 + b'"}'),  # 5120 bytes
        ("background", TOPIC, "5", BACKGROUND),
        ("location", f"{TOPIC}.location-query", "10", b"{}"),
        ("complication", f"{TOPIC}.complication", "10", b"{}"),
        ("fileprovider", f"{TOPIC}.pushkit.fileprovider", "10", b"{}"),
        ("liveactivity", f"{TOPIC}.push-type.liveactivity", "5", b"{}"),
        ("pushtotalk", f"{TOPIC}.voip-ptt", "10", b"{}"),
        ("widgets", f"{TOPIC}.push-type.widgets", "10", b"{}"),
        ("controls", f"{TOPIC}.push-type.controls", "10", b"{}"),
        ("mdm", "com.apple.mgmt.External.1234", "10", b'{"mdm":"x"}'),
    ],
)
async def test_every_push_type_with_its_topic(
    key: SigningKey,
    connect: Connect,
    clock: FakeClock,
    push_type: str,
    topic: str,
    priority: str,
    body: bytes,
) -> None:
    client = await connect("sandbox")

    answer = await push(
        client, key.token(clock()), topic=topic, body=body,
        apns_push_type=push_type, apns_priority=priority,
    )  # fmt: skip

    assert answer.status == 200, answer.body


async def test_voip_limit_applies_to_a_voip_topic_without_push_type(
    key: SigningKey, connect: Connect, clock: FakeClock
) -> None:
    client = await connect("sandbox")
    body = json.dumps({"a": "x" * 5100}).encode()

    answer = await push(client, key.token(clock()), topic=f"{TOPIC}.voip", body=body)

    assert answer.status == 200


async def test_undocumented_rules_are_configurable(clock: FakeClock) -> None:
    rules = ApnsRules(
        invalid_payload_reason="BadTopic",
        topic_disallowed_reason="DeviceTokenNotForTopic",
        background_priority_10_reason=None,
        background_payload_reason="InvalidPushType",
    )
    async with Simulator(SimulatorSettings(clock=clock, apns=rules)) as sim:
        signing = SigningKey.generate()
        sim.register_key(signing.key_id, signing.team_id, signing.public_pem, bundle_ids=[TOPIC])
        client = await H2TestClient.connect(sim.apns_sandbox_port, client_context(sim.ca_file))
        token = signing.token(clock())
        not_json = await push(client, token, body=b"nope")
        voip = await push(client, token, apns_push_type="voip")
        background = await push(client, token, apns_push_type="background", body=BACKGROUND)
        with_alert = await push(client, token, apns_push_type="background")
        await client.close()

    assert not_json.reason == "BadTopic"
    assert voip.reason == "DeviceTokenNotForTopic"
    assert background.status == 200
    assert with_alert.reason == "InvalidPushType"


def test_every_reason_is_one_apple_documents() -> None:
    assert ApnsRules().background_payload_reason is None  # Apple documents no such error
    with pytest.raises(ValueError, match="not a reason Apple documents"):
        ApnsRules(invalid_payload_reason="BadPayload")
    with pytest.raises(ValueError, match="status 410, not 400"):
        ApnsRules(topic_disallowed_reason="Unregistered")
    with pytest.raises(ValueError, match="not a reason Apple documents"):
        Rejection(400, "BadPayload")
