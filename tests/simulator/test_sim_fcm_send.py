"""The FCM simulator's send endpoint: auth, validation with exact envelopes, token state, inbox."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from sim_services import (
    OTHER_PROJECT,
    PROJECT,
    TOKEN,
    access_token,
    error,
    send,
    to_token,
)
from sim_support import FakeClock

from pushgate.message import Alert, Message
from pushgate.outcomes import Delivered, Rejected, Retry, Unregistered
from pushgate.providers import fcm
from pushgate.simulator import Simulator

BAD_TOKEN_MESSAGE = "The registration token is not a valid FCM registration token"


async def test_a_message_built_by_the_provider_is_accepted_and_kept(
    sim: Simulator, client: httpx.AsyncClient, bearer: str, clock: FakeClock
) -> None:
    message = Message(alert=Alert(title="Hi", body="there"), data={"room": "42"}, priority=10)
    body = fcm.build_message(message, token=TOKEN, now=clock())

    answer = await send(client, sim, bearer, body)

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    name = answer.json()["name"]
    assert name.startswith(f"projects/{PROJECT}/messages/0:")
    assert fcm.classify(answer.status_code, answer.content, now=time.time()) == Delivered(
        provider_id=name
    )
    [kept] = sim.fcm_inbox.query(token=TOKEN)
    assert (kept.project_id, kept.message_id, kept.target_kind) == (PROJECT, name, "token")
    assert kept.service_account.endswith(f"@{PROJECT}.iam.gserviceaccount.com")
    assert kept.message["notification"] == {"title": "Hi", "body": "there"}
    assert kept.message["android"]["priority"] == "HIGH"


async def test_camel_case_names_and_topics_are_accepted(
    sim: Simulator, client: httpx.AsyncClient, bearer: str
) -> None:
    body = {
        "validateOnly": False,
        "message": {
            "topic": "/topics/news",
            "android": {"collapseKey": "c", "priority": "normal", "ttl": "3.5s"},
            "fcmOptions": {"analyticsLabel": "campaign_1"},
        },
    }

    answer = await send(client, sim, bearer, body)

    assert answer.status_code == 200
    assert [m.target for m in sim.fcm_inbox.query(topic="news")] == ["news"]


async def test_validate_only_answers_a_fake_id_and_keeps_nothing(
    sim: Simulator, client: httpx.AsyncClient, bearer: str
) -> None:
    answer = await send(client, sim, bearer, to_token({}, validate_only=True))

    assert answer.json() == {"name": f"projects/{PROJECT}/messages/fake_message_id"}
    assert len(sim.fcm_inbox) == 0


async def test_validate_only_still_reports_an_unregistered_token(
    sim: Simulator, client: httpx.AsyncClient, bearer: str
) -> None:
    sim.mark_fcm_unregistered(TOKEN)

    answer = await send(client, sim, bearer, to_token({}, validate_only=True))

    assert answer.status_code == 404


UNAUTHENTICATED = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
    "cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)


async def test_unknown_and_expired_access_tokens_get_401_without_fcm_error(
    sim: Simulator, client: httpx.AsyncClient, bearer: str, clock: FakeClock
) -> None:
    unknown = await send(client, sim, "ya29.made-up", to_token({}))
    clock.advance(3599)
    expired = await send(client, sim, bearer, to_token({}))
    missing = await send(client, sim, None, to_token({}))

    expected = {"error": {"code": 401, "message": UNAUTHENTICATED, "status": "UNAUTHENTICATED"}}
    assert (unknown.status_code, unknown.json()) == (401, expected)
    assert expired.json() == expected
    assert missing.status_code == 401
    assert missing.json()["error"]["message"].startswith("Request is missing required")
    assert unknown.headers["www-authenticate"].startswith("Bearer")
    outcome = fcm.classify(401, unknown.content, now=time.time())
    assert isinstance(outcome, Retry) and outcome.refresh_credentials


async def test_an_account_of_another_project_gets_permission_denied(
    sim: Simulator, client: httpx.AsyncClient, bearer: str
) -> None:
    answer = await send(client, sim, bearer, to_token({}), project=OTHER_PROJECT)

    assert answer.status_code == 403
    assert answer.json()["error"]["status"] == "PERMISSION_DENIED"
    assert "details" not in answer.json()["error"]


async def test_other_urls_are_not_found(
    sim: Simulator, client: httpx.AsyncClient, bearer: str
) -> None:
    wrong_path = await client.post(f"{sim.fcm_base_url}/v1/projects/{PROJECT}/messages:batch")
    wrong_method = await client.get(fcm.send_url(sim.fcm_base_url, PROJECT))

    assert (wrong_path.status_code, wrong_method.status_code) == (404, 404)
    assert wrong_path.json()["error"]["status"] == "NOT_FOUND"


def _invalid(message: str, field: str | None = None) -> dict[str, Any]:
    return error(400, "INVALID_ARGUMENT", message, "INVALID_ARGUMENT", field)


def _parse(message: str, field: str) -> dict[str, Any]:
    return error(400, "INVALID_ARGUMENT", message, field=field)


INVALID_BODIES = [
    (
        "data-number",
        to_token({"data": {"a": "x", "b": 3}}),
        _parse(
            "Invalid value at 'message.data[1].value' (TYPE_STRING), 3", "message.data[1].value"
        ),
    ),
    (
        "unknown-field",
        to_token({"android": {"colour": "red"}}),
        _parse(
            "Invalid JSON payload received. Unknown name \"colour\" at 'message.android': "
            "Cannot find field.",
            "message.android",
        ),
    ),
    (
        "not-json",
        b"{nope",
        _parse("Invalid JSON payload received. Unexpected token.", ""),
    ),
    (
        "ttl-format",
        to_token({"android": {"ttl": "10"}}),
        _parse(
            "Invalid value at 'message.android.ttl' (type.googleapis.com/google.protobuf.Duration), "
            '"10"',
            "message.android.ttl",
        ),
    ),
    (
        "android-priority",
        to_token({"android": {"priority": "urgent"}}),
        _parse(
            "Invalid value at 'message.android.priority' "
            '(type.googleapis.com/google.firebase.fcm.v1.AndroidMessagePriority), "urgent"',
            "message.android.priority",
        ),
    ),
    (
        "two-targets",
        to_token({"topic": "news"}),
        _parse(
            "Invalid JSON payload received. Oneof field 'target' is already set. "
            "Cannot set 'topic'",
            "message",
        ),
    ),
    ("no-target", {"message": {}}, _invalid("Recipient of the message is not set.", "message")),
    ("bad-token", to_token({}, token="not a token!"), _invalid(BAD_TOKEN_MESSAGE, "message.token")),
    (
        "bad-topic",
        {"message": {"topic": "news/today"}},
        _invalid("Invalid topic name: use letters, digits and -_.~% only.", "message.topic"),
    ),
    (
        "bad-condition",
        {"message": {"condition": "'a' in topics &&"}},
        _invalid(
            "Invalid condition expression provided: it cannot be parsed.", "message.condition"
        ),
    ),
    (
        "six-topics",
        {"message": {"condition": " || ".join(f"'t{i}' in topics" for i in range(6))}},
        _invalid(
            "Invalid condition expression provided: it names more than 5 topics.",
            "message.condition",
        ),
    ),
    (
        "reserved-key",
        to_token({"android": {"data": {"google.sent_time": "1"}}}),
        _invalid(
            "Invalid data payload key: 'google.sent_time' is reserved.", "message.android.data"
        ),
    ),
    (
        "ttl-range",
        to_token({"android": {"ttl": "2419201s"}}),
        _invalid("TTL must be between 0 and 2419200 seconds (28 days).", "message.android.ttl"),
    ),
    (
        "apns-data-only-priority-10",
        to_token({"data": {"a": "b"}, "apns": {"headers": {"apns-priority": "10"}}}),
        _invalid(
            "Data-only messages to Apple devices must use apns-priority 5; 10 is for alerts.",
            "message.apns.headers",
        ),
    ),
    (
        "analytics-label",
        to_token({"apns": {"fcm_options": {"analytics_label": "has space"}}}),
        _invalid(
            "The analytics label must match ^[a-zA-Z0-9-_.~%]{1,50}$.",
            "message.apns.fcm_options.analytics_label",
        ),
    ),
    (
        "webpush-link",
        to_token({"webpush": {"fcm_options": {"link": "http://example.com"}}}),
        _invalid("The webpush link must be an https URL.", "message.webpush.fcm_options.link"),
    ),
]


@pytest.mark.parametrize(
    ("body", "expected"), [case[1:] for case in INVALID_BODIES], ids=[c[0] for c in INVALID_BODIES]
)
async def test_invalid_messages_get_the_exact_envelope(
    sim: Simulator,
    client: httpx.AsyncClient,
    bearer: str,
    body: dict[str, Any] | bytes,
    expected: dict[str, Any],
) -> None:
    answer = await send(client, sim, bearer, body)

    assert answer.status_code == 400
    assert answer.json() == expected
    assert len(sim.fcm_inbox) == 0


async def test_size_is_measured_like_the_provider(
    sim: Simulator, client: httpx.AsyncClient, bearer: str
) -> None:
    fits = {"data": {"k": ""}}
    fits["data"]["k"] = "x" * (4096 - fcm.payload_size(fits))
    over = {"data": {"k": fits["data"]["k"] + "x"}}

    accepted = await send(client, sim, bearer, to_token(fits))
    refused = await send(client, sim, bearer, to_token(over))

    assert accepted.status_code == 200
    assert refused.json() == _invalid(
        "Message is too big: notification and data take 4097 bytes, over the 4096-byte limit."
    )
    assert isinstance(fcm.classify(400, refused.content, now=time.time()), Rejected)


async def test_data_only_apple_messages_at_priority_5_and_alerts_at_10_pass(
    sim: Simulator, client: httpx.AsyncClient, bearer: str
) -> None:
    background = fcm.build_message(
        Message(push_type="background", data={"a": 1}), token=TOKEN, now=time.time()
    )
    alert = to_token(
        {
            "data": {"a": "b"},
            "apns": {"headers": {"apns-priority": "10"}, "payload": {"aps": {"alert": "x"}}},
        }
    )

    answers = [await send(client, sim, bearer, body) for body in (background, alert)]

    assert [a.status_code for a in answers] == [200, 200]


async def test_a_bad_token_is_classified_as_unregistered_by_the_provider(
    sim: Simulator, client: httpx.AsyncClient, bearer: str
) -> None:
    answer = await send(client, sim, bearer, to_token({}, token="short"))

    assert fcm.classify(answer.status_code, answer.content, now=time.time()) == Unregistered(
        reason="InvalidRegistration"
    )


async def test_unregistered_and_foreign_tokens(
    sim: Simulator, client: httpx.AsyncClient, bearer: str
) -> None:
    dead, foreign = sim.create_fcm_token(PROJECT), sim.create_fcm_token(OTHER_PROJECT)
    own = sim.create_fcm_token(PROJECT)
    sim.mark_fcm_unregistered(dead)

    gone = await send(client, sim, bearer, to_token({}, token=dead))
    mismatch = await send(client, sim, bearer, to_token({}, token=foreign))
    fine = await send(client, sim, bearer, to_token({}, token=own))

    assert (gone.status_code, gone.json()) == (
        404,
        error(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED"),
    )
    assert (mismatch.status_code, mismatch.json()) == (
        403,
        error(403, "PERMISSION_DENIED", "SenderId mismatch", "SENDER_ID_MISMATCH"),
    )
    assert fine.status_code == 200
    assert fcm.classify(404, gone.content, now=time.time()) == Unregistered(reason="UNREGISTERED")
    assert sim.fcm_inbox.stats()["rejections"] == {"UNREGISTERED": 1, "SENDER_ID_MISMATCH": 1}


async def test_a_token_registered_by_project_number_accepts_its_project(
    sim: Simulator, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    info = sim.create_service_account("numbered-project", project_number="555")
    sim.register_fcm_token(TOKEN, "555")
    token = await access_token(client, info, clock)

    answer = await send(client, sim, token, to_token({}), project="numbered-project")

    assert answer.status_code == 200
