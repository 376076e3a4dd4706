"""Content-sniffed incremental decompression: whole streams in any chunking, bounded
pieces whatever the ratio, and the damage cases named."""

from __future__ import annotations

import bz2
import gzip
import random
import struct

import pytest

from mrtfeed.decode.bz2blocks import BlockSplitter, decompress_block, find_block_magics
from mrtfeed.decode.compression import Decompressor, sniff_compression
from mrtfeed.decode.errors import DecodeError, TruncatedInputError
from tests.decode.helpers import inflated_before_damage
from tests.mrtdata import MRT_DIR

_DATA = random.Random(1).randbytes(300_000) + bytes(200_000)


def _compress(kind: str, data: bytes) -> bytes:
    if kind == "bz2":
        return bz2.compress(data, 1)  # 100 kB blocks: output comes before the end
    if kind == "gzip":
        return gzip.compress(data)
    return data


def _feed_all(decompressor: Decompressor, stream: bytes, sizes: list[int]) -> list[bytes]:
    pieces: list[bytes] = []
    pos = 0
    for size in sizes:
        pieces.extend(decompressor.feed(stream[pos : pos + size]))
        pos += size
    pieces.extend(decompressor.feed(stream[pos:]))
    pieces.append(decompressor.finish())
    return pieces


@pytest.mark.parametrize("kind", ["bz2", "gzip", "raw"])
@pytest.mark.parametrize("chunking", ["one", "small", "random"])
def test_concatenated_streams_come_back_whole_in_any_chunking(kind: str, chunking: str) -> None:
    """Two bz2 streams (pbzip2) or gzip members, fed whole or in pieces."""
    halves = (_DATA[:123_457], _DATA[123_457:])
    stream = b"".join(_compress(kind, half) for half in halves)
    rng = random.Random(chunking)
    sizes = {
        "one": [],
        "small": [3] * 1000,
        "random": [rng.randint(1, 40_000) for _ in range(30)],
    }[chunking]
    decompressor = Decompressor(piece_size=50_000)
    pieces = _feed_all(decompressor, stream, sizes)
    assert b"".join(pieces) == _DATA
    assert max(map(len, pieces)) <= 50_000
    assert decompressor.kind == kind
    assert decompressor.bytes_in == len(stream)


@pytest.mark.parametrize("kind", ["bz2", "gzip"])
def test_a_high_ratio_stream_comes_out_in_bounded_pieces(kind: str) -> None:
    """A few hundred compressed bytes of zeros: memory follows the piece size, not the
    content (a 337-byte bz2 file of 400 MB once came out as one piece)."""
    stream = _compress(kind, bytes(20_000_000))
    assert len(stream) < 40_000
    decompressor = Decompressor(piece_size=1 << 16)
    total = 0
    largest = 0
    for piece in decompressor.feed(stream):
        total += len(piece)
        largest = max(largest, len(piece))
    assert decompressor.finish() == b""
    assert (total, largest) == (20_000_000, 1 << 16)


def test_zero_padding_after_the_stream_is_accepted() -> None:
    stream = gzip.compress(b"abc") + bytes(512)
    decompressor = Decompressor()
    assert b"".join(decompressor.feed(stream)) == b"abc"
    assert decompressor.finish() == b""


@pytest.mark.parametrize("kind", ["bz2", "gzip"])
def test_a_cut_stream_is_named_at_finish_after_its_data(kind: str) -> None:
    stream = _compress(kind, _DATA)
    decompressor = Decompressor()
    out = b"".join(decompressor.feed(stream[: len(stream) // 2]))
    assert out and _DATA.startswith(out)
    with pytest.raises(TruncatedInputError, match=f"{kind} stream ends before"):
        decompressor.finish()


def test_corrupt_data_is_a_decode_error_after_the_pieces_before_it() -> None:
    """A gzip member whose CRC does not match: all its data comes out, then the error
    (not a truncation). zlib checks the CRC in the call that makes the last piece and
    drops that piece with the error; it used to be lost."""
    stream = bytearray(gzip.compress(_DATA))
    stream[-8] ^= 1  # the CRC-32 of the trailer
    decompressor = Decompressor(piece_size=10_000)
    seen = b""
    with pytest.raises(DecodeError, match="corrupt gzip data") as caught:
        for piece in decompressor.feed(bytes(stream)):
            seen += piece
    assert seen == _DATA
    assert not isinstance(caught.value, TruncatedInputError)


@pytest.mark.parametrize("feed_size", [1 << 18, 1 << 30])
def test_everything_inflated_before_gzip_damage_comes_out(feed_size: int) -> None:
    """Damage in the middle of a real gzip file: every byte zlib inflates before it
    comes out, whatever the reads. One call of zlib's inflated up to 2 MB and lost
    them with the error (1.3 MB here: 28,000 lines of bgpdump output)."""
    stream = bytearray((MRT_DIR / "updates.20190101.0000.gz").read_bytes())
    stream[763_171] ^= 0xFF  # breaks a block's header at about 4.3 MB of output
    expected = inflated_before_damage(bytes(stream))
    assert len(expected) > 4_000_000
    decompressor = Decompressor()
    out = bytearray()
    with pytest.raises(DecodeError, match="corrupt gzip data"):
        for start in range(0, len(stream), feed_size):
            for piece in decompressor.feed(bytes(stream[start : start + feed_size])):
                out += piece
    assert out == expected


@pytest.mark.parametrize("head", [b"\x00\x00", b"BZ\x00", b"BZh1\x00", b"\x1f\x00"])
def test_a_short_input_that_starts_no_compressed_stream_is_raw(head: bytes) -> None:
    decompressor = Decompressor()
    assert list(decompressor.feed(head)) == []
    assert decompressor.finish() == head
    assert decompressor.kind == "raw"


@pytest.mark.parametrize(
    ("size", "kind"), [(1, "gzip"), (3, "gzip"), (9, "gzip"), (2, "bz2"), (4, "bz2"), (9, "bz2")]
)
def test_a_file_cut_inside_a_compressed_header_is_named_as_such(size: int, kind: str) -> None:
    """A download cut after 3 bytes of gzip was reported as "stream ends inside an
    MRT header": true of no file that this is."""
    decompressor = Decompressor()
    assert list(decompressor.feed(_compress(kind, _DATA)[:size])) == []
    with pytest.raises(TruncatedInputError, match=f"{kind} stream ends inside its first 10"):
        decompressor.finish()


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        # mtime=0: the header holds the time, and the workers of pytest-xdist must
        # collect the same test ids.
        (gzip.compress(b"", mtime=0)[:10], "gzip"),
        (bz2.compress(b"x")[:10], "bz2"),
        (bz2.compress(b"")[:10], "bz2"),  # an empty stream: its end marker follows
        (b"BZhX1AY&SY", "raw"),  # not a block size: MRT data that starts with these bytes
        (b"\x00\x00\x00\x01", "raw"),
    ],
    ids=["gzip", "bz2", "empty bz2", "BZhX", "MRT"],
)
def test_sniffing(head: bytes, kind: str) -> None:
    assert sniff_compression(head) == kind


@pytest.mark.parametrize("level", b"123456789")
def test_raw_mrt_whose_timestamp_spells_a_bz2_magic_is_raw(level: int) -> None:
    """An uncompressed file's first bytes are a timestamp: nine seconds of 2005-04-11
    spell "BZh1" to "BZh9". Such a file was taken for bz2 and refused as corrupt;
    bgpdump reads it. What follows a real stream header (a block magic) decides."""
    timestamp = int.from_bytes(b"BZh" + bytes([level]), "big")
    record = struct.pack(">IHHI", timestamp, 16, 4, 4) + b"\x00\x01\x00\x02"
    assert sniff_compression(record[:10]) == "raw"
    decompressor = Decompressor()
    assert b"".join([*decompressor.feed(record), decompressor.finish()]) == record


def test_pieces_at_exactly_the_limit_lose_nothing() -> None:
    """zlib can stop at the piece limit with all its input consumed and output still
    pending: the next call must fetch it. Limits that divide the output exactly, and
    some that do not."""
    data = bytes(range(256)) * 4096
    stream = gzip.compress(data)
    for piece_size in (1, 255, 256, 4096, 65536):
        decompressor = Decompressor(piece_size=piece_size)
        pieces = list(decompressor.feed(stream))
        assert b"".join(pieces) == data
        assert decompressor.finish() == b""
        assert max(map(len, pieces)) == piece_size


def test_a_bz2_block_that_fails_its_crc_gives_no_bytes() -> None:
    """bz2 checks a block's CRC after its last byte. Pieces cut inside a block are
    held until the decompressor has checked it: whatever byte is damaged, only bytes
    of the original come out before the error (one bit flipped at 40 places of a
    stream of 100 kB blocks, read in 4 kB pieces)."""
    stream = bz2.compress(_DATA, 1)
    rng = random.Random(7)
    errors = 0
    for at in sorted(rng.sample(range(40, len(stream) - 20), 40)):
        damaged = bytearray(stream)
        damaged[at] ^= 1 << rng.randrange(8)
        decompressor = Decompressor(piece_size=4096)
        out = b""
        try:
            for piece in decompressor.feed(bytes(damaged)):
                out += piece
            decompressor.finish()
        except DecodeError:
            errors += 1
        assert _DATA.startswith(out), at
    assert errors >= 35


def test_the_blocks_before_a_damaged_bz2_block_all_come_out() -> None:
    """The whole file in one feed: the blocks before the damaged one come out whole
    before the error. They used to be held with the damaged block's output and lost
    with it (a 14,000-line gap before the error on the jinx RIB with one byte
    damaged)."""
    stream = bz2.compress(_DATA, 1)
    magics = find_block_magics(stream)
    assert len(magics) >= 4
    good = bytes(b"".join(decompress_block(block) for block in BlockSplitter().feed(stream)[:2]))
    damaged = bytearray(stream)
    damaged[(magics[2] + magics[3]) // 16] ^= 0x55  # inside the third block
    decompressor = Decompressor()
    out = b""
    with pytest.raises(DecodeError, match="corrupt bz2 data"):
        for piece in decompressor.feed(bytes(damaged)):
            out += piece
    assert out == good
