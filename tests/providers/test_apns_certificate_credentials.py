"""Loading .p12 / PEM client certificates: every CredentialError code, no leaked secrets."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apns_testkit import BUNDLE_ID, P12_PASSWORD, CertFactory, pem_pkcs8
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from pushgate.errors import CredentialError
from pushgate.providers.apns_credentials import (
    ApnsCertificateCredential,
    load_certificate_credential,
)

PEM = serialization.Encoding.PEM


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(PEM)


def load_p12(p12: bytes, **kwargs: object) -> ApnsCertificateCredential:
    kwargs.setdefault("password", P12_PASSWORD)
    return load_certificate_credential(p12=p12, **kwargs)  # type: ignore[arg-type]


def assert_no_password(error: CredentialError) -> None:
    assert P12_PASSWORD not in str(error)
    assert P12_PASSWORD not in repr(error)


def test_universal_p12_loads(universal_p12: bytes, universal_cert: x509.Certificate):
    credential = load_p12(universal_p12)

    assert credential.topic == BUNDLE_ID
    assert credential.subject_uid == BUNDLE_ID
    assert credential.environment == "production"
    assert credential.certificate_environments == ("sandbox", "production")
    assert credential.topics == (BUNDLE_ID, f"{BUNDLE_ID}.voip", f"{BUNDLE_ID}.complication")
    assert credential.not_after == universal_cert.not_valid_after_utc
    assert credential.not_before == universal_cert.not_valid_before_utc


def test_universal_certificate_uses_the_given_environment(universal_p12: bytes):
    assert load_p12(universal_p12, environment="sandbox").environment == "sandbox"


def test_pems_build_a_working_tls_context(universal_p12: bytes, tmp_path: Path):
    credential = load_p12(universal_p12)
    assert credential.key_pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert b"ENCRYPTED" not in credential.key_pem
    assert credential.cert_pem.startswith(b"-----BEGIN CERTIFICATE-----")

    (tmp_path / "c.pem").write_bytes(credential.cert_pem)
    (tmp_path / "k.pem").write_bytes(credential.key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")


def test_repr_and_summary_never_show_the_key(universal_p12: bytes):
    credential = load_p12(universal_p12)
    key_line = credential.key_pem.splitlines()[1].decode()

    assert key_line not in repr(credential)
    assert "PRIVATE KEY" not in repr(credential)
    summary = credential.public_summary()
    assert key_line not in str(summary)
    assert summary == {
        "kind": "certificate",
        "key_id": None,
        "team_id": None,
        "topic": BUNDLE_ID,
        "environment": "production",
        "not_after": credential.not_after.isoformat(),
        "fingerprint": credential.fingerprint,
        "subject_uid": BUNDLE_ID,
        "topics": list(credential.topics),
        "certificate_environments": ["sandbox", "production"],
    }


def test_fingerprint_is_stable_and_per_certificate(
    certs: CertFactory, rsa_key: rsa.RSAPrivateKey, universal_p12: bytes
):
    first, again = load_p12(universal_p12), load_p12(universal_p12, environment="sandbox")
    renewed = load_p12(certs.p12(rsa_key, certs.issue(rsa_key)))

    assert len(first.fingerprint) == 16
    assert first.fingerprint == again.fingerprint
    assert first.fingerprint != renewed.fingerprint


def test_development_certificate_means_sandbox(certs: CertFactory, rsa_key: rsa.RSAPrivateKey):
    p12 = certs.p12(rsa_key, certs.issue(rsa_key, environments=["sandbox"]))

    assert load_p12(p12).environment == "sandbox"
    assert load_p12(p12, environment="sandbox").certificate_environments == ("sandbox",)


def test_production_certificate_means_production(certs: CertFactory, rsa_key: rsa.RSAPrivateKey):
    p12 = certs.p12(rsa_key, certs.issue(rsa_key, environments=["production"]))

    assert load_p12(p12).environment == "production"


def test_environment_contradicting_certificate(certs: CertFactory, rsa_key: rsa.RSAPrivateKey):
    p12 = certs.p12(rsa_key, certs.issue(rsa_key, environments=["sandbox"]))
    with pytest.raises(CredentialError) as info:
        load_p12(p12, environment="production")

    assert info.value.code == "environment_mismatch"
    assert "sandbox-only certificate, but production was requested" in info.value.message


def test_certificate_without_environment_extensions(certs: CertFactory, rsa_key: rsa.RSAPrivateKey):
    p12 = certs.p12(rsa_key, certs.issue(rsa_key, environments=[]))

    assert load_p12(p12).environment == "production"
    assert load_p12(p12, environment="sandbox").environment == "sandbox"
    assert load_p12(p12).certificate_environments == ()


def test_invalid_environment_name(universal_p12: bytes):
    with pytest.raises(CredentialError) as info:
        load_p12(universal_p12, environment="development")

    assert info.value.code == "invalid_environment"


def test_wrong_password(universal_p12: bytes):
    with pytest.raises(CredentialError) as info:
        load_p12(universal_p12, password="not-the-password")

    assert info.value.code == "wrong_password"
    assert "password does not open this .p12 file" in info.value.message
    assert "not-the-password" not in info.value.message
    assert_no_password(info.value)


def test_missing_password(universal_p12: bytes):
    with pytest.raises(CredentialError) as info:
        load_p12(universal_p12, password=None)

    assert info.value.code == "wrong_password"
    assert "no password was given" in info.value.message


def test_unprotected_p12_opens_with_or_without_a_password(
    certs: CertFactory, rsa_key: rsa.RSAPrivateKey, universal_cert: x509.Certificate
):
    p12 = certs.p12(rsa_key, universal_cert, password=None)

    assert load_p12(p12, password=None).topic == BUNDLE_ID
    assert load_p12(p12, password="").topic == BUNDLE_ID
    assert load_p12(p12, password="typed-anyway").topic == BUNDLE_ID


@pytest.mark.parametrize(
    "mangle",
    [
        lambda p12: b"",
        lambda p12: b"definitely not a pkcs12 file",
        lambda p12: p12[: len(p12) // 2],
        lambda p12: b"\x30\x03\x02\x01\x03",
    ],
    ids=["empty", "text", "truncated", "bare-header"],
)
def test_unreadable_p12(universal_p12: bytes, mangle):
    with pytest.raises(CredentialError) as info:
        load_p12(mangle(universal_p12))

    assert info.value.code == "unreadable_p12"
    assert "not a readable .p12 (PKCS#12) file" in info.value.message
    assert_no_password(info.value)


def test_pem_uploaded_as_p12_gets_a_hint(universal_cert: x509.Certificate):
    with pytest.raises(CredentialError) as info:
        load_p12(cert_pem(universal_cert))

    assert info.value.code == "unreadable_p12"
    assert "looks like PEM" in info.value.message


def test_p12_without_private_key(certs: CertFactory, universal_cert: x509.Certificate):
    with pytest.raises(CredentialError) as info:
        load_p12(certs.p12(None, universal_cert))

    assert info.value.code == "missing_private_key"
    assert "holds no private key" in info.value.message


def test_p12_without_certificate(certs: CertFactory, rsa_key: rsa.RSAPrivateKey):
    with pytest.raises(CredentialError) as info:
        load_p12(certs.p12(rsa_key, None))

    assert info.value.code == "missing_certificate"


def test_p12_whose_key_belongs_to_no_certificate(
    certs: CertFactory, other_key: ec.EllipticCurvePrivateKey, universal_cert: x509.Certificate
):
    with pytest.raises(CredentialError) as info:
        load_p12(certs.p12(other_key, None, cas=[universal_cert]))

    assert info.value.code == "key_mismatch"


def test_expired_certificate_names_the_date(certs: CertFactory, rsa_key: rsa.RSAPrivateKey):
    ended = datetime(2024, 3, 1, 12, 30, tzinfo=UTC)
    cert = certs.issue(rsa_key, not_before=ended - timedelta(days=365), not_after=ended)
    with pytest.raises(CredentialError) as info:
        load_p12(certs.p12(rsa_key, cert))

    assert info.value.code == "certificate_expired"
    assert "expired on 2024-03-01 12:30 UTC" in info.value.message
    assert "create a new APNs certificate" in info.value.message


def test_not_yet_valid_certificate(certs: CertFactory, rsa_key: rsa.RSAPrivateKey):
    start = datetime.now(UTC) + timedelta(days=2)
    cert = certs.issue(rsa_key, not_before=start, not_after=start + timedelta(days=365))
    with pytest.raises(CredentialError) as info:
        load_p12(certs.p12(rsa_key, cert))

    assert info.value.code == "certificate_not_yet_valid"
    assert f"not valid until {start:%Y-%m-%d %H:%M} UTC" in info.value.message


def test_certificate_without_uid_needs_a_topic(certs: CertFactory, rsa_key: rsa.RSAPrivateKey):
    p12 = certs.p12(rsa_key, certs.issue(rsa_key, uid=None))
    with pytest.raises(CredentialError) as info:
        load_p12(p12)

    assert info.value.code == "missing_topic"
    assert "no UID" in info.value.message
    assert load_p12(p12, topic="com.example.other").topic == "com.example.other"


def test_given_topic_must_match_the_certificate(universal_p12: bytes):
    assert load_p12(universal_p12, topic=BUNDLE_ID).topic == BUNDLE_ID
    with pytest.raises(CredentialError) as info:
        load_p12(universal_p12, topic="com.example.other")

    assert info.value.code == "topic_mismatch"
    assert f"for {BUNDLE_ID!r}, not 'com.example.other'" in info.value.message


def test_given_topic_with_suffix_is_invalid(universal_p12: bytes):
    with pytest.raises(CredentialError) as info:
        load_p12(universal_p12, topic=f"{BUNDLE_ID}.voip")

    assert info.value.code == "invalid_topic"


@pytest.mark.parametrize(
    "value",
    [b"\x30\x05\x0c\x09ab", b"\x04\x02ab", b"\x30\x04\x0c\x02\xff\xfe", b"\x30\x00"],
    ids=["truncated", "not-a-sequence", "bad-utf8", "empty"],
)
def test_malformed_topics_extension_is_tolerated(
    certs: CertFactory, rsa_key: rsa.RSAPrivateKey, value: bytes
):
    credential = load_p12(certs.p12(rsa_key, certs.issue(rsa_key, topics=value)))

    assert credential.topics == ()
    assert credential.topic == BUNDLE_ID


def test_certificate_without_topics_extension(certs: CertFactory, rsa_key: rsa.RSAPrivateKey):
    assert load_p12(certs.p12(rsa_key, certs.issue(rsa_key))).topics == ()


def test_pem_pair_loads(rsa_key: rsa.RSAPrivateKey, universal_cert: x509.Certificate):
    credential = load_certificate_credential(
        cert_pem=cert_pem(universal_cert), key_pem=pem_pkcs8(rsa_key), environment="sandbox"
    )

    assert (credential.topic, credential.environment) == (BUNDLE_ID, "sandbox")


def test_pem_chain_is_reordered_client_first(
    certs: CertFactory, rsa_key: rsa.RSAPrivateKey, universal_cert: x509.Certificate
):
    ca_cert = certs.issue(ec.generate_private_key(ec.SECP256R1()), uid=None)
    chain = cert_pem(ca_cert) + cert_pem(universal_cert)
    credential = load_certificate_credential(cert_pem=chain, key_pem=pem_pkcs8(rsa_key))

    assert credential.cert_pem == cert_pem(universal_cert) + cert_pem(ca_cert)


def test_encrypted_pem_key_with_password(
    rsa_key: rsa.RSAPrivateKey, universal_cert: x509.Certificate
):
    key_pem = pem_pkcs8(rsa_key, password=P12_PASSWORD.encode())
    credential = load_certificate_credential(
        cert_pem=cert_pem(universal_cert), key_pem=key_pem, password=P12_PASSWORD
    )
    assert b"ENCRYPTED" not in credential.key_pem


@pytest.mark.parametrize(
    ("password", "text"),
    [(None, "is encrypted; give the password"), ("wrong-one", "does not decrypt")],
)
def test_encrypted_pem_key_bad_password(
    rsa_key: rsa.RSAPrivateKey, universal_cert: x509.Certificate, password, text
):
    key_pem = pem_pkcs8(rsa_key, password=P12_PASSWORD.encode())
    with pytest.raises(CredentialError) as info:
        load_certificate_credential(
            cert_pem=cert_pem(universal_cert), key_pem=key_pem, password=password
        )

    assert info.value.code == "wrong_password"
    assert text in info.value.message
    assert_no_password(info.value)


def test_pem_key_mismatch(other_key: ec.EllipticCurvePrivateKey, universal_cert: x509.Certificate):
    key_pem = pem_pkcs8(other_key)
    with pytest.raises(CredentialError) as info:
        load_certificate_credential(cert_pem=cert_pem(universal_cert), key_pem=key_pem)

    assert info.value.code == "key_mismatch"
    assert "does not belong to the certificate" in info.value.message
    assert key_pem.splitlines()[1].decode() not in info.value.message


def test_unreadable_pem_certificate(rsa_key: rsa.RSAPrivateKey):
    with pytest.raises(CredentialError) as info:
        load_certificate_credential(cert_pem=b"garbage", key_pem=pem_pkcs8(rsa_key))

    assert info.value.code == "unreadable_certificate"


def test_unreadable_pem_key(universal_cert: x509.Certificate):
    with pytest.raises(CredentialError) as info:
        load_certificate_credential(cert_pem=cert_pem(universal_cert), key_pem=b"garbage")

    assert info.value.code == "unreadable_key"


def test_nothing_uploaded():
    with pytest.raises(CredentialError) as info:
        load_certificate_credential()

    assert info.value.code == "missing_certificate"
    assert "upload a .p12 file" in info.value.message


def test_certificate_without_key(universal_cert: x509.Certificate):
    with pytest.raises(CredentialError) as info:
        load_certificate_credential(cert_pem=cert_pem(universal_cert))

    assert info.value.code == "missing_private_key"


def test_p12_and_pem_together(universal_p12: bytes, universal_cert: x509.Certificate):
    with pytest.raises(CredentialError) as info:
        load_certificate_credential(p12=universal_p12, cert_pem=cert_pem(universal_cert))

    assert info.value.code == "conflicting_inputs"
