"""The errors pushgate.transport raises: every failure maps onto one of these.

    TransportError (pushgate.errors)
    ├── ConnectError        TCP, TLS or ALPN failed; nothing was sent
    ├── RequestTimeout      no complete answer before the request's deadline
    ├── StreamReset         the server reset the stream (RST_STREAM)
    ├── ConnectionLost      the connection died or was shut down under the request
    │   └── GoAwayReceived  ... because the server sent GOAWAY
    └── ProtocolError       the server violated HTTP/2

``retryable`` says whether sending the same request again is safe and may succeed.
``unprocessed`` (where present) is True only when the server certainly never processed
the request, so resending it cannot deliver a notification twice.
Messages never contain header values, paths or bodies (they can hold secrets and tokens).
"""

from __future__ import annotations

from pushgate.errors import TransportError

__all__ = [
    "ConnectError",
    "ConnectionLost",
    "GoAwayReceived",
    "ProtocolError",
    "RequestTimeout",
    "StreamReset",
]


class ConnectError(TransportError):
    """Opening the connection failed (DNS, TCP, TLS handshake, certificate, ALPN)."""

    code = "connect_error"
    retryable = True
    unprocessed = True


class RequestTimeout(TransportError):
    """No complete response arrived before the request's deadline.

    ``unprocessed`` is True when the request timed out while waiting for a free stream,
    before anything was sent; otherwise the server may have processed it.
    """

    code = "request_timeout"

    def __init__(self, message: str, *, unprocessed: bool = False) -> None:
        super().__init__(message)
        self.unprocessed = unprocessed
        self.retryable = unprocessed


class StreamReset(TransportError):
    """The server reset the stream with RST_STREAM ``error_code``.

    REFUSED_STREAM (0x7) means the server did not process the request (``unprocessed``).
    """

    code = "stream_reset"

    def __init__(self, message: str, *, error_code: int, unprocessed: bool) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.unprocessed = unprocessed
        self.retryable = unprocessed


class ConnectionLost(TransportError):
    """The connection failed or closed before the response was complete.

    ``unprocessed`` is True when the request never reached the server or the server said
    (through GOAWAY's last stream id) that it did not process it.
    """

    code = "connection_lost"
    retryable = True

    def __init__(
        self, message: str, *, unprocessed: bool = False, goaway_reason: str | None = None
    ) -> None:
        super().__init__(message)
        self.unprocessed = unprocessed
        self.goaway_reason = goaway_reason


class GoAwayReceived(ConnectionLost):
    """The server shut the connection down with GOAWAY (``error_code``, ``goaway_reason``)."""

    code = "goaway"

    def __init__(
        self,
        message: str,
        *,
        unprocessed: bool,
        error_code: int,
        goaway_reason: str | None,
    ) -> None:
        super().__init__(message, unprocessed=unprocessed, goaway_reason=goaway_reason)
        self.error_code = error_code


class ProtocolError(TransportError):
    """The server broke the HTTP/2 protocol; the connection is closed."""

    code = "protocol_error"
    retryable = False
    unprocessed = False
