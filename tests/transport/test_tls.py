"""client_context: verification always on, exact trust, client certificates."""

from __future__ import annotations

import os
import ssl
import tempfile

import pytest
from transport_testkit import PKI

from pushgate.errors import ConfigurationError
from pushgate.transport import client_context


def test_verification_on_and_tls_12_minimum(pki: PKI) -> None:
    context = client_context(ca_file=pki.ca_file)
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version is ssl.TLSVersion.TLSv1_2


def test_ca_file_is_the_only_trust(pki: PKI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", pki.other_ca_file)
    context = client_context(ca_file=pki.ca_file)
    subjects = [dict(item[0] for item in cert["subject"]) for cert in context.get_ca_certs()]
    assert subjects == [{"commonName": "pushgate test CA"}]


def test_system_store_without_ca_file() -> None:
    context = client_context()
    assert context.verify_mode is ssl.CERT_REQUIRED


def test_client_certificate_from_memory_leaves_no_file(pki: PKI) -> None:
    before = set(os.listdir(tempfile.gettempdir()))
    client_context(ca_file=pki.ca_file, cert_pem=pki.client_cert_pem, key_pem=pki.client_key_pem)
    leftovers = set(os.listdir(tempfile.gettempdir())) - before
    assert not [name for name in leftovers if name.startswith("pushgate-tls-")]


def test_client_certificate_from_files(pki: PKI, tmp_path: os.PathLike[str]) -> None:
    cert = os.path.join(tmp_path, "client.pem")
    key = os.path.join(tmp_path, "client.key")
    with open(cert, "wb") as handle:
        handle.write(pki.client_cert_pem)
    with open(key, "wb") as handle:
        handle.write(pki.client_key_pem)
    client_context(ca_file=pki.ca_file, cert_chain=(cert, key))


def test_unusable_inputs(pki: PKI) -> None:
    with pytest.raises(ConfigurationError, match="client certificate") as info:
        client_context(cert_pem=b"not a cert", key_pem=pki.client_key_pem)
    assert b"PRIVATE" not in str(info.value).encode()
    with pytest.raises(ConfigurationError, match="CA bundle"):
        client_context(ca_file="/nonexistent/ca.pem")
    with pytest.raises(ValueError):
        client_context(cert_pem=pki.client_cert_pem)
    with pytest.raises(ValueError):
        client_context(cert_chain=("a", "b"), cert_pem=b"x", key_pem=b"y")
