"""APNs certificate authentication over real TLS client certificates."""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sim_support import TOPIC, Connect, FakeClock, SigningKey, push

from pushgate.simulator import Simulator, SimulatorCA


async def test_certificate_push_without_topic_uses_the_uid(
    sim: Simulator, connect: Connect
) -> None:
    client = await connect("production", cert=sim.issue_client_certificate(TOPIC, "production"))

    answer = await push(client, None, topic=None)

    assert answer.status == 200
    [item] = sim.inbox.query()
    assert (item.topic, item.environment) == (TOPIC, "production")
    assert (item.auth.kind, item.auth.subject_uid) == ("certificate", TOPIC)


async def test_certificate_connections_get_the_full_stream_limit_at_once(
    sim: Simulator, connect: Connect
) -> None:
    client = await connect("sandbox", cert=sim.issue_client_certificate(TOPIC))

    assert client.max_streams == 1000


async def test_certificate_covers_voip_and_complication_topics(
    sim: Simulator, connect: Connect
) -> None:
    client = await connect("sandbox", cert=sim.issue_client_certificate(TOPIC, "sandbox"))

    voip = await push(client, None, topic=f"{TOPIC}.voip", apns_push_type="voip")
    watch = await push(client, None, topic=f"{TOPIC}.complication", apns_push_type="complication")
    other = await push(client, None, topic="com.example.other")

    assert (voip.status, watch.status) == (200, 200)
    assert (other.status, other.reason) == (400, "TopicDisallowed")


async def test_multi_app_certificate_requires_a_topic(sim: Simulator, connect: Connect) -> None:
    cert = sim.issue_client_certificate(TOPIC, extra_topics=("com.example.other",))
    client = await connect("sandbox", cert=cert)

    missing = await push(client, None, topic=None)
    other = await push(client, None, topic="com.example.other")

    assert (missing.status, missing.reason) == (400, "MissingTopic")
    assert other.status == 200


async def test_certificate_of_the_other_environment(sim: Simulator, connect: Connect) -> None:
    client = await connect("production", cert=sim.issue_client_certificate(TOPIC, "sandbox"))

    answer = await push(client, None)

    assert (answer.status, answer.reason) == (403, "BadCertificateEnvironment")


async def test_authorization_header_is_ignored_on_certificate_connections(
    sim: Simulator, connect: Connect, key: SigningKey, clock: FakeClock
) -> None:
    client = await connect("sandbox", cert=sim.issue_client_certificate(TOPIC))

    answer = await push(client, "garbage")

    assert answer.status == 200
    assert sim.inbox.query()[0].auth.kind == "certificate"


async def test_ca_signed_certificate_without_apns_fields_is_bad(
    sim: Simulator, connect: Connect, settings: object
) -> None:
    state_dir = Path(sim.ca_file).parent
    ca_key = serialization.load_pem_private_key((state_dir / "ca.key").read_bytes(), None)
    ca_cert = x509.load_pem_x509_certificate((state_dir / "ca.pem").read_bytes())
    assert isinstance(ca_key, rsa.RSAPrivateKey)
    client_key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "not apns")]))
        .issuer_name(ca_cert.subject)
        .public_key(client_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = client_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    client = await connect("sandbox", cert=(pem, key_pem))

    answer = await push(client, None)

    assert (answer.status, answer.reason) == (403, "BadCertificate")


@pytest.mark.parametrize("problem", ["foreign CA", "expired"])
async def test_untrusted_certificates_fail_the_handshake(
    sim: Simulator, connect: Connect, problem: str
) -> None:
    if problem == "foreign CA":
        cert = SimulatorCA.create().issue_apns_client_cert(topic=TOPIC)
    else:
        past = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
        cert = sim.ca.issue_apns_client_cert(
            topic=TOPIC, not_before=past, not_after=past + dt.timedelta(days=1)
        )

    # TLS 1.3 reports the refused client certificate on the first read, TLS 1.2 in the handshake
    with pytest.raises((ssl.SSLError, ConnectionError)):
        await connect("sandbox", cert=cert)
