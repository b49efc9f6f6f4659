"""APNs token authentication and the stream limit tied to it."""

from __future__ import annotations

import asyncio
import uuid

import jwt
import pytest
from h2.settings import SettingCodes
from sim_h2_client import Answer, H2TestClient, client_context
from sim_support import TEAM, TOKEN, TOPIC, Connect, FakeClock, SigningKey, push

from pushgate.simulator import ApnsRules, Simulator, SimulatorSettings


async def test_valid_token_is_accepted_and_lands_in_the_inbox(
    sim: Simulator, key: SigningKey, connect: Connect, clock: FakeClock
) -> None:
    client = await connect("sandbox")
    apns_id = str(uuid.uuid4())

    answer = await push(
        client, key.token(clock()), apns_id=apns_id, apns_push_type="alert",
        apns_priority="5", apns_expiration="0", apns_collapse_id="chat-1",
    )  # fmt: skip

    assert answer.status == 200
    assert answer.body == b""
    assert answer.headers["apns-id"] == apns_id
    uuid.UUID(answer.headers["apns-unique-id"])
    [item] = sim.inbox.query(token=TOKEN)
    assert (item.environment, item.topic, item.push_type, item.priority) == (
        "sandbox", TOPIC, "alert", 5,
    )  # fmt: skip
    assert (item.expiration, item.apns_id, item.collapse_id) == (0, apns_id, "chat-1")
    assert item.auth.kind == "token"
    assert (item.auth.key_id, item.auth.team_id) == (key.key_id, TEAM)
    assert item.payload == {"aps": {"alert": "hi"}}


async def test_production_generates_apns_id_and_no_unique_id(
    key: SigningKey, connect: Connect, clock: FakeClock
) -> None:
    client = await connect("production")

    answer = await push(client, key.token(clock()))

    assert answer.status == 200
    uuid.UUID(answer.headers["apns-id"])
    assert "apns-unique-id" not in answer.headers


async def test_one_stream_until_a_valid_token_then_the_configured_limit(
    key: SigningKey, connect: Connect, clock: FakeClock
) -> None:
    client = await connect("sandbox")
    assert client.max_streams == 1

    rejected = await push(client, "not-a-jwt")
    assert rejected.reason == "InvalidProviderToken"
    assert client.max_streams == 1

    assert (await push(client, key.token(clock()))).status == 200
    await client.wait_for(lambda: client.max_streams == 1000)


def _pushes(client: H2TestClient, token: str, count: int) -> list[asyncio.Future[Answer]]:
    headers = [("authorization", f"bearer {token}"), ("apns-topic", TOPIC)]
    return [
        client.start_request(f"/3/device/{TOKEN}", headers, b'{"aps":{}}') for _ in range(count)
    ]


async def test_streams_opened_before_the_settings_were_seen_are_answered(
    sim: Simulator, key: SigningKey, connect: Connect, clock: FakeClock
) -> None:
    client = await connect("sandbox", read=False)  # sends before seeing the server's SETTINGS
    early = _pushes(client, key.token(clock()), 3)
    client.start_reading()

    assert [(await f).status for f in early] == [200, 200, 200]
    assert len(sim.inbox) == 3


async def test_a_stream_over_the_limit_is_refused_not_the_connection(
    key: SigningKey, connect: Connect, clock: FakeClock
) -> None:
    client = await connect("sandbox")  # has seen and acknowledged the SETTINGS: 1 stream
    assert client.max_streams == 1
    client.conn.remote_settings.update({SettingCodes.MAX_CONCURRENT_STREAMS: 10})
    client.conn.remote_settings.acknowledge()  # the client now ignores the limit it was given
    token = key.token(clock())
    first, second = _pushes(client, token, 2)

    assert (await first).status == 200
    assert (await second).reset_code == 7  # REFUSED_STREAM: safe to retry
    assert (await push(client, token)).status == 200  # the connection survived


async def test_the_one_stream_rule_can_be_switched_off(clock: FakeClock) -> None:
    rules = ApnsRules(one_stream_until_token=False, max_concurrent_streams=50)
    async with Simulator(SimulatorSettings(clock=clock, apns=rules)) as sim:
        client = await H2TestClient.connect(sim.apns_sandbox_port, client_context(sim.ca_file))
        assert client.max_streams == 50
        await client.close()


async def test_a_team_key_pushes_only_to_its_teams_bundle_ids(
    sim: Simulator, key: SigningKey, connect: Connect, clock: FakeClock
) -> None:
    client = await connect("sandbox")
    token = key.token(clock())

    assert (await push(client, token, topic=f"{TOPIC}.voip", apns_push_type="voip")).status == 200
    other = await push(client, token, topic="com.someone.else")

    assert (other.status, other.reason) == (400, "TopicDisallowed")
    sim.register_key("SECONDKEY1", key.team_id, SigningKey.generate().public_pem,
                     bundle_ids=["com.someone.else"])  # fmt: skip
    assert (await push(client, token, topic="com.someone.else")).status == 200  # the team's now


def test_a_team_key_needs_bundle_ids(sim: Simulator) -> None:
    with pytest.raises(ValueError, match="no bundle ids"):
        sim.register_key("LONELYKEY1", "NEWTEAM123", SigningKey.generate().public_pem)


async def test_stream_limit_drops_to_one_after_a_rejection_when_configured(
    clock: FakeClock,
) -> None:
    rules = ApnsRules(drop_streams_after_rejection=True, max_concurrent_streams=500)
    async with Simulator(SimulatorSettings(clock=clock, apns=rules)) as sim:
        signing = SigningKey.generate()
        sim.register_key(signing.key_id, signing.team_id, signing.public_pem, bundle_ids=[TOPIC])
        client = await H2TestClient.connect(sim.apns_sandbox_port, client_context(sim.ca_file))
        token = signing.token(clock())
        assert (await push(client, token)).status == 200
        await client.wait_for(lambda: client.max_streams == 500)
        assert (await push(client, token, device="zz")).reason == "BadDeviceToken"
        await client.wait_for(lambda: client.max_streams == 1)
        assert (await push(client, token)).status == 200
        await client.wait_for(lambda: client.max_streams == 500)
        await client.close()


async def test_missing_authorization_without_certificate(connect: Connect) -> None:
    client = await connect("sandbox")

    answer = await push(client, None)

    assert (answer.status, answer.reason) == (403, "MissingProviderToken")
    assert answer.headers["content-type"] == "application/json"
    assert set(answer.json()) == {"reason"}


@pytest.mark.parametrize(
    "authorization",
    ["bearer", "basic abc", "bearer a.b.c", "bearer " + "x" * 40],
)
async def test_malformed_authorization(connect: Connect, authorization: str) -> None:
    client = await connect("sandbox")

    answer = await client.request(
        f"/3/device/{TOKEN}", [("authorization", authorization), ("apns-topic", TOPIC)], b"{}"
    )

    assert (answer.status, answer.reason) == (403, "InvalidProviderToken")


async def test_bad_signature(key: SigningKey, connect: Connect, clock: FakeClock) -> None:
    impostor = SigningKey.generate(key.key_id, key.team_id)  # same kid, other private key
    client = await connect("sandbox")

    answer = await push(client, impostor.token(clock()))

    assert (answer.status, answer.reason) == (403, "InvalidProviderToken")


async def test_unknown_key_id(key: SigningKey, connect: Connect, clock: FakeClock) -> None:
    client = await connect("sandbox")

    answer = await push(client, SigningKey.generate("UNKNOWN123").token(clock()))

    assert (answer.status, answer.reason) == (403, "InvalidProviderToken")


async def test_wrong_issuer(key: SigningKey, connect: Connect, clock: FakeClock) -> None:
    client = await connect("sandbox")
    token = jwt.encode(
        {"iss": "OTHERTEAM1", "iat": int(clock())}, key.private_key, "ES256",
        headers={"kid": key.key_id},
    )  # fmt: skip

    answer = await push(client, token)

    assert (answer.status, answer.reason) == (403, "InvalidProviderToken")


async def test_other_algorithm(key: SigningKey, connect: Connect, clock: FakeClock) -> None:
    client = await connect("sandbox")
    token = jwt.encode(
        {"iss": TEAM, "iat": int(clock())}, "s" * 32, "HS256", headers={"kid": key.key_id}
    )

    answer = await push(client, token)

    assert (answer.status, answer.reason) == (403, "InvalidProviderToken")


async def test_token_older_than_an_hour_is_expired(
    key: SigningKey, connect: Connect, clock: FakeClock
) -> None:
    client = await connect("sandbox")
    token = key.token(clock())
    assert (await push(client, token)).status == 200

    clock.advance(3601)

    answer = await push(client, token)
    assert (answer.status, answer.reason) == (403, "ExpiredProviderToken")


async def test_token_from_the_future_is_invalid(
    key: SigningKey, connect: Connect, clock: FakeClock
) -> None:
    client = await connect("sandbox")

    answer = await push(client, key.token(clock() + 600))

    assert (answer.status, answer.reason) == (403, "InvalidProviderToken")


async def test_second_team_on_one_connection(
    sim: Simulator, key: SigningKey, connect: Connect, clock: FakeClock
) -> None:
    other = SigningKey.generate("OTHERKEY01", "OTHERTEAM1")
    sim.register_key(other.key_id, other.team_id, other.public_pem, bundle_ids=[TOPIC])
    client = await connect("sandbox")
    assert (await push(client, key.token(clock()))).status == 200

    answer = await push(client, other.token(clock()))

    assert (answer.status, answer.reason) == (403, "InvalidProviderToken")
    fresh = await connect("sandbox")
    assert (await push(fresh, other.token(clock()))).status == 200


async def test_key_of_the_other_environment(
    sim: Simulator, connect: Connect, clock: FakeClock
) -> None:
    sandbox_only = SigningKey.generate("SANDBOXKEY")
    sim.register_key(
        sandbox_only.key_id, TEAM, sandbox_only.public_pem, "sandbox", bundle_ids=[TOPIC]
    )
    client = await connect("production")

    answer = await push(client, sandbox_only.token(clock()))

    assert (answer.status, answer.reason) == (403, "BadEnvironmentKeyInToken")


async def test_topic_key_after_team_key_is_unrelated(
    sim: Simulator, key: SigningKey, connect: Connect, clock: FakeClock
) -> None:
    topic_key = SigningKey.generate("TOPICKEY01")
    sim.register_key(topic_key.key_id, TEAM, topic_key.public_pem, topics=[TOPIC])
    client = await connect("sandbox")
    assert (await push(client, key.token(clock()))).status == 200
    clock.advance(1200)

    answer = await push(client, topic_key.token(clock()))

    assert (answer.status, answer.reason) == (403, "UnrelatedKeyIdInToken")


async def test_topic_key_may_only_push_to_its_topics(
    sim: Simulator, connect: Connect, clock: FakeClock
) -> None:
    topic_key = SigningKey.generate("TOPICKEY01")
    sim.register_key(topic_key.key_id, TEAM, topic_key.public_pem, topics=[TOPIC])
    client = await connect("sandbox")
    token = topic_key.token(clock())

    voip = await push(client, token, topic=f"{TOPIC}.voip", apns_push_type="voip")
    other = await push(client, token, topic="com.example.other")

    assert voip.status == 200
    assert (other.status, other.reason) == (400, "TopicDisallowed")


async def test_changing_the_token_twice_within_20_minutes(
    key: SigningKey, connect: Connect, clock: FakeClock
) -> None:
    client = await connect("sandbox")
    assert (await push(client, key.token(clock()))).status == 200
    clock.advance(60)
    assert (await push(client, key.token(clock()))).status == 200  # first change: allowed
    clock.advance(60)

    churn = await push(client, key.token(clock()))
    assert (churn.status, churn.reason) == (429, "TooManyProviderTokenUpdates")

    clock.advance(1200)
    assert (await push(client, key.token(clock()))).status == 200


async def test_token_update_interval_is_configurable(clock: FakeClock) -> None:
    rules = ApnsRules(token_update_interval=5)
    async with Simulator(SimulatorSettings(clock=clock, apns=rules)) as sim:
        signing = SigningKey.generate()
        sim.register_key(signing.key_id, signing.team_id, signing.public_pem, bundle_ids=[TOPIC])
        client = await H2TestClient.connect(sim.apns_sandbox_port, client_context(sim.ca_file))
        for step in range(3):
            clock.advance(5)
            assert (await push(client, signing.token(clock()))).status == 200, step
        clock.advance(1)
        assert (await push(client, signing.token(clock()))).status == 429
        await client.close()
