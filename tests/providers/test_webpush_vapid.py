"""VAPID keys and headers (RFC 8292): key loading, JWT claims checked with pyjwt, caching."""

from __future__ import annotations

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from webpush_testkit import ENDPOINT

from pushgate.errors import CredentialError, RequestError
from pushgate.providers.webpush_crypto import b64url_decode, b64url_encode
from pushgate.providers.webpush_vapid import (
    DEFAULT_EXPIRY,
    MAX_EXPIRY,
    VapidKey,
    check_subject,
    origin_of,
)

T0 = 1_800_000_000
SUBJECT = "mailto:push-ops@example.com"


class Clock:
    def __init__(self) -> None:
        self.now = float(T0)

    def __call__(self) -> float:
        return self.now


def split_header(header: bytes) -> tuple[str, str]:
    """The ``t`` and ``k`` parameters of ``vapid t=..., k=...``."""
    scheme, _, params = header.decode("ascii").partition(" ")
    assert scheme == "vapid"
    token, key = params.split(", ")
    assert token.startswith("t=") and key.startswith("k=")
    return token[2:], key[2:]


def claims_of(header: bytes, key: VapidKey, audience: str) -> dict[str, object]:
    """Verify the JWT's ES256 signature against the header's own ``k`` and return its claims."""
    token, public = split_header(header)
    assert public == key.public_key_b64url
    verifying_key = ec.EllipticCurvePublicKey.from_encoded_point(
        ec.SECP256R1(), b64url_decode(public)
    )
    assert jwt.get_unverified_header(token) == {"alg": "ES256", "typ": "JWT"}
    assert len(b64url_decode(token.split(".")[2])) == 64  # JWS r||s, not DER
    return jwt.decode(
        token, verifying_key, algorithms=["ES256"], audience=audience, options={"verify_exp": False}
    )


@pytest.fixture(scope="module")
def key() -> VapidKey:
    return VapidKey.generate()


def test_public_key_is_the_uncompressed_point_in_unpadded_base64url(key: VapidKey):
    point = b64url_decode(key.public_key_b64url)

    assert len(key.public_key_b64url) == 87
    assert len(point) == 65 and point[0] == 0x04
    ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)


def test_header_jwt_has_origin_audience_expiry_and_subject(key: VapidKey):
    header = key.vapid_header(ENDPOINT, SUBJECT, now=T0)

    claims = claims_of(header, key, "https://127.0.0.1:8443")

    assert claims == {"aud": "https://127.0.0.1:8443", "exp": T0 + DEFAULT_EXPIRY, "sub": SUBJECT}
    assert claims["exp"] - T0 <= 24 * 3600  # type: ignore[operator]


def test_custom_expiry_up_to_24_hours():
    key = VapidKey.generate()

    header = key.vapid_header(ENDPOINT, SUBJECT, now=T0, expiry=MAX_EXPIRY)

    assert claims_of(header, key, "https://127.0.0.1:8443")["exp"] == T0 + MAX_EXPIRY


@pytest.mark.parametrize("expiry", [MAX_EXPIRY + 1, 3600, 0])
def test_expiry_outside_one_to_24_hours_is_misuse(key: VapidKey, expiry: int):
    with pytest.raises(ValueError):
        key.vapid_header(ENDPOINT, SUBJECT, now=T0, expiry=expiry)


def test_jwt_is_cached_per_origin_until_an_hour_is_left():
    key, clock = VapidKey.generate(), Clock()
    first = key.vapid_header("https://push.example.net/a", SUBJECT, now=clock())

    clock.now = T0 + DEFAULT_EXPIRY - 3600
    same = key.vapid_header("https://push.example.net/other/path?x=1", SUBJECT, now=clock())
    clock.now += 1
    renewed = key.vapid_header("https://push.example.net/a", SUBJECT, now=clock())

    assert same == first
    assert renewed != first
    assert claims_of(renewed, key, "https://push.example.net")["exp"] == clock.now + DEFAULT_EXPIRY


def test_each_origin_and_subject_gets_its_own_jwt():
    key, clock = VapidKey.generate(), Clock()

    apple = key.vapid_header("https://web.push.apple.com/QGx", SUBJECT, now=clock())
    mozilla = key.vapid_header(
        "https://updates.push.services.mozilla.com/wpush/v2/x", SUBJECT, now=clock()
    )
    other_subject = key.vapid_header(
        "https://web.push.apple.com/QGx", "https://example.com/", now=clock()
    )

    assert claims_of(apple, key, "https://web.push.apple.com")["sub"] == SUBJECT
    assert claims_of(mozilla, key, "https://updates.push.services.mozilla.com")
    assert (
        claims_of(other_subject, key, "https://web.push.apple.com")["sub"] == "https://example.com/"
    )


@pytest.mark.parametrize(
    ("endpoint", "origin"),
    [
        ("https://fcm.googleapis.com/fcm/send/abc:def", "https://fcm.googleapis.com"),
        ("https://Push.Example.COM:443/x", "https://push.example.com"),
        ("https://127.0.0.1:8443/x?y#z", "https://127.0.0.1:8443"),
        ("HTTPS://[::1]:9000/x", "https://[::1]:9000"),
        ("http://localhost:80/x", "http://localhost"),
    ],
)
def test_origin_of_an_endpoint(endpoint: str, origin: str):
    assert origin_of(endpoint) == origin


@pytest.mark.parametrize(
    "endpoint", ["ftp://x/y", "https:///nohost", "not a url", "https://x:99999/"]
)
def test_origin_of_a_bad_endpoint(endpoint: str):
    with pytest.raises(RequestError) as caught:
        origin_of(endpoint)

    assert caught.value.code == "invalid_endpoint"


@pytest.mark.parametrize(
    "subject",
    ["mailto:ops@example.com", "mailto:a.b+push@mail.example.co.uk", "https://example.com/contact"],
)
def test_contactable_subjects(subject: str):
    assert check_subject(subject) == subject


@pytest.mark.parametrize(
    "subject",
    [
        "ops@example.com",
        "mailto: ops@example.com",
        "mailto:<ops@example.com>",
        "mailto:admin@localhost",
        "mailto:",
        "http://example.com/contact",
        "https://localhost/contact",
        "https://exa mple.com/",
        "https://",
        "",
    ],
)
def test_subjects_push_services_refuse(key: VapidKey, subject: str):
    with pytest.raises(CredentialError) as caught:
        key.vapid_header(ENDPOINT, subject, now=T0)

    assert caught.value.code == "invalid_vapid_subject"


def test_pem_round_trip_and_sec1_pem_load_the_same_key(key: VapidKey):
    private = serialization.load_pem_private_key(key.private_pem(), password=None)
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    sec1 = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )

    assert VapidKey.from_pem(key.private_pem()).public_key_b64url == key.public_key_b64url
    assert VapidKey.from_pem(sec1.decode()).public_key_b64url == key.public_key_b64url


def test_raw_private_key_loads():
    private = ec.generate_private_key(ec.SECP256R1())
    raw = b64url_encode(private.private_numbers().private_value.to_bytes(32, "big"))

    loaded = VapidKey.from_raw(raw)

    assert loaded.public_key_b64url == VapidKey(private).public_key_b64url
    assert VapidKey.from_raw(raw + "=").public_key_b64url == loaded.public_key_b64url


@pytest.mark.parametrize(
    "raw", ["", "abc", b64url_encode(bytes(32)), b64url_encode(b"\xff" * 32), "+" * 43, "A" * 44]
)
def test_unreadable_raw_keys(raw: str):
    with pytest.raises(CredentialError) as caught:
        VapidKey.from_raw(raw)

    assert caught.value.code == "unreadable_vapid_key"


def test_unreadable_pem():
    with pytest.raises(CredentialError) as caught:
        VapidKey.from_pem(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")

    assert caught.value.code == "unreadable_vapid_key"


@pytest.mark.parametrize(
    "private",
    [
        ec.generate_private_key(ec.SECP384R1()),
        rsa.generate_private_key(public_exponent=65537, key_size=1024),
    ],
    ids=["p384", "rsa"],
)
def test_keys_other_than_p256_are_refused(private: object):
    pem = private.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )

    with pytest.raises(CredentialError) as caught:
        VapidKey.from_pem(pem)

    assert caught.value.code == "wrong_key_type"


def test_repr_shows_only_the_public_key(key: VapidKey):
    text = repr(key)

    assert text == f"VapidKey(public_key={key.public_key_b64url!r})"
