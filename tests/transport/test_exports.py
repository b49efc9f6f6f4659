"""The public surface of pushgate.transport is pinned: a change to it is deliberate."""

from __future__ import annotations

import pushgate.transport as transport
from pushgate.errors import TransportError


def test_all_is_pinned() -> None:
    assert set(transport.__all__) == {
        "ConnectError",
        "ConnectionLost",
        "GoAwayReceived",
        "HTTP2Pool",
        "Origin",
        "ProtocolError",
        "RequestTimeout",
        "Response",
        "ResponseHandler",
        "StreamReset",
        "TransportError",
        "client_context",
    }
    public = {name for name in dir(transport) if not name.startswith("_")}
    assert public - {"tls"} == set(transport.__all__)


def test_errors_are_transport_errors_with_retryable() -> None:
    for name in ("ConnectError", "ConnectionLost", "ProtocolError", "RequestTimeout"):
        assert issubclass(getattr(transport, name), TransportError)
    assert transport.ConnectError("x").retryable
    assert transport.ConnectionLost("x").retryable
    assert not transport.ProtocolError("x").retryable
    assert transport.ProtocolError("x", retryable=True).retryable
    assert transport.RequestTimeout("x").retryable
    assert not transport.StreamReset("x", error_code=1, unprocessed=False).retryable
    assert issubclass(transport.GoAwayReceived, transport.ConnectionLost)
    assert transport.StreamReset("x", error_code=7, unprocessed=True).retryable


def test_response_header_lookup() -> None:
    response = transport.Response(200, [(b"apns-id", b"1"), (b"apns-id", b"2")], b"")
    assert response.header(b"apns-id") == b"1" and response.header(b"missing") is None
