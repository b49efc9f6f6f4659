"""Web Push subscriptions, the service-worker payload and the request headers (RFC 8030)."""

from __future__ import annotations

import hashlib
import re

import orjson
import pytest
from webpush_testkit import ENDPOINT, Browser

from pushgate.errors import PayloadTooLarge, RequestError
from pushgate.message import Message
from pushgate.providers.webpush import (
    DEFAULT_TTL,
    MAX_ENDPOINT_LENGTH,
    MAX_TTL,
    build_payload,
    request_headers,
    topic_for,
    validate_subscription,
)
from pushgate.providers.webpush_crypto import MAX_PLAINTEXT, b64url_encode, encrypt
from pushgate.providers.webpush_vapid import VapidKey

NOW = 1_800_000_000
VAPID = b"vapid t=eyJ.eyJ.sig, k=BPub"


def subscribe(browser: Browser, **changes: str) -> tuple[str, str, str]:
    """(endpoint, p256dh, auth) as the app would forward them, with changes applied."""
    sent = browser.subscription_json()
    keys = sent["keys"]
    assert isinstance(keys, dict)
    values = {"endpoint": str(sent["endpoint"]), "p256dh": keys["p256dh"], "auth": keys["auth"]}
    values.update(changes)
    return values["endpoint"], values["p256dh"], values["auth"]


def refused(code: str, browser: Browser | None = None, **changes: str) -> RequestError:
    with pytest.raises(RequestError) as caught:
        validate_subscription(*subscribe(browser or Browser(), **changes))
    assert caught.value.code == code
    return caught.value


# Subscriptions


def test_browser_subscription_is_accepted_and_decoded():
    browser = Browser()

    subscription = validate_subscription(*subscribe(browser))

    assert subscription.endpoint == ENDPOINT
    assert subscription.p256dh == browser.public_point
    assert subscription.auth == browser.auth_secret


def test_padded_base64url_keys_are_accepted():
    browser = Browser()
    p256dh = b64url_encode(browser.public_point) + "="
    auth = b64url_encode(browser.auth_secret) + "=="

    subscription = validate_subscription(ENDPOINT, p256dh, auth)

    assert subscription.p256dh == browser.public_point


def test_subscription_repr_hides_the_endpoint_path_and_keys():
    subscription = validate_subscription(*subscribe(Browser()))

    assert repr(subscription) == "Subscription(host='127.0.0.1')"


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://127.0.0.1:8443/push/x",
        "https:///push/x",
        "/push/x",
        "https://push.example.com/x y",
        "https://push.example.com/x\x00",
        "https://push.example.com/x#frag",
        "https://push.example.com:port/x",
        "https://push.example.com/" + "x" * MAX_ENDPOINT_LENGTH,
        "",
    ],
)
def test_bad_endpoints(endpoint: str):
    refused("invalid_endpoint", endpoint=endpoint)


def test_endpoint_error_does_not_echo_the_endpoint():
    error = refused("invalid_endpoint", endpoint="http://push.example.com/secret-device-id")

    assert "secret-device-id" not in error.message


@pytest.mark.parametrize(
    "p256dh",
    [
        "",
        "not*base64",
        b64url_encode(bytes(65)),
        b64url_encode(b"\x04" + b"\x01" * 64),  # uncompressed, but not on the curve
        b64url_encode(b"\x04" + b"\x01" * 63),
        b64url_encode(b"\x04" + b"\x01" * 65),
    ],
    ids=["empty", "alphabet", "zeros", "off-curve", "64-bytes", "66-bytes"],
)
def test_bad_p256dh(p256dh: str):
    refused("invalid_p256dh", p256dh=p256dh)


def test_compressed_point_is_refused():
    browser = Browser()
    point = browser.public_point
    compressed = bytes([2 + (point[-1] & 1)]) + point[1:33]

    refused("invalid_p256dh", browser, p256dh=b64url_encode(compressed))


def test_standard_base64_alphabet_is_refused():
    browser = Browser()
    standard = b64url_encode(browser.public_point)[:-2] + "+/"

    refused("invalid_p256dh", browser, p256dh=standard)


@pytest.mark.parametrize(
    "auth", ["", b64url_encode(bytes(15)), b64url_encode(bytes(17)), "abc$def", "A"]
)
def test_bad_auth(auth: str):
    refused("invalid_auth", auth=auth)


# Payload


def test_golden_payload():
    message = Message(
        alert={"title": "Ada", "subtitle": "#general", "body": "Lunch?"},
        badge=3,
        collapse_id="room-7",
        category="MESSAGE",
        sound="default",
        data={"room": 7, "nested": {"a": [1, None]}},
    )

    assert build_payload(message) == (
        b'{"title":"Ada","subtitle":"#general","body":"Lunch?","badge":3,"tag":"room-7",'
        b'"category":"MESSAGE","data":{"room":7,"nested":{"a":[1,null]}}}'
    )


def test_minimal_payloads_always_carry_data():
    assert build_payload(Message()) == b'{"data":{}}'
    assert build_payload(Message(push_type="background", data={"sync": "1"})) == (
        b'{"push_type":"background","data":{"sync":"1"}}'
    )


def test_background_payload_with_alert_is_refused():
    with pytest.raises(RequestError) as caught:
        build_payload(Message(push_type="background", alert={"body": "x"}))

    assert caught.value.code == "invalid_background_push"


@pytest.mark.parametrize("push_type", ["voip", "liveactivity", "complication"])
def test_apns_only_push_types_are_refused(push_type: str):
    with pytest.raises(RequestError) as caught:
        build_payload(Message(push_type=push_type))  # type: ignore[arg-type]

    assert caught.value.code == "unsupported_push_type"


def test_payload_limit_is_the_largest_single_record_plaintext():
    overhead = len(build_payload(Message(data={"k": ""})))

    assert len(build_payload(Message(data={"k": "x" * (MAX_PLAINTEXT - overhead)}))) == 3993
    with pytest.raises(PayloadTooLarge) as caught:
        build_payload(Message(data={"k": "x" * (MAX_PLAINTEXT - overhead + 1)}))

    assert "3994 bytes" in caught.value.message


def test_unencodable_data_is_a_request_error():
    with pytest.raises(RequestError) as caught:
        build_payload(Message(data={"n": 2**70}))

    assert caught.value.code == "invalid_payload"


def test_payload_reaches_the_browser_intact():
    browser = Browser()
    subscription = validate_subscription(*subscribe(browser))
    message = Message(alert={"title": "Ada", "body": "Grüße 👋"}, data={"room": "7"})

    body = encrypt(
        build_payload(message), p256dh=subscription.p256dh, auth_secret=subscription.auth
    )

    assert orjson.loads(browser.receive(body)) == {
        "title": "Ada",
        "body": "Grüße 👋",
        "data": {"room": "7"},
    }


# Request headers


def headers_of(message: Message, **overrides: object) -> dict[bytes, bytes]:
    """request_headers at a fixed clock, as a dictionary."""
    overrides.setdefault("vapid_header", VAPID)
    return dict(request_headers(message, now=NOW + 0.9, **overrides))  # type: ignore[arg-type]


def test_golden_headers():
    message = Message(alert={"body": "x"}, priority=10, expiration=NOW + 60, collapse_id="room-7")

    assert request_headers(message, vapid_header=VAPID, now=NOW) == (
        (b"authorization", VAPID),
        (b"content-encoding", b"aes128gcm"),
        (b"content-type", b"application/octet-stream"),
        (b"ttl", b"60"),
        (b"urgency", b"high"),
        (b"topic", b"room-7"),
    )


def test_headers_work_with_a_real_vapid_header():
    header = VapidKey.generate().vapid_header(ENDPOINT, "mailto:ops@example.com", now=NOW)

    assert headers_of(Message(), vapid_header=header)[b"authorization"] == header


@pytest.mark.parametrize(
    ("expiration", "ttl"),
    [(None, DEFAULT_TTL), (0, 0), (NOW - 5, 0), (NOW + 1, 1), (NOW + 10 * MAX_TTL, MAX_TTL)],
)
def test_ttl_from_expiration(expiration: int | None, ttl: int):
    assert headers_of(Message(expiration=expiration))[b"ttl"] == str(ttl).encode()


@pytest.mark.parametrize(
    ("override", "ttl"), [(0, b"0"), (90, b"90"), (-1, b"0"), (10**9, b"2419200")]
)
def test_ttl_override(override: int, ttl: bytes):
    assert headers_of(Message(expiration=NOW + 60), ttl=override)[b"ttl"] == ttl


@pytest.mark.parametrize(
    ("priority", "push_type", "urgency"),
    [
        (10, "alert", b"high"),
        (5, "alert", b"normal"),
        (1, "alert", b"low"),
        (None, "alert", b"high"),
        (None, "background", b"normal"),
        (1, "background", b"low"),
    ],
)
def test_urgency_from_priority(priority: int | None, push_type: str, urgency: bytes):
    message = Message(priority=priority, push_type=push_type)  # type: ignore[arg-type]

    assert headers_of(message)[b"urgency"] == urgency


@pytest.mark.parametrize("urgency", ["very-low", "low", "normal", "high"])
def test_urgency_override(urgency: str):
    assert headers_of(Message(priority=10), urgency=urgency)[b"urgency"] == urgency.encode()


def test_unknown_urgency_is_refused():
    with pytest.raises(RequestError) as caught:
        headers_of(Message(), urgency="urgent")

    assert caught.value.code == "invalid_urgency"


def test_no_collapse_id_means_no_topic():
    assert b"topic" not in headers_of(Message())


@pytest.mark.parametrize("value", ["a", "room-7_B", "x" * 32])
def test_topics_that_fit_are_used_as_they_are(value: str):
    assert topic_for(value) == value
    assert headers_of(Message(collapse_id=value))[b"topic"] == value.encode()


@pytest.mark.parametrize("value", ["x" * 33, "room 7", "room.7", "ünï", "a/b=="])
def test_other_topics_are_hashed_to_32_base64url_characters(value: str):
    expected = b64url_encode(hashlib.sha256(value.encode()).digest())[:32]

    topic = topic_for(value)

    assert topic == expected
    assert topic is not None and re.fullmatch(r"[A-Za-z0-9_-]{32}", topic)
    assert topic_for(value) == topic


def test_topic_override_beats_the_collapse_id():
    assert headers_of(Message(collapse_id="room-7"), topic="other")[b"topic"] == b"other"
