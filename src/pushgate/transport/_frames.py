"""HTTP/2 frame layout (RFC 9113 §4, §6): constants, frame builders and payload parsers."""

from __future__ import annotations

import json
import struct

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# Frame types.
DATA = 0x0
HEADERS = 0x1
PRIORITY = 0x2
RST_STREAM = 0x3
SETTINGS = 0x4
PUSH_PROMISE = 0x5
PING = 0x6
GOAWAY = 0x7
WINDOW_UPDATE = 0x8
CONTINUATION = 0x9

# Flags.
FLAG_END_STREAM = 0x1
FLAG_ACK = 0x1
FLAG_END_HEADERS = 0x4
FLAG_PADDED = 0x8
FLAG_PRIORITY = 0x20

# Settings identifiers.
SETTINGS_HEADER_TABLE_SIZE = 0x1
SETTINGS_ENABLE_PUSH = 0x2
SETTINGS_MAX_CONCURRENT_STREAMS = 0x3
SETTINGS_INITIAL_WINDOW_SIZE = 0x4
SETTINGS_MAX_FRAME_SIZE = 0x5
SETTINGS_MAX_HEADER_LIST_SIZE = 0x6

# Error codes.
NO_ERROR = 0x0
PROTOCOL_ERROR = 0x1
INTERNAL_ERROR = 0x2
FLOW_CONTROL_ERROR = 0x3
STREAM_CLOSED = 0x5
FRAME_SIZE_ERROR = 0x6
REFUSED_STREAM = 0x7
CANCEL = 0x8
COMPRESSION_ERROR = 0x9

ERROR_NAMES = {
    0x0: "NO_ERROR",
    0x1: "PROTOCOL_ERROR",
    0x2: "INTERNAL_ERROR",
    0x3: "FLOW_CONTROL_ERROR",
    0x4: "SETTINGS_TIMEOUT",
    0x5: "STREAM_CLOSED",
    0x6: "FRAME_SIZE_ERROR",
    0x7: "REFUSED_STREAM",
    0x8: "CANCEL",
    0x9: "COMPRESSION_ERROR",
    0xA: "CONNECT_ERROR",
    0xB: "ENHANCE_YOUR_CALM",
    0xC: "INADEQUATE_SECURITY",
    0xD: "HTTP_1_1_REQUIRED",
}

DEFAULT_WINDOW = 65_535
DEFAULT_MAX_FRAME = 16_384
MAX_FRAME_LIMIT = 2**24 - 1
MAX_WINDOW = 2**31 - 1
MAX_STREAM_ID = 2**31 - 1

FRAME_HEADER = struct.Struct(">BHBBL")
"""Unpacks a 9-byte frame header as (length high byte, length low 16 bits, type, flags, id)."""


def error_name(code: int) -> str:
    """The RFC name of an HTTP/2 error code, or its hex value."""
    return ERROR_NAMES.get(code, f"0x{code:x}")


def frame_header(length: int, frame_type: int, flags: int, stream_id: int) -> bytes:
    """The 9-byte header of a frame with a ``length``-byte payload."""
    return (length << 48 | frame_type << 40 | flags << 32 | stream_id).to_bytes(9, "big")


def settings_frame(settings: dict[int, int]) -> bytes:
    """A SETTINGS frame carrying ``settings``."""
    payload = b"".join(key.to_bytes(2, "big") + v.to_bytes(4, "big") for key, v in settings.items())
    return frame_header(len(payload), SETTINGS, 0, 0) + payload


SETTINGS_ACK = frame_header(0, SETTINGS, FLAG_ACK, 0)


def window_update_frame(stream_id: int, increment: int) -> bytes:
    """A WINDOW_UPDATE frame granting ``increment`` bytes on a stream (0: the connection)."""
    return frame_header(4, WINDOW_UPDATE, 0, stream_id) + increment.to_bytes(4, "big")


def ping_frame(opaque: bytes, *, ack: bool = False) -> bytes:
    """A PING frame (or its ACK) with 8 bytes of opaque data."""
    return frame_header(8, PING, FLAG_ACK if ack else 0, 0) + opaque


def rst_stream_frame(stream_id: int, error_code: int) -> bytes:
    """An RST_STREAM frame."""
    return frame_header(4, RST_STREAM, 0, stream_id) + error_code.to_bytes(4, "big")


def goaway_frame(last_stream_id: int, error_code: int, debug: bytes = b"") -> bytes:
    """A GOAWAY frame."""
    payload = last_stream_id.to_bytes(4, "big") + error_code.to_bytes(4, "big") + debug
    return frame_header(len(payload), GOAWAY, 0, 0) + payload


def headers_frames(stream_id: int, block: bytes, end_stream: bool, max_frame: int) -> list[bytes]:
    """HEADERS (+ CONTINUATION frames when ``block`` exceeds ``max_frame``) for one block."""
    flags = FLAG_END_STREAM if end_stream else 0
    if len(block) <= max_frame:
        return [frame_header(len(block), HEADERS, flags | FLAG_END_HEADERS, stream_id), block]
    chunks = [block[i : i + max_frame] for i in range(0, len(block), max_frame)]
    frames = [frame_header(len(chunks[0]), HEADERS, flags, stream_id), chunks[0]]
    for chunk in chunks[1:-1]:
        frames += (frame_header(len(chunk), CONTINUATION, 0, stream_id), chunk)
    last = chunks[-1]
    frames += (frame_header(len(last), CONTINUATION, FLAG_END_HEADERS, stream_id), last)
    return frames


def strip_padding(payload: bytes) -> bytes | None:
    """The payload of a PADDED frame without its padding; None if the padding is invalid."""
    if not payload:
        return None
    pad = payload[0]
    if pad >= len(payload):
        return None
    return payload[1 : len(payload) - pad]


def parse_settings(payload: bytes) -> list[tuple[int, int]]:
    """The (identifier, value) pairs of a SETTINGS payload (length checked by the caller)."""
    return [
        (int.from_bytes(payload[i : i + 2], "big"), int.from_bytes(payload[i + 2 : i + 6], "big"))
        for i in range(0, len(payload), 6)
    ]


def parse_goaway(payload: bytes) -> tuple[int, int, bytes]:
    """(last stream id, error code, debug data) of a GOAWAY payload of at least 8 bytes."""
    last = int.from_bytes(payload[:4], "big") & MAX_STREAM_ID
    return last, int.from_bytes(payload[4:8], "big"), payload[8:]


def goaway_reason(debug: bytes) -> str | None:
    """The ``reason`` of GOAWAY debug data that is JSON like ``{"reason": "Shutdown"}``."""
    if not debug:
        return None
    try:
        document = json.loads(debug)
    except ValueError:
        return None
    reason = document.get("reason") if isinstance(document, dict) else None
    return reason[:200] if isinstance(reason, str) else None
