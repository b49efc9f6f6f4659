"""The values of the transport's API: where to connect (Origin) and what came back (Response)."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True, eq=False)
class Origin:
    """Where to connect, and which pool partition the connections belong to.

    Two origins are equal when host, port, server name, authority, partition and the very
    same ``ssl_context`` object match; connections are never shared between partitions.
    ``connections`` caps the partition's connections (None: the pool's
    ``connections_per_origin``); each platform sizes its own (``apns.connections_per_credential``,
    ``fcm.connections_per_credential``, ``webpush.connections_per_host``).
    """

    host: str
    port: int
    ssl_context: ssl.SSLContext = field(repr=False)
    server_hostname: str | None = None
    authority: str | None = None
    partition: str = ""
    connections: int | None = field(default=None, compare=False)
    _key: tuple[object, ...] = field(init=False, repr=False)
    _hash: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.connections is not None and self.connections < 1:
            raise ValueError("Origin.connections must be at least 1")
        key = (
            self.host,
            self.port,
            self.server_hostname,
            self.authority,
            self.partition,
            id(self.ssl_context),
        )
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "_hash", hash(key))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Origin):
            return NotImplemented
        return self._key == other._key and self.ssl_context is other.ssl_context

    @property
    def sni(self) -> str:
        """The name sent in SNI and checked against the server certificate."""
        return self.server_hostname or self.host

    @property
    def authority_bytes(self) -> bytes:
        """The ``:authority`` value: ``authority`` or ``host[:port]`` (port omitted for 443)."""
        if self.authority is not None:
            return self.authority.encode("ascii")
        host = f"[{self.host}]" if ":" in self.host else self.host
        text = host if self.port == 443 else f"{host}:{self.port}"
        return text.encode("ascii")


@dataclass(slots=True)
class Response:
    """A complete HTTP/2 response. An error status is a normal response, not an exception."""

    status: int
    headers: list[tuple[bytes, bytes]]
    """Lower-case names and values in received order, without pseudo-headers."""
    body: bytes

    def header(self, name: bytes) -> bytes | None:
        """The first value of header ``name`` (lower-case), or None."""
        for key, value in self.headers:
            if key == name:
                return value
        return None


class ResponseHandler(Protocol):
    """Receives the end of one request: an ``asyncio.Future`` qualifies, and so does any
    object with these three methods (the callback path of ``HTTP2Pool.start``)."""

    def done(self) -> bool:
        """True once the request no longer wants its result."""
        ...

    def set_result(self, response: Response) -> None:
        """The complete response arrived (any status)."""
        ...

    def set_exception(self, error: BaseException) -> None:
        """The request failed with a transport error."""
        ...
