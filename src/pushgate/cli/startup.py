"""Start-up checks of ``pushgate serve`` and ``pushgate simulator``: whatever would stop the
process, or make every delivery fail later, is refused at once in one line saying what to fix,
with exit code 2 (1 stays for a refused client command)."""

from __future__ import annotations

import errno
import os
import socket
import ssl
import tempfile
from contextlib import AbstractContextManager
from pathlib import Path

from pushgate.cli.common import user_errors
from pushgate.config import Settings
from pushgate.errors import ConfigurationError
from pushgate.files import private_dir

STARTUP_EXIT = 2


class StartupError(ConfigurationError):
    """The process cannot start as configured."""

    code = "startup_error"


def startup_errors() -> AbstractContextManager[None]:
    """Print a start-up failure as one line and exit 2."""
    return user_errors(STARTUP_EXIT)


def preflight(settings: Settings) -> None:
    """Refuse a data dir that cannot be written and CA files or listeners' certificates that
    cannot be loaded."""
    check_data_dir(settings.data_dir)
    listeners = [("server", settings.server)]
    listeners += [
        (f"mattermost[{index}].listener", door.listener)
        for index, door in enumerate(settings.mattermost)
        if door.listener is not None
    ]
    for option, tls in listeners:
        if tls.tls_cert_file is not None and tls.tls_key_file is not None:
            _check_tls_pair(option, tls.tls_cert_file, tls.tls_key_file)
    for option, path in (
        ("apns.ca_file", settings.apns.ca_file),
        ("fcm.ca_file", settings.fcm.ca_file),
        ("webpush.ca_file", settings.webpush.ca_file),
    ):
        if path is not None:
            _check_ca_file(option, Path(path))


def check_data_dir(data_dir: Path) -> None:
    """The data dir exists (or can be made, 0700) and takes files."""
    try:
        private_dir(data_dir)
        with tempfile.TemporaryFile(dir=data_dir):
            pass
    except OSError as exc:
        raise StartupError(
            f"Cannot use the data directory {data_dir}: {_reason(exc)}. "
            "Give a writable directory with --data-dir or data_dir."
        ) from None


def _check_tls_pair(option: str, cert: Path, key: Path) -> None:
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as exc:
        raise StartupError(
            f"{option}.tls_cert_file {cert} and {option}.tls_key_file {key} do not load as a "
            f"certificate chain and its private key (PEM): {_reason(exc)}."
        ) from None


def _check_ca_file(option: str, path: Path) -> None:
    if not path.is_file():
        raise StartupError(
            f"{option} {path} does not exist. Point it at the simulator's ca.pem "
            "(pushgate serve --simulator sets every CA file itself), or remove it to trust "
            "the system's certificate store."
        )
    try:
        ssl.create_default_context(cafile=str(path))
    except (ssl.SSLError, OSError):
        raise StartupError(
            f"{option} {path} holds no PEM certificate; give the CA certificate file (ca.pem)."
        ) from None


def listening_socket(host: str, port: int, what: str = "the gateway's API") -> socket.socket:
    """A bound, listening TCP socket for ``host:port``, or a StartupError naming the fix."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise StartupError(port_problem(host, port, exc, what)) from None
    os.set_inheritable(sock.fileno(), False)
    return sock


def port_problem(host: str, port: int, exc: OSError, what: str) -> str:
    """One sentence saying why ``host:port`` cannot be listened on and what to do."""
    if exc.errno == errno.EADDRINUSE:
        return (
            f"Port {port} on {host} is already in use, so {what} cannot listen there: stop the "
            "other process (another pushgate?) or choose another port."
        )
    return f"Cannot listen on {host}:{port} for {what}: {_reason(exc)}."


def simulator_cannot_start(exc: OSError, fix: str) -> StartupError:
    """The error for a simulator whose listeners could not open (a port in use, mostly)."""
    return StartupError(f"The simulator cannot start: {_reason(exc)}. {fix}")


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)
