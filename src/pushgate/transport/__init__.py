"""pushgate.transport: a lean asyncio HTTP/2 client for push services (APNs, FCM, Web Push).

``HTTP2Pool`` sends requests over pooled TLS connections to an ``Origin`` and returns a
``Response``; ``client_context`` builds the TLS context. Every failure is one of the errors
below, all subclasses of ``pushgate.errors.TransportError``.
"""

from pushgate.errors import TransportError

from ._errors import (
    ConnectError,
    ConnectionLost,
    GoAwayReceived,
    ProtocolError,
    RequestTimeout,
    StreamReset,
)
from ._models import Origin, Response, ResponseHandler
from ._pool import HTTP2Pool
from .tls import client_context

__all__ = [
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
]

for _name in __all__:  # show the public path in reprs and tracebacks
    if _name != "TransportError":
        globals()[_name].__module__ = __name__
del _name
