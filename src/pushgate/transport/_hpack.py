"""HPACK for the client: a caching request-header encoder and a response-header decoder.

Requests are encoded here rather than by ``hpack.Encoder`` because that encoder logs every
header value (``authorization`` included) at DEBUG level and Huffman-codes in pure Python.
Stable headers go through a dynamic table of our own (RFC 7541 §2.3.2, §4) and their encoded
block is cached while the table is unchanged. ``:path`` and volatile headers are literals
without indexing (§6.2.2), so they never touch the table. Responses are decoded by the native
``jh2`` decoder when it is installed, else by ``hpack.Decoder``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import hpack
from hpack.table import HeaderTable

try:  # optional: a native (Rust) HPACK decoder, about 2x faster per response
    from jh2._hazmat import Decoder as _NativeDecoder
    from jh2._hazmat import HPACKError as _NativeError
    from jh2._hazmat import OversizedHeaderListError as _NativeOversize
except ImportError:  # pragma: no cover - depends on the environment
    _NativeDecoder = None
    _NativeError = _NativeOversize = hpack.HPACKError


class HeaderBlockError(ValueError):
    """The native decoder crashed on a malformed header block (a Rust panic)."""


DECODE_ERRORS: tuple[type[Exception], ...] = (
    HeaderBlockError,
    hpack.HPACKError,
    _NativeError,
    _NativeOversize,
    ValueError,
    IndexError,
)
"""Exceptions that mean a header block could not be decoded (COMPRESSION_ERROR)."""

TABLE_SIZE = 4096
"""The largest dynamic table the encoder uses, whatever the server allows."""

_STATIC = HeaderTable.STATIC_TABLE
_STATIC_EXACT = {entry: index for index, entry in enumerate(_STATIC, start=1)}
_STATIC_NAME: dict[bytes, int] = {}
for _index, (_name, _value) in enumerate(_STATIC, start=1):
    _STATIC_NAME.setdefault(_name, _index)
_DYNAMIC_BASE = len(_STATIC) + 1
_ENTRY_OVERHEAD = 32
_LENGTH_BYTE = [bytes([n]) for n in range(127)]
_PATH_LITERAL = b"\x04"  # literal without indexing, name = static entry 4 (:path)
_NAME_PREFIX_CACHE_LIMIT = 512


def encode_integer(value: int, prefix_bits: int, first: int = 0) -> bytes:
    """Encode ``value`` with an N-bit prefix (RFC 7541 §5.1), OR-ing ``first`` into byte 0."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = bytearray([first | limit])
    value -= limit
    while value >= 128:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _string(data: bytes) -> bytes:
    """A raw (not Huffman-coded) string literal."""
    n = len(data)
    return (_LENGTH_BYTE[n] if n < 127 else encode_integer(n, 7)) + data


class _DynamicTable:
    """Our model of the peer decoder's dynamic table (only what the encoder inserted)."""

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._entries: deque[tuple[bytes, bytes, int]] = deque()  # oldest first: name, value, id
        self._ids: dict[tuple[bytes, bytes], int] = {}
        self._size = 0
        self.inserted = 0
        """How many entries were ever inserted; a change means every known index shifted."""

    def index_of(self, name: bytes, value: bytes) -> int | None:
        """The HPACK index of an exact (name, value) entry, or None."""
        entry_id = self._ids.get((name, value))
        if entry_id is None:
            return None
        return _DYNAMIC_BASE + self.inserted - 1 - entry_id

    def add(self, name: bytes, value: bytes) -> bool:
        """Insert an entry, evicting the oldest ones; False if it can never fit."""
        size = len(name) + len(value) + _ENTRY_OVERHEAD
        if size > self.max_size:
            return False
        self._entries.append((name, value, self.inserted))
        self._ids[(name, value)] = self.inserted
        self.inserted += 1
        self._size += size
        self._evict()
        return True

    def resize(self, max_size: int) -> None:
        """Apply a new maximum size, evicting entries that no longer fit."""
        self.max_size = max_size
        self._evict()

    def _evict(self) -> None:
        """Drop the oldest entries until the table fits its maximum size."""
        while self._size > self.max_size:
            name, value, entry_id = self._entries.popleft()
            self._size -= len(name) + len(value) + _ENTRY_OVERHEAD
            if self._ids.get((name, value)) == entry_id:
                del self._ids[(name, value)]


class RequestEncoder:
    """Encodes request header blocks for one connection (one HPACK context)."""

    def __init__(self, authority: bytes) -> None:
        self._authority = authority
        self._table = _DynamicTable(TABLE_SIZE)
        self._cache: dict[tuple[bytes, tuple[tuple[bytes, bytes], ...]], bytes] = {}
        self._pending_sizes: list[int] = []
        self._name_prefixes: dict[bytes, bytes] = {}

    def set_max_table_size(self, size: int) -> None:
        """Follow SETTINGS_HEADER_TABLE_SIZE (capped at TABLE_SIZE); signalled in the next block."""
        size = min(size, TABLE_SIZE)
        if size == self._table.max_size and not self._pending_sizes:
            return
        self._table.resize(size)
        self._pending_sizes.append(size)
        self._cache.clear()

    def encode(
        self,
        method: bytes,
        path: bytes,
        headers: tuple[tuple[bytes, bytes], ...],
        volatile: Sequence[tuple[bytes, bytes]],
    ) -> bytes:
        """The header block: [size update] :path, cached stable block, volatile literals."""
        stable = self._cache.get((method, headers))
        if stable is None:
            stable = self._encode_stable(method, headers)
        n = len(path)
        parts = [_PATH_LITERAL, _LENGTH_BYTE[n] if n < 127 else encode_integer(n, 7), path, stable]
        if volatile:
            prefixes = self._name_prefixes
            for name, value in volatile:
                prefix = prefixes.get(name) or self._name_prefix(name)
                n = len(value)
                parts += (prefix, _LENGTH_BYTE[n] if n < 127 else encode_integer(n, 7), value)
        if self._pending_sizes:
            parts.insert(0, self._size_updates())
        return b"".join(parts)

    def _encode_stable(self, method: bytes, headers: tuple[tuple[bytes, bytes], ...]) -> bytes:
        """Encode pseudo-headers and stable headers with indexing; cache if the table held."""
        inserted_before = self._table.inserted
        fields = [(b":method", method), (b":scheme", b"https"), (b":authority", self._authority)]
        fields += headers
        block = b"".join(self._indexed_field(name, value) for name, value in fields)
        if self._table.inserted == inserted_before:
            if len(self._cache) >= 64:
                self._cache.clear()
            self._cache[(method, headers)] = block
        else:  # indices of every cached block shifted
            self._cache.clear()
        return block

    def _indexed_field(self, name: bytes, value: bytes) -> bytes:
        """One field as an index if known, else a literal with incremental indexing."""
        index = _STATIC_EXACT.get((name, value)) or self._table.index_of(name, value)
        if index is not None:
            return encode_integer(index, 7, 0x80)
        name_index = _STATIC_NAME.get(name, 0)
        if self._table.add(name, value):
            head = encode_integer(name_index, 6, 0x40)
        else:
            head = encode_integer(name_index, 4, 0x00)
        return head + (b"" if name_index else _string(name)) + _string(value)

    def _name_prefix(self, name: bytes) -> bytes:
        """The start of a literal-without-indexing field for ``name`` (value follows)."""
        index = _STATIC_NAME.get(name, 0)
        prefix = encode_integer(index, 4) if index else b"\x00" + _string(name)
        if len(self._name_prefixes) >= _NAME_PREFIX_CACHE_LIMIT:
            self._name_prefixes.clear()
        self._name_prefixes[name] = prefix
        return prefix

    def _size_updates(self) -> bytes:
        """Dynamic table size updates owed to the decoder: the minimum, then the final size."""
        sizes = self._pending_sizes
        self._pending_sizes = []
        low, final = min(sizes), sizes[-1]
        out = encode_integer(low, 5, 0x20)
        return out if low == final else out + encode_integer(final, 5, 0x20)


class ResponseDecoder:
    """Decodes response header blocks into (status, headers without pseudo-headers).

    Servers repeat their header blocks: once a block's fields are in the dynamic table, every
    response sends the same few bytes. A block that does not change the table decodes the
    same way until one that may change it comes along, so its decoding is kept and reused.
    """

    native = _NativeDecoder is not None

    def __init__(self, max_header_list_size: int) -> None:
        decode: Callable[[bytes], Any]
        if _NativeDecoder is not None:
            decode = _NativeDecoder(max_header_list_size).decode
        else:
            decoder = hpack.Decoder(max_header_list_size)
            decode = partial(decoder.decode, raw=True)
        self._decode = decode
        self._known: dict[bytes, tuple[int, tuple[tuple[bytes, bytes], ...]]] = {}
        self._misses = 0
        self._resting = 0
        """Blocks left to decode without trying to keep them (every block has been new)."""

    def decode(self, block: bytes) -> tuple[int, list[tuple[bytes, bytes]]]:
        """Status (0 when absent or malformed) and the regular headers of one block.

        Raises one of DECODE_ERRORS if the block is malformed.
        """
        known = self._known.get(block)
        if known is not None:
            self._misses = 0
            return known[0], list(known[1])
        status, headers = self._decode_fields(block)
        if self._resting:  # APNs sends a new apns-id in every response: no block repeats
            self._resting -= 1
            self._known.clear()  # unchecked, so the table may have changed
        elif not _table_neutral(block):
            self._known.clear()  # the dynamic table may have changed
        elif self._misses < _KNOWN_BLOCKS_LIMIT:
            self._misses += 1
            self._known[block] = (status, tuple(headers))
        else:
            self._misses = 0
            self._resting = _REST_AFTER_MISSES
            self._known.clear()
        return status, headers

    def _decode_fields(self, block: bytes) -> tuple[int, list[tuple[bytes, bytes]]]:
        try:
            fields = self._decode(block)
        except DECODE_ERRORS:
            raise
        except BaseException as exc:
            # jh2 turns some malformed blocks into a Rust panic, which pyo3 raises as
            # PanicException, a BaseException: never let that escape into the event loop.
            if type(exc).__name__ == "PanicException":
                raise HeaderBlockError("malformed header block") from exc
            raise
        status = 0
        headers = []
        for field in fields:
            name = field[0]
            if name[0] == 58:  # b":"
                if name == b":status":
                    value = field[1]
                    status = int(value) if len(value) == 3 and value.isdigit() else 0
            else:
                headers.append((name, field[1]))
        return status, headers


_KNOWN_BLOCKS_LIMIT = 64
"""New blocks kept in a row without one being seen again before keeping stops for a while."""
_REST_AFTER_MISSES = 1024


def _table_neutral(block: bytes) -> bool:
    """Whether decoding the block leaves the dynamic table as it was: it holds only indexed
    fields and literals without indexing (RFC 7541 §6.1, §6.2.2, §6.2.3), no literal with
    incremental indexing (§6.2.1) and no table size update (§6.3)."""
    size = len(block)
    pos = 0
    while pos < size:
        byte = block[pos]
        if byte & 0x80:  # indexed field: a 7-bit prefix integer
            pos = _skip_integer(block, pos, 0x7F)
        elif byte & 0xE0:  # 01xxxxxx adds to the table, 001xxxxx resizes it
            return False
        else:  # literal without indexing / never indexed: 4-bit name index, strings
            name_index = byte & 0x0F
            pos = _skip_integer(block, pos, 0x0F)
            if not name_index:
                pos = _skip_string(block, pos)
            pos = _skip_string(block, pos)
    return pos == size


def _skip_integer(block: bytes, pos: int, mask: int) -> int:
    """The position after the prefix integer starting at ``pos`` (§5.1)."""
    if block[pos] & mask != mask:
        return pos + 1
    pos += 1
    while block[pos] & 0x80:
        pos += 1
    return pos + 1


def _skip_string(block: bytes, pos: int) -> int:
    """The position after the string literal starting at ``pos`` (§5.2)."""
    length = block[pos] & 0x7F
    if length == 0x7F:
        end = _skip_integer(block, pos, 0x7F)
        length, shift = 0x7F, 0
        for byte in block[pos + 1 : end]:
            length += (byte & 0x7F) << shift
            shift += 7
        return end + length
    return pos + 1 + length
