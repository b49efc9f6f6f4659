"""APNs rendering: payload JSON, size limits, topics, priorities, headers and the device path."""

from __future__ import annotations

import pytest
from apns_testkit import BUNDLE_ID

from pushgate.errors import PayloadTooLarge, RequestError
from pushgate.message import Alert, Message
from pushgate.providers import apns
from pushgate.providers.apns_render import ApnsRender


def test_full_alert_payload_golden():
    message = Message(
        alert=Alert(title="Ana", subtitle="#general", body="Lunch?"),
        badge=3,
        sound="default",
        category="MESSAGE",
        thread_id="room-1",
        mutable_content=True,
        content_available=True,
        aps={"interruption-level": "time-sensitive"},
        data={"room": "!abc:example.org", "n": 1},
    )

    assert apns.build_payload(message) == (
        b'{"aps":{"alert":{"title":"Ana","subtitle":"#general","body":"Lunch?"},'
        b'"badge":3,"sound":"default","category":"MESSAGE","thread-id":"room-1",'
        b'"mutable-content":1,"content-available":1,"interruption-level":"time-sensitive"},'
        b'"room":"!abc:example.org","n":1}'
    )


def test_empty_parts_are_left_out():
    message = Message(alert=Alert(title="", body="Hi"), sound="", category="", thread_id="")

    assert apns.build_payload(message) == b'{"aps":{"alert":{"body":"Hi"}}}'


def test_all_empty_alert_and_badge_zero():
    message = Message(alert=Alert(title="", subtitle=None, body=""), badge=0)

    assert apns.build_payload(message) == b'{"aps":{"badge":0}}'


def test_critical_sound_dictionary_passes_through():
    message = Message(sound={"critical": 1, "name": "alarm.caf", "volume": 0.5})

    assert apns.build_payload(message) == (
        b'{"aps":{"sound":{"critical":1,"name":"alarm.caf","volume":0.5}}}'
    )


def test_aps_extras_may_supply_a_localized_alert():
    message = Message(aps={"alert": {"loc-key": "NEW_MSG", "loc-args": ["Ana"]}})

    assert apns.build_payload(message) == (
        b'{"aps":{"alert":{"loc-key":"NEW_MSG","loc-args":["Ana"]}}}'
    )


def test_aps_extra_repeating_a_field_with_the_same_value_is_fine():
    message = Message(badge=2, aps={"badge": 2})

    assert apns.build_payload(message) == b'{"aps":{"badge":2}}'


def test_aps_extra_contradicting_a_field_is_refused():
    with pytest.raises(RequestError) as info:
        apns.build_payload(Message(badge=2, aps={"badge": 5}))

    assert info.value.code == "conflicting_aps_key"
    assert "'badge'" in info.value.message


def test_background_push_holds_only_content_available():
    message = Message(push_type="background", data={"sync": True})

    assert apns.build_payload(message) == b'{"aps":{"content-available":1},"sync":true}'


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"alert": Alert(body="Hi")}, "alert"),
        ({"badge": 1}, "badge"),
        ({"sound": "default"}, "sound"),
        ({"aps": {"sound": "ping.caf"}}, "sound"),
        ({"alert": Alert(title="T"), "badge": 0}, "alert, badge"),
    ],
)
def test_background_push_with_visible_parts_is_refused(fields: dict, named: str):
    with pytest.raises(RequestError) as info:
        apns.build_payload(Message(push_type="background", **fields))

    assert info.value.code == "invalid_background_push"
    assert f"may not carry {named}" in info.value.message
    assert "push_type 'alert'" in info.value.message


def test_unencodable_data_is_a_request_error():
    with pytest.raises(RequestError) as info:
        apns.build_payload(Message(data={"big": 2**70}))

    assert info.value.code == "invalid_payload"


@pytest.mark.parametrize(("push_type", "limit"), [("alert", 4096), ("voip", 5120)])
def test_size_limit_exact_boundary(push_type: str, limit: int):
    base = len(apns.build_payload(Message(push_type=push_type, data={"x": ""})))
    fits = apns.build_payload(Message(push_type=push_type, data={"x": "a" * (limit - base)}))
    over = apns.build_payload(Message(push_type=push_type, data={"x": "a" * (limit - base + 1)}))
    assert (len(fits), len(over)) == (limit, limit + 1)

    apns.check_size(fits, push_type)
    with pytest.raises(PayloadTooLarge) as info:
        apns.check_size(over, push_type)
    assert info.value.code == "payload_too_large"
    assert info.value.status == 413
    assert f"is {limit + 1} bytes, over the {limit}-byte limit" in info.value.message


@pytest.mark.parametrize(
    ("push_type", "limit"),
    [("alert", 4096), ("background", 4096), ("liveactivity", 4096), ("voip", 5120)],
)
def test_payload_limit(push_type: str, limit: int):
    assert apns.payload_limit(push_type) == limit


@pytest.mark.parametrize(
    ("push_type", "topic"),
    [
        ("alert", BUNDLE_ID),
        ("background", BUNDLE_ID),
        ("mdm", BUNDLE_ID),
        ("voip", f"{BUNDLE_ID}.voip"),
        ("complication", f"{BUNDLE_ID}.complication"),
        ("fileprovider", f"{BUNDLE_ID}.pushkit.fileprovider"),
        ("location", f"{BUNDLE_ID}.location-query"),
        ("liveactivity", f"{BUNDLE_ID}.push-type.liveactivity"),
        ("pushtotalk", f"{BUNDLE_ID}.voip-ptt"),
        ("widgets", f"{BUNDLE_ID}.push-type.widgets"),
        ("controls", f"{BUNDLE_ID}.push-type.controls"),
    ],
)
def test_topic_for_every_push_type(push_type: str, topic: str):
    assert apns.topic_for(BUNDLE_ID, push_type) == topic


def test_topic_for_unknown_push_type():
    with pytest.raises(ValueError, match="unknown APNs push type 'fax'"):
        apns.topic_for(BUNDLE_ID, "fax")


@pytest.mark.parametrize(
    ("push_type", "priority", "expected"),
    [
        ("alert", None, 10),
        ("alert", 5, 5),
        ("alert", 1, 1),
        ("voip", None, 10),
        ("background", None, 5),
        ("background", 5, 5),
        ("background", 1, 1),
    ],
)
def test_priorities(push_type: str, priority: int | None, expected: int):
    assert apns.priority_for(Message(push_type=push_type, priority=priority)) == expected


def test_default_priority():
    assert apns.default_priority("background") == 5
    assert apns.default_priority("alert") == 10


def test_background_at_priority_10_is_refused():
    message = Message(push_type="background", priority=10)
    with pytest.raises(RequestError) as info:
        apns.priority_for(message)
    assert info.value.code == "invalid_priority"
    assert "priority 5" in info.value.message

    with pytest.raises(RequestError):
        ApnsRender.of(message)


def test_stable_headers_with_token_auth():
    message = Message(push_type="voip")
    render = ApnsRender.of(message)
    headers = apns.stable_headers(
        topic=apns.topic_for(BUNDLE_ID, "voip"),
        push_type=render.push_type,
        priority=render.priority,
        authorization=b"bearer x.y.z",
    )

    assert headers == (
        (b"apns-topic", b"com.example.chat.voip"),
        (b"apns-push-type", b"voip"),
        (b"apns-priority", b"10"),
        (b"authorization", b"bearer x.y.z"),
    )


def test_stable_headers_with_certificate_auth():
    render = ApnsRender.of(Message(push_type="background"))
    headers = apns.stable_headers(
        topic=BUNDLE_ID, push_type=render.push_type, priority=render.priority, authorization=None
    )

    assert headers == (
        (b"apns-topic", BUNDLE_ID.encode()),
        (b"apns-push-type", b"background"),
        (b"apns-priority", b"5"),
    )


def test_volatile_headers():
    message = Message(expiration=1_900_000_000, collapse_id="room-1")
    apns_id = "0e6a8f0c-1c5c-4d0a-9c4e-3b1f2a7d9e10"

    assert apns.volatile_headers(message, apns_id) == [
        (b"apns-id", apns_id.encode()),
        (b"apns-expiration", b"1900000000"),
        (b"apns-collapse-id", b"room-1"),
    ]


def test_volatile_headers_minimal_and_expiration_zero():
    assert apns.volatile_headers(Message(), None) == []
    assert apns.volatile_headers(Message(expiration=0), None) == [(b"apns-expiration", b"0")]


@pytest.mark.parametrize("collapse_id", ["room 7 ", " room 7", "room 7\t", "\troom"])
def test_collapse_id_with_outer_whitespace_is_refused(collapse_id: str):
    """Illegal in an HTTP/2 header value: a server would drop the connection on every try."""
    with pytest.raises(RequestError) as info:
        apns.volatile_headers(Message(collapse_id=collapse_id), None)
    assert info.value.code == "invalid_collapse_id" and "collapse_id" in info.value.message
    assert apns.volatile_headers(Message(collapse_id="room 7"), None) == [
        (b"apns-collapse-id", b"room 7")
    ]


def test_collapse_id_with_control_characters_is_refused():
    with pytest.raises(RequestError) as info:
        apns.volatile_headers(Message(collapse_id="a\r\nx-evil: 1"), None)

    assert info.value.code == "invalid_collapse_id"


def test_device_path():
    token = "0123456789abcdef" * 4

    assert apns.device_path(token) == b"/3/device/" + token.encode()
    assert apns.device_path(token.upper() + "00") == b"/3/device/" + token.upper().encode() + b"00"


@pytest.mark.parametrize("bad", ["", "abc", "zz" * 32, "ab/../cd", "ab cd", "0a" * 31 + "0a\n"])
def test_device_path_refuses_non_hex_tokens_without_echoing_them(bad: str):
    with pytest.raises(RequestError) as info:
        apns.device_path(bad)

    assert info.value.code == "invalid_device_token"
    if bad:
        assert bad not in info.value.message
