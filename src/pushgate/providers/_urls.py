"""Turn an https URL into a transport Origin and a request path."""

from __future__ import annotations

import ssl
from urllib.parse import urlsplit

from pushgate.errors import ConfigurationError
from pushgate.transport import Origin


def origin_and_path(
    url: str, context: ssl.SSLContext, partition: str, *, connections: int
) -> tuple[Origin, bytes]:
    """The Origin to connect to for ``url`` (at most ``connections`` connections) and the
    path (with query) to request."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ConfigurationError(f"Push services are reached over https; got the URL {url!r}.")
    port = parts.port or 443
    authority = parts.hostname if port == 443 else f"{parts.hostname}:{port}"
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    origin = Origin(
        host=parts.hostname,
        port=port,
        ssl_context=context,
        authority=authority,
        partition=partition,
        connections=connections,
    )
    return origin, path.encode()
