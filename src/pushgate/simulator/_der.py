"""Just enough DER (ITU-T X.690) to write and read the APNs topics certificate extension."""

from __future__ import annotations

from collections.abc import Iterator

UTF8_STRING = 0x0C
SEQUENCE = 0x30
NULL = b"\x05\x00"


def encode(tag: int, content: bytes) -> bytes:
    """Return one DER element: tag, definite length, content."""
    size = len(content)
    if size < 0x80:
        return bytes((tag, size)) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(length))) + length + content


def utf8_string(text: str) -> bytes:
    """Return a DER UTF8String."""
    return encode(UTF8_STRING, text.encode("utf-8"))


def sequence(*elements: bytes) -> bytes:
    """Return a DER SEQUENCE of already encoded elements."""
    return encode(SEQUENCE, b"".join(elements))


def elements(data: bytes) -> Iterator[tuple[int, bytes]]:
    """Yield (tag, content) for each element directly inside ``data``; ValueError if malformed."""
    offset = 0
    while offset < len(data):
        if offset + 2 > len(data):
            raise ValueError("truncated DER element")
        tag, first = data[offset], data[offset + 1]
        offset += 2
        if first & 0x80:
            count = first & 0x7F
            if count == 0 or offset + count > len(data):
                raise ValueError("bad DER length")
            size = int.from_bytes(data[offset : offset + count], "big")
            offset += count
        else:
            size = first
        if offset + size > len(data):
            raise ValueError("DER element runs past its container")
        yield tag, data[offset : offset + size]
        offset += size
