"""The simulator CA: saved files, server certificates, Apple-like push certificates, PKCS#12."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from pushgate.simulator import SimulatorCA, _der, read_apns_certificate, to_p12
from pushgate.simulator.certs import APNS_TOPICS_OID


@pytest.fixture(scope="module")
def ca() -> SimulatorCA:
    return SimulatorCA.create()


def test_push_certificate_looks_like_apples(ca: SimulatorCA) -> None:
    cert_pem, key_pem = ca.issue_apns_client_cert(topic="com.example.chat")
    cert = x509.load_pem_x509_certificate(cert_pem)

    uid = cert.subject.get_attributes_for_oid(NameOID.USER_ID)[0].value
    common_name = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert (uid, common_name) == ("com.example.chat", "Apple Push Services: com.example.chat")
    oids = {e.oid.dotted_string: e.critical for e in cert.extensions}
    assert oids["1.2.840.113635.100.6.3.1"] is False
    assert oids["1.2.840.113635.100.6.3.2"] is False
    assert oids["1.2.840.113635.100.6.3.6"] is False
    assert key_pem.startswith(b"-----BEGIN PRIVATE KEY-----")


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ("sandbox", {"sandbox"}),
        ("production", {"production"}),
        ("universal", {"sandbox", "production"}),
    ],
)
def test_environment_extensions_read_back(
    ca: SimulatorCA, environment: str, expected: set[str]
) -> None:
    cert_pem, _ = ca.issue_apns_client_cert(topic="com.x", environment=environment)  # type: ignore[arg-type]

    assert read_apns_certificate(cert_pem).environments == expected


def test_topics_read_back_and_default_topic(ca: SimulatorCA) -> None:
    single = read_apns_certificate(ca.issue_apns_client_cert(topic="com.x")[0])
    multi = read_apns_certificate(
        ca.issue_apns_client_cert(topic="com.x", extra_topics=("org.other",))[0]
    )

    assert single.topics == ("com.x", "com.x.voip", "com.x.complication")
    assert single.default_topic == "com.x"
    assert multi.topics[-1] == "org.other"
    assert multi.default_topic is None


def test_topics_extension_layout(ca: SimulatorCA) -> None:
    cert = x509.load_pem_x509_certificate(ca.issue_apns_client_cert(topic="com.x")[0])
    raw = cert.extensions.get_extension_for_oid(APNS_TOPICS_OID).value.value  # type: ignore[attr-defined]

    [(tag, content)] = list(_der.elements(raw))
    inner = list(_der.elements(content))

    assert tag == _der.SEQUENCE
    assert [t for t, _ in inner] == [_der.UTF8_STRING, _der.SEQUENCE] * 3
    assert inner[0][1] == b"com.x"
    assert list(_der.elements(inner[1][1])) == [(_der.UTF8_STRING, b"app")]


def test_long_der_lengths_round_trip() -> None:
    text = "t" * 300

    [(tag, content)] = list(_der.elements(_der.sequence(_der.utf8_string(text))))

    assert (tag, list(_der.elements(content))) == (
        _der.SEQUENCE, [(_der.UTF8_STRING, text.encode())],
    )  # fmt: skip
    with pytest.raises(ValueError):
        list(_der.elements(b"\x30\x05\x0c"))


@pytest.mark.parametrize("password", [b"secret", None])
def test_p12_round_trip(ca: SimulatorCA, password: bytes | None) -> None:
    cert_pem, key_pem = ca.issue_apns_client_cert(topic="com.x")

    key, cert, _ = pkcs12.load_key_and_certificates(to_p12(cert_pem, key_pem, password), password)

    assert cert is not None and key is not None
    assert read_apns_certificate(cert).subject_uid == "com.x"
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()  # type: ignore[union-attr]


def test_save_and_load(ca: SimulatorCA, tmp_path: Path) -> None:
    ca.save(tmp_path)

    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    loaded = SimulatorCA.load(tmp_path)

    assert modes == {"ca.pem": 0o644, "ca.key": 0o600, "server.pem": 0o644, "server.key": 0o600}
    assert loaded.ca_cert_pem == ca.ca_cert_pem
    assert loaded.server_credentials() == ca.server_credentials()


def test_load_or_create_reuses_the_saved_ca(tmp_path: Path) -> None:
    first = SimulatorCA.load_or_create(tmp_path / "state")
    second = SimulatorCA.load_or_create(tmp_path / "state")

    assert first.ca_cert_pem == second.ca_cert_pem


def test_server_certificate_for_other_names_is_reissued(tmp_path: Path) -> None:
    ca = SimulatorCA.create()
    default_pem, _ = ca.server_credentials()

    other_pem, _ = ca.server_credentials(("push.test",), ("127.0.0.2",))

    cert = x509.load_pem_x509_certificate(other_pem)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert other_pem != default_pem
    assert san.get_values_for_type(x509.DNSName) == ["push.test"]
    assert ca.server_credentials(("push.test",), ("127.0.0.2",))[0] == other_pem


def test_certificate_without_apns_fields_reads_as_empty(ca: SimulatorCA) -> None:
    server_pem, _ = ca.server_credentials()

    info = read_apns_certificate(server_pem)

    assert (info.subject_uid, info.topics, info.environments) == (None, (), frozenset())
    assert info.default_topic is None


def test_repr_shows_no_key_material(ca: SimulatorCA) -> None:
    assert "PRIVATE" not in repr(ca)


def test_client_certificates_are_rsa_signed_like_apples(ca: SimulatorCA) -> None:
    cert = x509.load_pem_x509_certificate(ca.issue_apns_client_cert(topic="com.x")[0])

    assert cert.signature_algorithm_oid == x509.SignatureAlgorithmOID.RSA_WITH_SHA256
    assert isinstance(cert.public_key(), rsa.RSAPublicKey)


def test_an_older_ec_ca_is_replaced_by_an_rsa_one(tmp_path: Path) -> None:
    older = SimulatorCA.load_or_create(tmp_path)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    older._ca_key = ec_key  # what a state dir written by an older version holds
    older.save(tmp_path)

    reloaded = SimulatorCA.load_or_create(tmp_path)
    cert = x509.load_pem_x509_certificate(reloaded.issue_apns_client_cert(topic="com.x")[0])

    assert cert.signature_algorithm_oid == x509.SignatureAlgorithmOID.RSA_WITH_SHA256
    assert SimulatorCA.load(tmp_path).ca_cert_pem == reloaded.ca_cert_pem  # saved
