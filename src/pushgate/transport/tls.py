"""Builds the client TLS context: TLS 1.2+, ALPN h2, certificate verification always on."""

from __future__ import annotations

import os
import ssl
import tempfile

from pushgate.errors import ConfigurationError

__all__ = ["client_context"]


def client_context(
    *,
    ca_file: str | None = None,
    cert_chain: tuple[str, str] | None = None,
    cert_pem: bytes | None = None,
    key_pem: bytes | None = None,
) -> ssl.SSLContext:
    """Return a client context for HTTP/2 push services.

    ``ca_file`` trusts exactly that CA bundle instead of the system store (verification
    stays on). A client certificate comes either from files (``cert_chain`` = (cert, key))
    or from PEM bytes (``cert_pem`` + ``key_pem``), which are written to a private temporary
    file only for loading and removed right after. Unusable files raise ConfigurationError.
    """
    if cert_chain is not None and (cert_pem is not None or key_pem is not None):
        raise ValueError("give either cert_chain or cert_pem/key_pem, not both")
    if (cert_pem is None) != (key_pem is None):
        raise ValueError("cert_pem and key_pem must be given together")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED + check_hostname
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["h2"])
    _load_trust(context, ca_file)
    if cert_chain is not None:
        _load_client_files(context, *cert_chain)
    elif cert_pem is not None and key_pem is not None:
        _load_client_pem(context, cert_pem, key_pem)
    return context


def _load_trust(context: ssl.SSLContext, ca_file: str | None) -> None:
    """Trust ``ca_file`` only, or the system default store when it is None."""
    if ca_file is None:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
        return
    try:
        context.load_verify_locations(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(
            f"cannot load CA bundle {ca_file!r}: {_reason(exc)}", code="invalid_ca_file"
        ) from exc


def _load_client_files(
    context: ssl.SSLContext, cert_file: str, key_file: str, *, label: str | None = None
) -> None:
    """Load the client certificate chain and its private key from files."""
    try:
        context.load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(
            f"cannot load client certificate {label or repr(cert_file)}: {_reason(exc)}",
            code="invalid_client_certificate",
        ) from exc


def _load_client_pem(context: ssl.SSLContext, cert_pem: bytes, key_pem: bytes) -> None:
    """Load a client certificate from memory through a private, short-lived temp file."""
    with tempfile.TemporaryDirectory(prefix="pushgate-tls-") as directory:
        path = os.path.join(directory, "client.pem")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(cert_pem.rstrip(b"\n") + b"\n" + key_pem)
            _load_client_files(context, path, path, label="cert_pem/key_pem")
        finally:
            os.unlink(path)


def _reason(exc: BaseException) -> str:
    """A short description of an OS/SSL error, without any file contents."""
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return type(exc).__name__
