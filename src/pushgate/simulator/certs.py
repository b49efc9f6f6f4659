"""The simulator's certificate authority: TLS server certificate and Apple-like APNs client certificates.

Client certificates mimic Apple's "Apple Push Services" certificates closely enough for the gateway's
credential loader and for the simulator's certificate authentication:

* subject ``UID`` (OID 0.9.2342.19200300.100.1.1) = the bundle id, ``CN`` = ``Apple Push Services: <topic>``;
* extension ``1.2.840.113635.100.6.3.1`` (development / sandbox) and/or ``1.2.840.113635.100.6.3.2``
  (production), each with a DER ``NULL`` value, both present on a "universal" certificate;
* extension ``1.2.840.113635.100.6.3.6`` (topics), encoded the way Apple's certificates are::

      SEQUENCE {
        UTF8String "com.example.app",              SEQUENCE { UTF8String "app" },
        UTF8String "com.example.app.voip",         SEQUENCE { UTF8String "voip" },
        UTF8String "com.example.app.complication", SEQUENCE { UTF8String "complication" },
        ...extra topics, each followed by SEQUENCE { UTF8String "app" }
      }

  A reader takes the top-level UTF8Strings and skips the nested SEQUENCEs (this is what pushy's
  ``TopicUtil`` does), so it also reads a plain ``SEQUENCE OF UTF8String``.

All extensions are non-critical, so ordinary TLS stacks accept the certificates.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from pushgate.simulator import _der

APNS_DEVELOPMENT_OID = ObjectIdentifier("1.2.840.113635.100.6.3.1")
APNS_PRODUCTION_OID = ObjectIdentifier("1.2.840.113635.100.6.3.2")
APNS_TOPICS_OID = ObjectIdentifier("1.2.840.113635.100.6.3.6")

CertificateEnvironment = Literal["sandbox", "production", "universal"]
_FILES = ("ca.pem", "ca.key", "server.pem", "server.key")
_TOPIC_KINDS = ((".voip", "voip"), (".complication", "complication"))

_SigningKey: TypeAlias = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True, slots=True)
class ApnsCertificateInfo:
    """What an APNs client certificate says about itself."""

    subject_uid: str | None
    topics: tuple[str, ...]
    environments: frozenset[str]  # subset of {"sandbox", "production"}

    @property
    def default_topic(self) -> str | None:
        """The UID when every topic belongs to that one app (``apns-topic`` may then be omitted)."""
        uid = self.subject_uid
        if uid is None or any(t != uid and not t.startswith(uid + ".") for t in self.topics):
            return None
        return uid


def read_apns_certificate(certificate: x509.Certificate | bytes) -> ApnsCertificateInfo:
    """Read UID, topics and environments from an APNs client certificate (PEM, DER or parsed)."""
    cert = _as_certificate(certificate)
    uids = cert.subject.get_attributes_for_oid(NameOID.USER_ID)
    uid = str(uids[0].value) if uids else None
    environments = set()
    for oid, name in ((APNS_DEVELOPMENT_OID, "sandbox"), (APNS_PRODUCTION_OID, "production")):
        if _extension_value(cert, oid) is not None:
            environments.add(name)
    raw_topics = _extension_value(cert, APNS_TOPICS_OID)
    topics = _decode_topics(raw_topics) if raw_topics is not None else ()
    if uid is not None and uid not in topics:
        topics = (uid, *topics)
    return ApnsCertificateInfo(uid, topics, frozenset(environments))


def to_p12(cert_pem: bytes, key_pem: bytes, password: bytes | None) -> bytes:
    """Bundle a certificate and its key as PKCS#12 (what Keychain exports as ``.p12``)."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    key = serialization.load_pem_private_key(key_pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise TypeError("only RSA and EC keys can be bundled")
    encryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    name = cert.subject.rfc4514_string().encode()
    return pkcs12.serialize_key_and_certificates(name, key, cert, None, encryption)


class SimulatorCA:
    """A private CA that signs the simulator's TLS server certificate and APNs client certificates."""

    def __init__(
        self,
        ca_cert: x509.Certificate,
        ca_key: _SigningKey,
        server_cert: x509.Certificate,
        server_key: _SigningKey,
    ) -> None:
        self._ca_cert = ca_cert
        self._ca_key = ca_key
        self._server_cert = server_cert
        self._server_key = server_key

    def __repr__(self) -> str:
        return f"SimulatorCA({self._ca_cert.subject.rfc4514_string()!r})"

    @classmethod
    def create(cls, common_name: str = "pushgate simulator CA") -> SimulatorCA:
        """Make a new CA and a server certificate for localhost / 127.0.0.1.

        The CA key is RSA, so the client certificates it signs are RSA-signed like Apple's:
        some clients (node-forge among them) cannot read an ECDSA-signed certificate.
        """
        ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        builder = _builder(name, name, ca_key.public_key(), days=3650)
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
        builder = builder.add_extension(_ca_key_usage(), True)
        ca_cert = builder.sign(ca_key, hashes.SHA256())
        server_cert, server_key = _issue_server(ca_cert, ca_key, ("localhost",), ("127.0.0.1",))
        return cls(ca_cert, ca_key, server_cert, server_key)

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> SimulatorCA:
        """Read ca.pem, ca.key, server.pem and server.key written by :meth:`save`."""
        folder = Path(directory)
        ca_cert = x509.load_pem_x509_certificate((folder / "ca.pem").read_bytes())
        server_cert = x509.load_pem_x509_certificate((folder / "server.pem").read_bytes())
        return cls(
            ca_cert, _load_key(folder / "ca.key"), server_cert, _load_key(folder / "server.key")
        )

    @classmethod
    def load_or_create(cls, directory: str | os.PathLike[str]) -> SimulatorCA:
        """Reuse the CA saved in ``directory``, or create one and save it there.

        A saved CA with an EC key (made by an older version) is replaced by an RSA one.
        """
        if all((Path(directory) / name).exists() for name in _FILES):
            ca = cls.load(directory)
            if isinstance(ca._ca_key, rsa.RSAPrivateKey):
                return ca
        ca = cls.create()
        ca.save(directory)
        return ca

    def save(self, directory: str | os.PathLike[str]) -> None:
        """Write ca.pem, ca.key, server.pem, server.key; the keys are readable by the owner only."""
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        _write(folder / "ca.pem", _cert_pem(self._ca_cert), 0o644)
        _write(folder / "ca.key", _key_pem(self._ca_key), 0o600)
        _write(folder / "server.pem", _cert_pem(self._server_cert), 0o644)
        _write(folder / "server.key", _key_pem(self._server_key), 0o600)

    @property
    def ca_cert_pem(self) -> bytes:
        """The CA certificate that clients must trust."""
        return _cert_pem(self._ca_cert)

    def server_credentials(
        self, hostnames: tuple[str, ...] = ("localhost",), ips: tuple[str, ...] = ("127.0.0.1",)
    ) -> tuple[bytes, bytes]:
        """Return (cert_pem, key_pem) of the server certificate for these names.

        The stored server certificate is reissued (and kept, so :meth:`save` persists it) when it
        does not name exactly these hosts and addresses.
        """
        if _san_names(self._server_cert) != (
            set(hostnames),
            {ipaddress.ip_address(i) for i in ips},
        ):
            self._server_cert, self._server_key = _issue_server(
                self._ca_cert, self._ca_key, hostnames, ips
            )
        return _cert_pem(self._server_cert), _key_pem(self._server_key)

    def issue_apns_client_cert(
        self,
        *,
        topic: str,
        environment: CertificateEnvironment = "universal",
        extra_topics: tuple[str, ...] = (),
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
    ) -> tuple[bytes, bytes]:
        """Return (cert_pem, key_pem) of an Apple-like push certificate for bundle id ``topic``."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.USER_ID, topic),
                x509.NameAttribute(NameOID.COMMON_NAME, f"Apple Push Services: {topic}"),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "SIMULATOR1"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "pushgate simulator"),
                x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            ]
        )
        builder = _builder(
            self._ca_cert.subject, subject, key.public_key(),
            days=365, not_before=not_before, not_after=not_after,
        )  # fmt: skip
        builder = _leaf_extensions(builder, self._ca_key, ExtendedKeyUsageOID.CLIENT_AUTH)
        for oid in _environment_oids(environment):
            builder = builder.add_extension(x509.UnrecognizedExtension(oid, _der.NULL), False)
        topics = x509.UnrecognizedExtension(APNS_TOPICS_OID, _encode_topics(topic, extra_topics))
        cert = builder.add_extension(topics, False).sign(self._ca_key, hashes.SHA256())
        return _cert_pem(cert), _key_pem(key)


def _issue_server(
    ca_cert: x509.Certificate, ca_key: _SigningKey, hostnames: tuple[str, ...], ips: tuple[str, ...]
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """Sign a TLS server certificate naming these DNS names and IP addresses."""
    key = ec.generate_private_key(ec.SECP256R1())
    common_name = hostnames[0] if hostnames else ips[0]
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    names: list[x509.GeneralName] = [x509.DNSName(h) for h in hostnames]
    names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    builder = _builder(ca_cert.subject, subject, key.public_key(), days=825)
    builder = _leaf_extensions(builder, ca_key, ExtendedKeyUsageOID.SERVER_AUTH)
    builder = builder.add_extension(x509.SubjectAlternativeName(names), False)
    return builder.sign(ca_key, hashes.SHA256()), key


def _builder(
    issuer: x509.Name,
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey,
    *,
    days: int,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> x509.CertificateBuilder:
    """Start a certificate valid from an hour ago for ``days`` days, unless told otherwise."""
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .issuer_name(issuer)
        .subject_name(subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - dt.timedelta(hours=1))
        .not_valid_after(not_after or now + dt.timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), False)
    )


def _leaf_extensions(
    builder: x509.CertificateBuilder, ca_key: _SigningKey, usage: ObjectIdentifier
) -> x509.CertificateBuilder:
    """Add the extensions every end-entity certificate carries."""
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
    return (
        builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        .add_extension(aki, False)
        .add_extension(x509.ExtendedKeyUsage([usage]), False)
    )


def _ca_key_usage() -> x509.KeyUsage:
    """Key usage of a CA that only signs certificates and CRLs."""
    return x509.KeyUsage(
        digital_signature=False, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip


def _environment_oids(environment: CertificateEnvironment) -> tuple[ObjectIdentifier, ...]:
    """Map a certificate environment to Apple's extension OIDs."""
    if environment == "sandbox":
        return (APNS_DEVELOPMENT_OID,)
    if environment == "production":
        return (APNS_PRODUCTION_OID,)
    if environment == "universal":
        return (APNS_DEVELOPMENT_OID, APNS_PRODUCTION_OID)
    raise ValueError("environment must be 'sandbox', 'production' or 'universal'")


def _encode_topics(topic: str, extra_topics: tuple[str, ...]) -> bytes:
    """Encode the topics extension value in Apple's layout (see the module docstring)."""
    pairs = [(topic, "app")] + [(topic + suffix, kind) for suffix, kind in _TOPIC_KINDS]
    pairs += [(extra, "app") for extra in extra_topics]
    parts = [_der.utf8_string(t) + _der.sequence(_der.utf8_string(k)) for t, k in pairs]
    return _der.sequence(*parts)


def _decode_topics(value: bytes) -> tuple[str, ...]:
    """Return the top-level strings of the topics extension; () if it is not a SEQUENCE."""
    try:
        outer = list(_der.elements(value))
        if len(outer) != 1 or outer[0][0] != _der.SEQUENCE:
            return ()
        inner = _der.elements(outer[0][1])
        return tuple(c.decode() for tag, c in inner if tag == _der.UTF8_STRING)
    except (ValueError, UnicodeDecodeError):
        return ()


def _extension_value(cert: x509.Certificate, oid: ObjectIdentifier) -> bytes | None:
    """Raw value of an extension cryptography does not interpret, or None."""
    try:
        extension = cert.extensions.get_extension_for_oid(oid)
    except x509.ExtensionNotFound:
        return None
    value = extension.value
    return value.value if isinstance(value, x509.UnrecognizedExtension) else None


def _san_names(cert: x509.Certificate) -> tuple[set[str], set[object]]:
    """DNS names and IP addresses named by a certificate."""
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(san.get_values_for_type(x509.DNSName)), set(san.get_values_for_type(x509.IPAddress))


def _as_certificate(certificate: x509.Certificate | bytes) -> x509.Certificate:
    """Accept a parsed certificate, PEM bytes or DER bytes."""
    if isinstance(certificate, x509.Certificate):
        return certificate
    if certificate.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_certificate(certificate)
    return x509.load_der_x509_certificate(certificate)


def _load_key(path: Path) -> _SigningKey:
    """Read an unencrypted PEM private key."""
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValueError(f"{path.name} does not hold an EC or RSA private key")
    return key


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: _SigningKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write a file created with ``mode`` from the start (no window where a key is world-readable)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, mode)
