"""The request encoder and response decoder (RFC 7541), checked against hpack.Decoder."""

from __future__ import annotations

import random

import hpack
import hpack.hpack
import pytest

from pushgate.transport import _hpack
from pushgate.transport._hpack import DECODE_ERRORS, RequestEncoder, ResponseDecoder, encode_integer

AUTH = (b"authorization", b"bearer " + b"j" * 200)
STABLE = ((b"apns-topic", b"com.example.app"), (b"apns-push-type", b"alert"), AUTH)


def _decode(decoder: hpack.Decoder, block: bytes) -> list[tuple[bytes, bytes]]:
    return [(name, value) for name, value in decoder.decode(block, raw=True)]


def _dynamic_names(decoder: hpack.Decoder) -> set[bytes]:
    return {name for name, _ in decoder.header_table.dynamic_entries}


@pytest.mark.parametrize("value", [0, 1, 14, 15, 16, 126, 127, 128, 255, 1337, 2**20, 2**31])
@pytest.mark.parametrize("prefix", [4, 5, 6, 7])
def test_integer_encoding_matches_hpack(value: int, prefix: int) -> None:
    assert encode_integer(value, prefix) == bytes(hpack.hpack.encode_integer(value, prefix))


def test_request_block_decodes_in_order_and_volatile_stays_out_of_the_table() -> None:
    encoder = RequestEncoder(b"api.push.apple.com")
    decoder = hpack.Decoder()
    for i in range(50):
        path = b"/3/device/" + f"{i:064x}".encode()
        volatile = [(b"apns-id", f"id-{i}".encode()), (b"apns-expiration", b"0")]
        block = encoder.encode(b"POST", path, STABLE, volatile)
        assert _decode(decoder, block) == [
            (b":path", path),
            (b":method", b"POST"),
            (b":scheme", b"https"),
            (b":authority", b"api.push.apple.com"),
            *STABLE,
            *volatile,
        ]
    names = _dynamic_names(decoder)
    assert {b"apns-topic", b"authorization", b":authority"} <= names
    assert not names & {b":path", b"apns-id", b"apns-expiration"}


def test_stable_block_is_indexed_after_first_use() -> None:
    encoder = RequestEncoder(b"example.com")
    first = encoder.encode(b"POST", b"/a", STABLE, ())
    second = encoder.encode(b"POST", b"/a", STABLE, ())
    third = encoder.encode(b"POST", b"/a", STABLE, ())
    assert len(first) > 200  # the token went out once, as a literal
    assert len(second) < 12  # :path literal + six one-byte indices
    assert second == third


def test_alternating_header_sets_stay_cached_and_correct() -> None:
    encoder = RequestEncoder(b"example.com")
    decoder = hpack.Decoder()
    other = ((b"apns-topic", b"com.example.other"), (b"apns-push-type", b"background"), AUTH)
    blocks = [encoder.encode(b"POST", b"/p", sets, ()) for sets in (STABLE, other) * 4]
    for block, sets in zip(blocks, (STABLE, other) * 4, strict=True):
        assert _decode(decoder, block)[4:] == list(sets)
    assert blocks[2] == blocks[4] and blocks[3] == blocks[5]


def test_small_table_with_eviction_round_trips() -> None:
    rng = random.Random(7)
    encoder = RequestEncoder(b"example.com")
    encoder.set_max_table_size(300)
    decoder = hpack.Decoder()
    decoder.max_allowed_table_size = 300
    header_sets = [((b"apns-topic", f"topic-{n}".encode() * 5), AUTH) for n in range(6)]
    for _ in range(200):
        headers = rng.choice(header_sets)
        block = encoder.encode(b"POST", b"/x", headers, [(b"apns-id", b"v")])
        assert _decode(decoder, block)[4:] == [*headers, (b"apns-id", b"v")]


def test_table_size_updates_are_signalled_min_then_final() -> None:
    encoder = RequestEncoder(b"example.com")
    decoder = hpack.Decoder()
    encoder.encode(b"POST", b"/x", STABLE, ())
    encoder.set_max_table_size(0)
    encoder.set_max_table_size(4096)
    block = encoder.encode(b"POST", b"/x", STABLE, ())
    assert block[:1] == b"\x20"  # size update to 0 first
    assert _decode(decoder, block)[4:] == list(STABLE)
    assert _decode(decoder, encoder.encode(b"POST", b"/x", STABLE, ()))[4:] == list(STABLE)


def test_table_size_zero_means_no_indexing() -> None:
    encoder = RequestEncoder(b"example.com")
    encoder.set_max_table_size(0)
    decoder = hpack.Decoder()
    decoder.max_allowed_table_size = 0
    for _ in range(3):
        assert _decode(decoder, encoder.encode(b"GET", b"/x", STABLE, ()))[4:] == list(STABLE)
    assert not decoder.header_table.dynamic_entries


def test_long_values_and_static_names() -> None:
    encoder = RequestEncoder(b"example.com")
    decoder = hpack.Decoder()
    path = b"/" + b"p" * 300
    volatile = [(b"content-type", b"application/json"), (b"x-long", b"v" * 1000)]
    decoded = _decode(decoder, encoder.encode(b"PUT", path, (), volatile))
    assert decoded[0] == (b":path", path)
    assert decoded[1] == (b":method", b"PUT")
    assert decoded[4:] == volatile


@pytest.fixture(params=["native", "pure"])
def decoder(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> ResponseDecoder:
    """The jh2 (native) decoder when installed, and the hpack fallback."""
    if request.param == "pure":
        monkeypatch.setattr(_hpack, "_NativeDecoder", None)
    elif _hpack._NativeDecoder is None:
        pytest.skip("jh2 is not installed")
    return ResponseDecoder(65536)


def test_response_decoder_splits_status_from_headers(decoder: ResponseDecoder) -> None:
    encoder = hpack.Encoder()
    fields = [(b":status", b"400"), (b"apns-id", b"abc"), (b"content-type", b"application/json")]
    for _ in range(2):  # the second block refers to the dynamic table
        status, headers = decoder.decode(encoder.encode(fields))
        assert status == 400
        assert headers == [(b"apns-id", b"abc"), (b"content-type", b"application/json")]


def test_malformed_status_is_zero(decoder: ResponseDecoder) -> None:
    block = hpack.Encoder().encode([(b":status", b"2x0"), (b"a", b"b")])
    assert decoder.decode(block) == (0, [(b"a", b"b")])


@pytest.mark.parametrize(
    "block",
    [
        b"\xff\xff\xff\xff",  # a truncated integer (jh2 panics on this one)
        b"\xff\x80\x80\x80\x80\x80\x80\x80\x80\x01",  # an absurd index
        b"\x40\x85",  # literal name truncated
        b"\x3f\xe1\xff\x03",  # table size update beyond SETTINGS_HEADER_TABLE_SIZE
    ],
)
def test_undecodable_block_raises_a_decode_error(decoder: ResponseDecoder, block: bytes) -> None:
    with pytest.raises(DECODE_ERRORS):
        decoder.decode(block)


def test_repeated_block_decodes_the_same_and_is_reused(decoder: ResponseDecoder) -> None:
    encoder = hpack.Encoder()
    fields = [(b":status", b"200"), (b"server", b"sink"), (b"content-length", b"0")]
    decoder.decode(encoder.encode(fields))  # first sight: literals enter the table
    repeat = encoder.encode(fields)
    assert repeat == encoder.encode(fields)  # the server sends identical bytes from now on
    first = decoder.decode(repeat)
    first[1].append((b"x-changed", b"by the caller"))  # a caller's list is its own
    assert decoder.decode(repeat) == (200, [(b"server", b"sink"), (b"content-length", b"0")])
    assert repeat in decoder._known


def test_table_change_invalidates_reused_blocks(decoder: ResponseDecoder) -> None:
    """After a block adds an entry, the same index bytes name a different header."""
    encoder = hpack.Encoder()
    decoder.decode(encoder.encode([(b":status", b"200"), (b"x-id", b"one")]))
    newest_entry = b"\x88\xbe"  # :status 200, dynamic entry 62
    assert decoder.decode(newest_entry) == (200, [(b"x-id", b"one")])
    decoder.decode(encoder.encode([(b":status", b"200"), (b"x-id", b"two")]))
    assert decoder.decode(newest_entry) == (200, [(b"x-id", b"two")])


def test_literals_without_indexing_keep_a_block_reusable(decoder: ResponseDecoder) -> None:
    never_indexed = b"\x88" + b"\x10\x04x-id\x03abc"  # :status 200, x-id: abc never indexed
    assert decoder.decode(never_indexed) == (200, [(b"x-id", b"abc")])
    assert never_indexed in decoder._known
    long_value = b"v" * 300  # a string length that takes more than one byte
    block = b"\x88\x00\x04x-id" + hpack.hpack.encode_integer(300, 7) + long_value
    assert decoder.decode(block) == (200, [(b"x-id", long_value)])
    assert block in decoder._known


def test_blocks_that_never_repeat_stop_being_kept_for_a_while(decoder: ResponseDecoder) -> None:
    for n in range(_hpack._KNOWN_BLOCKS_LIMIT + 1):  # a new never-indexed apns-id each time
        block = b"\x88\x10\x07apns-id\x24" + b"%036d" % n
        assert decoder.decode(block) == (200, [(b"apns-id", b"%036d" % n)])
    assert not decoder._known and decoder._resting == _hpack._REST_AFTER_MISSES
    repeated = b"\x88" + b"\x10\x04x-id\x03abc"
    assert decoder.decode(repeated) == decoder.decode(repeated) == (200, [(b"x-id", b"abc")])
    assert not decoder._known  # resting: decoded correctly, not kept
