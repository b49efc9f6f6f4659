"""Loading .p8 signing keys: every CredentialError code, helpful and secret-free messages."""

from __future__ import annotations

from typing import Any

import pytest
from apns_testkit import BUNDLE_ID, KEY_ID, TEAM_ID, pem_pkcs8
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from pushgate.errors import CredentialError
from pushgate.providers.apns_credentials import ApnsTokenCredential, load_token_credential


def load(p8: bytes | str, **overrides: Any) -> ApnsTokenCredential:
    """load_token_credential with valid defaults for everything not overridden."""
    arguments: dict[str, Any] = {
        "key_id": KEY_ID,
        "team_id": TEAM_ID,
        "topic": BUNDLE_ID,
        "environment": "production",
    }
    arguments.update(overrides)
    return load_token_credential(key_p8=p8, **arguments)


def key_body(pem: bytes) -> str:
    """The base64 body of a PEM file: what must never appear in a message."""
    return "".join(pem.decode().splitlines()[1:-1])


def assert_secret_free(error: CredentialError, pem: bytes) -> None:
    body = key_body(pem)
    for chunk in (body[:24], body[24:48], body[-24:]):
        assert chunk not in str(error)


def test_valid_p8_loads_with_all_fields(p8_pem: bytes, p256_key: ec.EllipticCurvePrivateKey):
    credential = load(p8_pem, environment="sandbox")

    assert (credential.key_id, credential.team_id) == (KEY_ID, TEAM_ID)
    assert (credential.topic, credential.environment) == (BUNDLE_ID, "sandbox")
    assert credential.public_key_pem == p256_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_p8_given_as_text_with_surrounding_whitespace(p8_pem: bytes):
    credential = load("\n  " + p8_pem.decode() + "\n\n", key_id=f" {KEY_ID} ")

    assert credential.key_id == KEY_ID


def test_sec1_ec_private_key_pem_is_accepted(p256_key: ec.EllipticCurvePrivateKey):
    sec1 = p256_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    assert load(sec1).fingerprint == load(pem_pkcs8(p256_key)).fingerprint


def test_fingerprint_is_short_stable_and_key_specific(p8_pem: bytes):
    first, again = load(p8_pem), load(p8_pem, environment="sandbox")
    other_key = load(pem_pkcs8(ec.generate_private_key(ec.SECP256R1())))

    assert len(first.fingerprint) == 16
    int(first.fingerprint, 16)
    assert first.fingerprint == again.fingerprint
    assert first.fingerprint != load(p8_pem, key_id="ZZZ123DEFG").fingerprint
    assert first.fingerprint != load(p8_pem, team_id="OTHERTEAM1").fingerprint
    assert first.fingerprint != other_key.fingerprint


def test_repr_and_summary_never_show_the_key(p8_pem: bytes):
    credential = load(p8_pem)
    body = key_body(p8_pem)

    assert body[:24] not in repr(credential)
    assert "private_key" not in repr(credential)
    assert credential.public_summary() == {
        "kind": "token",
        "key_id": KEY_ID,
        "team_id": TEAM_ID,
        "topic": BUNDLE_ID,
        "environment": "production",
        "not_after": None,
        "fingerprint": credential.fingerprint,
    }


def test_credentials_are_frozen(p8_pem: bytes):
    credential = load(p8_pem)
    with pytest.raises(AttributeError):
        credential.topic = "com.other.app"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("data", "hint"),
    [
        (b"", "AuthKey_XXXXXXXXXX.p8"),
        (b"this is not a key at all", "BEGIN PRIVATE KEY"),
        (b"\x00\xff\x10binary", "BEGIN PRIVATE KEY"),
        ("-----BEGIN PRIVATE KEY-----\nnot base64!\n-----END PRIVATE KEY-----\n", "p8"),
    ],
)
def test_garbage_is_unreadable_key(data: bytes | str, hint: str):
    with pytest.raises(CredentialError) as info:
        load(data)

    assert info.value.code == "unreadable_key"
    assert hint in info.value.message


def test_encrypted_p8_is_unreadable_key(p256_key: ec.EllipticCurvePrivateKey):
    encrypted = pem_pkcs8(p256_key, password=b"hunter2")
    with pytest.raises(CredentialError) as info:
        load(encrypted)

    assert info.value.code == "unreadable_key"
    assert "password-protected" in info.value.message
    assert "hunter2" not in info.value.message
    assert_secret_free(info.value, encrypted)


def test_certificate_uploaded_as_key_gets_a_hint(universal_cert):
    cert_pem = universal_cert.public_bytes(serialization.Encoding.PEM)
    with pytest.raises(CredentialError) as info:
        load(cert_pem)

    assert info.value.code == "unreadable_key"
    assert "This is a certificate, not a .p8 signing key" in info.value.message


def test_public_key_uploaded_as_key_gets_a_hint(p256_key: ec.EllipticCurvePrivateKey):
    public = p256_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(CredentialError) as info:
        load(public)

    assert info.value.code == "unreadable_key"
    assert "public key" in info.value.message


def test_rsa_key_is_wrong_key_type(rsa_key: rsa.RSAPrivateKey):
    pem = pem_pkcs8(rsa_key)
    with pytest.raises(CredentialError) as info:
        load(pem)

    assert info.value.code == "wrong_key_type"
    assert "RSA" in info.value.message
    assert "EC P-256 (ES256)" in info.value.message
    assert_secret_free(info.value, pem)


def test_ed25519_key_is_wrong_key_type():
    pem = pem_pkcs8(ed25519.Ed25519PrivateKey.generate())
    with pytest.raises(CredentialError) as info:
        load(pem)

    assert info.value.code == "wrong_key_type"
    assert "Ed25519" in info.value.message


def test_p384_key_is_wrong_key_type():
    pem = pem_pkcs8(ec.generate_private_key(ec.SECP384R1()))
    with pytest.raises(CredentialError) as info:
        load(pem)

    assert info.value.code == "wrong_key_type"
    assert "secp384r1" in info.value.message
    assert "P-256" in info.value.message
    assert_secret_free(info.value, pem)


@pytest.mark.parametrize("bad", ["", "ABC123DEF", "ABC123DEFGH", "ABC-23DEFG", "ÄBC123DEFG"])
def test_bad_key_id(p8_pem: bytes, bad: str):
    with pytest.raises(CredentialError) as info:
        load(p8_pem, key_id=bad)

    assert info.value.code == "invalid_key_id"
    assert "Key ID must be exactly 10 letters or digits" in info.value.message
    assert f"({len(bad)} characters)" in info.value.message


@pytest.mark.parametrize("bad", ["", "TEAM12345", "TEAM1234567", "TEAM 12345"])
def test_bad_team_id(p8_pem: bytes, bad: str):
    with pytest.raises(CredentialError) as info:
        load(p8_pem, team_id=bad)

    assert info.value.code == "invalid_team_id"
    assert "Team ID must be exactly 10 letters or digits" in info.value.message


@pytest.mark.parametrize("good", ["com.example.chat", "io.x-y.App2", "com.apple.mgmt.External.1-2"])
def test_good_topics(p8_pem: bytes, good: str):
    assert load(p8_pem, topic=good).topic == good


@pytest.mark.parametrize("bad", ["", "chat", "com..example", "com.example.", "com.ex ample", "é.x"])
def test_malformed_topic(p8_pem: bytes, bad: str):
    with pytest.raises(CredentialError) as info:
        load(p8_pem, topic=bad)

    assert info.value.code == "invalid_topic"
    assert "reverse-DNS" in info.value.message


@pytest.mark.parametrize(
    "suffix",
    [
        ".voip",
        ".complication",
        ".pushkit.fileprovider",
        ".location-query",
        ".push-type.liveactivity",
        ".voip-ptt",
        ".push-type.widgets",
        ".push-type.controls",
    ],
)
def test_topic_with_push_type_suffix_is_refused(p8_pem: bytes, suffix: str):
    with pytest.raises(CredentialError) as info:
        load(p8_pem, topic=BUNDLE_ID + suffix)

    assert info.value.code == "invalid_topic"
    assert f"ends with {suffix!r}" in info.value.message
    assert "bundle id" in info.value.message


@pytest.mark.parametrize("bad", ["development", "prod", "", "Production"])
def test_bad_environment(p8_pem: bytes, bad: str):
    with pytest.raises(CredentialError) as info:
        load(p8_pem, environment=bad)

    assert info.value.code == "invalid_environment"
    assert "'sandbox'" in info.value.message
    assert "'production'" in info.value.message
