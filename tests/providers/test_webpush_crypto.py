"""RFC 8291 aes128gcm: round trips through a browser-style subscription, body layout, limits."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from webpush_testkit import Browser

from pushgate.errors import PayloadTooLarge, RequestError
from pushgate.providers.webpush_crypto import (
    HEADER_SIZE,
    MAX_PLAINTEXT,
    RECORD_SIZE,
    b64url_decode,
    b64url_encode,
    decrypt,
    encrypt,
)


def encrypt_for(browser: Browser, plaintext: bytes) -> bytes:
    return encrypt(plaintext, p256dh=browser.public_point, auth_secret=browser.auth_secret)


@pytest.mark.parametrize("size", [1, 2, 100, 3992, MAX_PLAINTEXT])
def test_round_trip_gives_back_the_exact_plaintext(size: int):
    browser = Browser()
    plaintext = os.urandom(size)

    body = encrypt_for(browser, plaintext)

    assert browser.receive(body) == plaintext
    assert len(body) == HEADER_SIZE + size + 1 + 16


def test_largest_plaintext_fills_exactly_4096_bytes():
    body = encrypt_for(Browser(), b"x" * MAX_PLAINTEXT)

    assert MAX_PLAINTEXT == 3993
    assert len(body) == 4096


def test_one_byte_more_is_payload_too_large():
    with pytest.raises(PayloadTooLarge) as caught:
        encrypt_for(Browser(), b"x" * (MAX_PLAINTEXT + 1))

    assert "3994 bytes" in caught.value.message
    assert "3993-byte" in caught.value.message


def test_header_layout_salt_rs_and_sender_key():
    browser = Browser()

    body = encrypt_for(browser, b'{"title":"hi"}')

    record_size = int.from_bytes(body[16:20], "big")
    sender_point = body[21:86]
    assert record_size == RECORD_SIZE
    assert body[20] == 65
    assert sender_point[0] == 0x04
    ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), sender_point)


def test_every_message_gets_a_fresh_salt_and_sender_key():
    browser = Browser()

    first, second = (encrypt_for(browser, b"same") for _ in range(2))

    assert first[:16] != second[:16]
    assert first[21:86] != second[21:86]
    assert browser.receive(first) == browser.receive(second) == b"same"


def test_another_browser_cannot_decrypt():
    body = encrypt_for(Browser(), b"secret")
    eve = Browser()

    with pytest.raises(ValueError, match="decryption failed"):
        eve.receive(body)


def test_wrong_auth_secret_cannot_decrypt():
    browser = Browser()
    body = encrypt_for(browser, b"secret")

    with pytest.raises(ValueError, match="decryption failed"):
        decrypt(body, browser.private_key, os.urandom(16))


def test_tampered_body_is_refused():
    browser = Browser()
    body = bytearray(encrypt_for(browser, b"secret"))
    body[-1] ^= 1

    with pytest.raises(ValueError, match="decryption failed"):
        browser.receive(bytes(body))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda body: body[:100], "shorter"),
        (lambda body: body[:20] + b"\x20" + body[21:], "keyid length"),
        (lambda body: body[:16] + (50).to_bytes(4, "big") + body[20:], "more than one record"),
        (lambda body: body[:21] + b"\x04" + b"\x00" * 64 + body[86:], "not a point"),
    ],
    ids=["short", "keyid-length", "two-records", "bad-point"],
)
def test_decrypt_checks_the_header(mutate, message: str):
    browser = Browser()
    body = encrypt_for(browser, b"x" * 200)

    with pytest.raises(ValueError, match=message):
        browser.receive(mutate(body))


def test_empty_plaintext_is_a_programming_error():
    with pytest.raises(ValueError):
        encrypt_for(Browser(), b"")


def test_unusable_subscription_keys_are_request_errors():
    browser = Browser()

    with pytest.raises(RequestError) as not_a_point:
        encrypt(b"x", p256dh=b"\x04" + b"\x01" * 64, auth_secret=browser.auth_secret)
    with pytest.raises(RequestError) as short_auth:
        encrypt(b"x", p256dh=browser.public_point, auth_secret=b"short")

    assert not_a_point.value.code == short_auth.value.code == "invalid_subscription"


@pytest.mark.parametrize("data", [b"", b"\x00", b"\xfb\xff", os.urandom(65)])
def test_base64url_round_trip(data: bytes):
    text = b64url_encode(data)

    assert "=" not in text
    assert b64url_decode(text) == data
    assert b64url_decode(text + "=" * (-len(text) % 4)) == data


@pytest.mark.parametrize("text", ["+/==", "a b", "abc=d", "a", "abc==="])
def test_base64url_decode_refuses_other_text(text: str):
    with pytest.raises(ValueError):
        b64url_decode(text)
