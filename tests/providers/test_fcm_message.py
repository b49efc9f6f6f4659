"""Rendering Messages as FCM HTTP v1 send bodies: golden JSON, targets, data rules, limits."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from pushgate.errors import PayloadTooLarge, RequestError
from pushgate.message import Message
from pushgate.providers.fcm import (
    DOCUMENTED_TOPIC_LIMIT,
    MAX_TTL,
    PAYLOAD_LIMIT,
    build_message,
    data_map,
    payload_size,
    request_headers,
    send_path,
    send_url,
    ttl_seconds,
)

NOW = 1_800_000_000
TOKEN = "fGx3:APA91bH-example_registration-token"


def build(message: Message, **kwargs: Any) -> dict[str, Any]:
    """build_message for a token target at a fixed clock, decoded."""
    kwargs.setdefault("token", TOKEN)
    body = build_message(message, now=NOW + 0.5, **kwargs)
    return orjson.loads(body)


def test_golden_full_alert():
    message = Message(
        alert={"title": "Ada", "subtitle": "ignored", "body": "Lunch?"},
        badge=2,
        sound="default",
        category="MESSAGE",
        thread_id="room-7",
        data={"room": "7", "seq": 42, "ratio": 0.5, "urgent": False},
        priority=10,
        expiration=NOW + 3600,
        collapse_id="room-7",
        mutable_content=True,
        aps={"interruption-level": "time-sensitive"},
    )

    body = build_message(message, token=TOKEN, now=NOW + 0.5)

    assert body == orjson.dumps(
        {
            "validate_only": False,
            "message": {
                "token": TOKEN,
                "notification": {"title": "Ada", "body": "Lunch?"},
                "data": {"room": "7", "seq": "42", "ratio": "0.5", "urgent": "false"},
                "android": {
                    "priority": "HIGH",
                    "ttl": "3600s",
                    "collapse_key": "room-7",
                    "notification": {"sound": "default", "notification_count": 2},
                },
                "apns": {
                    "headers": {
                        "apns-priority": "10",
                        "apns-expiration": str(NOW + 3600),
                        "apns-collapse-id": "room-7",
                    },
                    "payload": {
                        "aps": {
                            "badge": 2,
                            "sound": "default",
                            "category": "MESSAGE",
                            "thread-id": "room-7",
                            "mutable-content": 1,
                            "interruption-level": "time-sensitive",
                        }
                    },
                },
                "webpush": {"headers": {"TTL": "3600"}},
            },
        }
    )


def test_golden_minimal_alert_leaves_fcm_defaults():
    body = build_message(Message(alert={"body": "hi"}), token=TOKEN, validate_only=True, now=NOW)

    assert body == (
        b'{"validate_only":true,"message":{"token":"' + TOKEN.encode() + b'",'
        b'"notification":{"body":"hi"}}}'
    )


def test_golden_background_push_is_data_only_at_apns_priority_5():
    message = Message(push_type="background", data={"sync": "1"}, priority=10)

    assert build(message)["message"] == {
        "token": TOKEN,
        "data": {"sync": "1"},
        "android": {"priority": "HIGH"},
        "apns": {
            "headers": {"apns-push-type": "background", "apns-priority": "5"},
            "payload": {"aps": {"content-available": 1}},
        },
    }


def test_background_priority_1_stays_1_for_apns():
    message = Message(push_type="background", priority=1)

    sent = build(message)["message"]

    assert sent["android"] == {"priority": "NORMAL"}
    assert sent["apns"]["headers"]["apns-priority"] == "1"


def test_background_push_with_alert_is_refused():
    with pytest.raises(RequestError) as caught:
        build(Message(push_type="background", alert={"title": "x"}))

    assert caught.value.code == "invalid_background_push"


@pytest.mark.parametrize("push_type", ["voip", "liveactivity", "location", "mdm"])
def test_apns_only_push_types_are_refused(push_type: str):
    with pytest.raises(RequestError) as caught:
        build(Message(push_type=push_type, alert={"body": "x"}))  # type: ignore[arg-type]

    assert caught.value.code == "unsupported_push_type"


@pytest.mark.parametrize(("priority", "android"), [(10, "HIGH"), (5, "NORMAL"), (1, "NORMAL")])
def test_priority_maps_to_android_and_apns(priority: int, android: str):
    sent = build(Message(alert={"body": "x"}, priority=priority))["message"]  # type: ignore[arg-type]

    assert sent["android"]["priority"] == android
    assert sent["apns"]["headers"]["apns-priority"] == str(priority)


@pytest.mark.parametrize(
    ("expiration", "ttl"),
    [
        (0, 0),
        (NOW - 100, 0),
        (NOW, 0),
        (NOW + 1, 1),
        (NOW + MAX_TTL, MAX_TTL),
        (NOW + MAX_TTL + 1, MAX_TTL),
        (NOW + 10 * MAX_TTL, MAX_TTL),
    ],
)
def test_expiration_becomes_a_clamped_ttl(expiration: int, ttl: int):
    sent = build(Message(alert={"body": "x"}, expiration=expiration))["message"]

    assert sent["android"]["ttl"] == f"{ttl}s"
    assert sent["webpush"]["headers"]["TTL"] == str(ttl)
    assert sent["apns"]["headers"]["apns-expiration"] == str(expiration)


def test_ttl_seconds_without_expiration():
    assert ttl_seconds(None, now=NOW) is None


def test_caller_overrides_merge_over_message_values():
    message = Message(alert={"body": "x"}, priority=10, collapse_id="c", badge=1)

    sent = build(
        message,
        android={"priority": "NORMAL", "notification": {"channel_id": "chat"}},
        apns={"headers": {"apns-topic": "com.example.chat"}, "fcm_options": {"image": "x"}},
        webpush={"fcm_options": {"link": "https://example.com/c"}},
    )["message"]

    assert sent["android"] == {
        "priority": "NORMAL",
        "collapse_key": "c",
        "notification": {"notification_count": 1, "channel_id": "chat"},
    }
    assert sent["apns"]["headers"] == {
        "apns-priority": "10",
        "apns-collapse-id": "c",
        "apns-topic": "com.example.chat",
    }
    assert sent["apns"]["fcm_options"] == {"image": "x"}
    assert sent["webpush"] == {"fcm_options": {"link": "https://example.com/c"}}


def test_sound_object_goes_to_apns_only():
    sound = {"critical": 1, "name": "alarm.caf", "volume": 0.5}

    sent = build(Message(alert={"body": "x"}, sound=sound))["message"]

    assert sent["apns"]["payload"]["aps"]["sound"] == sound
    assert "android" not in sent


def test_badge_without_visible_alert_is_not_an_android_notification():
    sent = build(Message(badge=4))["message"]

    assert "notification" not in sent
    assert "android" not in sent
    assert sent["apns"]["payload"]["aps"] == {"badge": 4}


# Targets


@pytest.mark.parametrize(
    ("kwargs", "target"),
    [
        ({"topic": "news"}, {"topic": "news"}),
        ({"topic": "/topics/news-EU_1.x~%"}, {"topic": "news-EU_1.x~%"}),
        (
            {"condition": "'a' in topics && 'b' in topics"},
            {"condition": "'a' in topics && 'b' in topics"},
        ),
    ],
)
def test_topic_and_condition_targets(kwargs: dict[str, str], target: dict[str, str]):
    sent = build(Message(alert={"body": "x"}), token=None, **kwargs)["message"]

    assert {key: sent[key] for key in target} == target
    assert "token" not in sent


@pytest.mark.parametrize(
    "kwargs",
    [
        {"token": None},
        {"token": TOKEN, "topic": "news"},
        {"token": None, "topic": "news", "condition": "'a' in topics"},
        {"token": ""},
        {"token": "tok\nen"},
        {"token": "x" * 4097},
        {"token": None, "condition": "  "},
    ],
)
def test_exactly_one_valid_target(kwargs: dict[str, Any]):
    with pytest.raises(RequestError) as caught:
        build(Message(alert={"body": "x"}), **kwargs)

    assert caught.value.code == "invalid_target"


@pytest.mark.parametrize("topic", ["", "/topics/", "news feed", "news/eu", "ünï"])
def test_topic_names_are_checked(topic: str):
    with pytest.raises(RequestError) as caught:
        build(Message(alert={"body": "x"}), token=None, topic=topic)

    assert caught.value.code == "invalid_topic"


# Data conversion


def test_data_scalars_become_json_text():
    converted = data_map(
        {
            "s": "text",
            "i": 7,
            "neg": -3,
            "f": 1.25,
            "big": 1e20,
            "huge": 2**70,
            "t": True,
            "f0": False,
            "e": "",
        }
    )

    assert converted == {
        "s": "text",
        "i": "7",
        "neg": "-3",
        "f": "1.25",
        "big": "1e+20",
        "huge": "1180591620717411303424",
        "t": "true",
        "f0": "false",
        "e": "",
    }


@pytest.mark.parametrize(
    "value", [None, {"nested": 1}, [1, 2], float("nan"), float("inf")], ids=repr
)
def test_data_null_nested_and_non_finite_values_are_refused(value: object):
    with pytest.raises(RequestError) as caught:
        build(Message(alert={"body": "x"}, data={"k": value}))

    assert caught.value.code == "invalid_data"
    assert "'k'" in caught.value.message


@pytest.mark.parametrize(
    "key", ["from", "message_type", "google.c.a.e", "google.", "gcm.notification.title"]
)
def test_reserved_data_keys_are_refused(key: str):
    with pytest.raises(RequestError) as caught:
        build(Message(alert={"body": "x"}, data={key: "v"}))

    assert caught.value.code == "reserved_data_key"


@pytest.mark.parametrize("key", ["From", "fromage", "googles", "gcm.n", "message_type_x"])
def test_keys_merely_resembling_reserved_ones_pass(key: str):
    assert build(Message(data={key: "v"}))["message"]["data"] == {key: "v"}


# Size limits: compact JSON of notification + data


def data_of_size(size: int) -> dict[str, str]:
    """Data whose measured payload is exactly ``size`` bytes."""
    overhead = payload_size({"data": {"k": ""}})
    return {"k": "x" * (size - overhead)}


def test_payload_size_measures_notification_and_data_only():
    message_object = {"token": "t" * 500, "notification": {"title": "é"}, "android": {"x": 1}}

    assert payload_size(message_object) == len(b'{"notification":{"title":"\xc3\xa9"}}')


def test_token_send_at_exactly_the_limit_passes_and_one_more_byte_fails():
    build(Message(data=data_of_size(PAYLOAD_LIMIT)))

    with pytest.raises(PayloadTooLarge) as caught:
        build(Message(data=data_of_size(PAYLOAD_LIMIT + 1)))

    assert "4097 bytes" in caught.value.message
    assert "4096-byte" in caught.value.message


def test_notification_text_counts_towards_the_limit():
    overhead = payload_size({"notification": {"body": ""}})

    build(Message(alert={"body": "x" * (PAYLOAD_LIMIT - overhead)}))
    with pytest.raises(PayloadTooLarge):
        build(Message(alert={"body": "x" * (PAYLOAD_LIMIT - overhead + 1)}))


def test_topic_limit_is_configurable_and_applies_to_topics_and_conditions():
    at_limit = Message(data=data_of_size(DOCUMENTED_TOPIC_LIMIT))
    over = Message(data=data_of_size(DOCUMENTED_TOPIC_LIMIT + 1))

    build(at_limit, token=None, topic="news", topic_limit=DOCUMENTED_TOPIC_LIMIT)
    build(over, topic_limit=DOCUMENTED_TOPIC_LIMIT)  # device tokens keep 4096
    build(over, token=None, topic="news")  # default topic limit is 4096
    for target in ({"topic": "news"}, {"condition": "'news' in topics"}):
        with pytest.raises(PayloadTooLarge):
            build(over, token=None, topic_limit=DOCUMENTED_TOPIC_LIMIT, **target)


# URL and headers


def test_send_url_and_path():
    assert send_path("chat-demo") == b"/v1/projects/chat-demo/messages:send"
    assert send_url("https://fcm.googleapis.com/", "chat-demo") == (
        "https://fcm.googleapis.com/v1/projects/chat-demo/messages:send"
    )
    assert send_url("https://127.0.0.1:9443", "example.com:proj") == (
        "https://127.0.0.1:9443/v1/projects/example.com:proj/messages:send"
    )


def test_request_headers_carry_the_bearer_token():
    assert request_headers("ya29.abc") == (
        (b"authorization", b"Bearer ya29.abc"),
        (b"content-type", b"application/json; charset=UTF-8"),
    )


def test_values_json_cannot_encode_are_a_request_error():
    with pytest.raises(RequestError) as caught:
        build(Message(alert={"body": "x"}, aps={"relevance-score": 2**70}))

    assert caught.value.code == "invalid_payload"
