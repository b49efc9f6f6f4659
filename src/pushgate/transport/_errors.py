"""The errors pushgate.transport raises: every failure maps onto one of these.

    TransportError (pushgate.errors)
    ├── ConnectError        TCP, TLS or ALPN failed; nothing was sent
    ├── RequestTimeout      no complete answer before the request's deadline
    ├── StreamReset         the server reset the stream (RST_STREAM)
    ├── ConnectionLost      the connection died or was shut down under the request
    │   └── GoAwayReceived  ... because the server sent GOAWAY
    └── ProtocolError       the server violated HTTP/2

Two separate questions, two attributes:

``retryable``: can the same request, sent again later, succeed? False only when the failure
is about this very request and would repeat on every try: the server reset the stream with
PROTOCOL_ERROR (what HTTP/2 servers answer to an illegal header field), or the response on
this stream broke HTTP/2. Providers turn a non-retryable error into a rejection of that one
notification instead of spending its attempts (``pushgate.providers.failures``). Everything
else (connects, timeouts, resets, lost connections, a connection-wide protocol violation that
no single request caused) is retryable.

``unprocessed``: True only when the server certainly never processed the request, so
resending it cannot deliver a notification twice. A retryable error that is not unprocessed
may be a duplicate when resent (push delivery is at-least-once).

``suspect``: True when the server ended the connection with an error code in a GOAWAY whose
last-stream-id is this very stream: servers name the stream whose frames they were reading
when they found the violation (h2 and nghttp2 both count it as received), so this request is
the likely cause of a connection-wide failure. One such failure proves nothing (the others on
the connection fail too, and a network fault can land anywhere); dispatch rejects a delivery
that is the suspect twice (``pushgate.dispatch``).
Messages never contain header values, paths or bodies (they can hold secrets and tokens).
"""

from __future__ import annotations

from typing import Final

from pushgate.errors import TransportError

__all__ = [
    "ConnectError",
    "ConnectionLost",
    "GoAwayReceived",
    "ProtocolError",
    "RequestTimeout",
    "StreamReset",
]

PROTOCOL_ERROR_CODE: Final = 0x1
"""The HTTP/2 error code PROTOCOL_ERROR (RFC 9113 §7)."""


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
    retryable = True

    def __init__(self, message: str, *, unprocessed: bool = False) -> None:
        super().__init__(message)
        self.unprocessed = unprocessed


class StreamReset(TransportError):
    """The server reset the stream with RST_STREAM ``error_code``.

    REFUSED_STREAM (0x7) means the server did not process the request (``unprocessed``);
    PROTOCOL_ERROR (0x1) that the request itself was malformed, so it is not ``retryable``.
    """

    code = "stream_reset"

    def __init__(self, message: str, *, error_code: int, unprocessed: bool) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.unprocessed = unprocessed
        self.retryable = error_code != PROTOCOL_ERROR_CODE


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
        suspect: bool = False,
    ) -> None:
        super().__init__(message, unprocessed=unprocessed, goaway_reason=goaway_reason)
        self.error_code = error_code
        self.suspect = suspect


class ProtocolError(TransportError):
    """The server broke the HTTP/2 protocol.

    On one stream (a malformed response to this request) the stream is reset and the error is
    not ``retryable``; a violation of the connection as a whole closes it and fails every
    stream on it with ``retryable=True``: none of those requests is known to be the cause.
    """

    code = "protocol_error"
    unprocessed = False

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable
