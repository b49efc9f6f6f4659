"""Session fixtures for the APNs provider tests: real keys and Apple-like certificates."""

from __future__ import annotations

import pytest
from apns_testkit import BUNDLE_ID, CertFactory, pem_pkcs8
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID


@pytest.fixture(scope="session")
def p256_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="session")
def p8_pem(p256_key: ec.EllipticCurvePrivateKey) -> bytes:
    """An APNs-style AuthKey .p8: PKCS#8 PEM of an EC P-256 key."""
    return pem_pkcs8(p256_key)


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    """The kind of key Apple's APNs client certificates use."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def other_key() -> ec.EllipticCurvePrivateKey:
    """A key that belongs to no certificate (for mismatch tests)."""
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="session")
def certs() -> CertFactory:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Apple WWDR CA")])
    return CertFactory(ca_key=ec.generate_private_key(ec.SECP256R1()), ca_name=name)


@pytest.fixture(scope="session")
def universal_cert(certs: CertFactory, rsa_key: rsa.RSAPrivateKey) -> x509.Certificate:
    """A certificate valid in both environments, with UID and a topics extension."""
    return certs.issue(
        rsa_key,
        topics=[
            (BUNDLE_ID, "app"),
            (f"{BUNDLE_ID}.voip", "voip"),
            (f"{BUNDLE_ID}.complication", "complication"),
        ],
    )


@pytest.fixture(scope="session")
def universal_p12(
    certs: CertFactory, rsa_key: rsa.RSAPrivateKey, universal_cert: x509.Certificate
) -> bytes:
    return certs.p12(rsa_key, universal_cert)
