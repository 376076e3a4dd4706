"""Cut a bz2 file at its blocks, so that several processes decompress one file.

bzip2 compresses blocks of 100 to 900 kB independently. Each block starts with the
48-bit magic 0x314159265359 at any *bit* offset (blocks are not byte-aligned) and is
followed by its CRC; a stream ends with 0x177245385090 and the stream CRC, the fold of
its block CRCs. The stdlib ``bz2`` module decompresses a 3.9 MB Route Views RIB in
0.6 s, and in one process that is the floor of ``mrtfeed parse --jobs N`` however many
cores decode. Here the compressed file is only searched for block magics (bytes.find,
25 ms for that RIB); each block becomes a standalone single-block stream (header, the
block's bits, end marker, the block's CRC as stream CRC) that a worker process hands
to the stdlib, which checks the block's CRC as usual.

The magic may also occur by chance inside compressed data (about once in 10^7 files
of 4 MB). Such a hit cuts a block in two pieces that do not decompress, and the caller
then decompresses the rest of the file in order, as it does for every other surprise
(damage, garbage between streams, no end marker): splitting only ever speeds a file up,
it never decides its output. :attr:`BlockSplitter.failed` says when the file stopped
making sense to the splitter (stream header, stream CRC, end of file).
"""

from __future__ import annotations

from typing import NamedTuple

from mrtfeed.decode.errors import DecodeError

BLOCK_MAGIC = 0x314159265359
END_MAGIC = 0x177245385090
_MAGIC_BITS = 48
#: Block magic and the block CRC after it: a block is at least this long.
_BLOCK_HEAD_BITS = _MAGIC_BITS + 32
#: End marker, stream CRC.
_END_BITS = _MAGIC_BITS + 32
_LEVELS = b"123456789"
_LEVEL_DIGITS = {_LEVELS[i : i + 1] for i in range(9)}


def _magic_patterns(magic: int) -> list[tuple[int, bytes, int, int]]:
    """For each bit shift 0-7: (shift, the whole bytes the magic covers there, and the
    masked bits of the partial bytes before and after them)."""
    patterns = [(0, magic.to_bytes(6, "big"), 0, 0)]
    for shift in range(1, 8):
        window = (magic << (8 - shift)).to_bytes(7, "big")
        patterns.append((shift, window[1:6], window[0], window[6]))
    return patterns


_BLOCK_PATTERNS = _magic_patterns(BLOCK_MAGIC)


def _bits(data: bytes, bit: int, count: int) -> int:
    """``count`` bits of ``data`` from bit offset ``bit`` (big-endian, as bzip2 writes)."""
    end = bit + count
    value = int.from_bytes(data[bit >> 3 : (end + 7) >> 3], "big")
    return (value >> (-end % 8)) & ((1 << count) - 1)


def find_block_magics(data: bytes, start: int = 0) -> list[int]:
    """Bit offsets of every block magic wholly inside ``data`` from byte ``start`` on, in order."""
    hits: list[int] = []
    limit = len(data) - 6
    for shift, middle, before, after in _BLOCK_PATTERNS:
        head = 1 if shift else 0
        low_mask = (1 << (8 - shift)) - 1
        found = data.find(middle, start + head)
        while found >= 0:
            byte = found - head
            if shift == 0:
                hits.append(byte << 3)
            elif byte <= limit - 1 and (
                data[byte] & low_mask == before
                and data[byte + 6] >> (8 - shift) == after >> (8 - shift)
            ):
                hits.append((byte << 3) + shift)
            found = data.find(middle, found + 1)
    hits.sort()
    return hits


class Bz2Block(NamedTuple):
    """One compressed block: the whole bytes holding its bits and where they lie."""

    data: bytes
    #: Bit offset of the block magic in ``data`` (0-7).
    start_bit: int
    #: Bits from the magic to the block's end (the next magic or the end marker).
    bit_length: int
    #: The stream's block size digit (1-9).
    level: int


def block_stream(block: Bz2Block) -> bytes:
    """A standalone bz2 stream holding just this block (its CRC is the stream CRC)."""
    length = block.bit_length
    bits = _bits(block.data, block.start_bit, length)
    crc = (bits >> (length - _BLOCK_HEAD_BITS)) & 0xFFFFFFFF
    bits = (bits << _END_BITS) | (END_MAGIC << 32) | crc
    length += _END_BITS
    padding = -length % 8
    return b"BZh%d" % block.level + (bits << padding).to_bytes((length + padding) >> 3, "big")


#: Most bytes a block may decompress to. bzip2's first run-length stage lets a block
#: of 900 kB hold 46 MB of one repeated byte; MRT data has short runs, and its blocks
#: come out at 0.9 to 1.5 MB. A larger block is left to the in-order reader, whose
#: pieces are bounded, so that a worker's memory is too.
MAX_BLOCK_SIZE = 8 << 20


def decompress_block(block: Bz2Block, max_size: int = MAX_BLOCK_SIZE) -> bytes:
    """The block's data; :class:`DecodeError` when it does not decompress (damage, or a
    chance magic that cut it) or comes out larger than ``max_size``."""
    import bz2

    decompressor = bz2.BZ2Decompressor()
    try:
        data = decompressor.decompress(block_stream(block), max_size + 1)
    except (OSError, ValueError, EOFError) as exc:
        raise DecodeError(f"corrupt bz2 data: {exc}") from None
    if len(data) > max_size:
        raise DecodeError(f"bz2 block larger than {max_size} bytes")
    if not decompressor.eof:
        raise DecodeError("corrupt bz2 data: the block ends early")
    return data


def _fold(stream_crc: int, block_crc: int) -> int:
    """bzip2's stream CRC: rotate left by one, xor the block's CRC."""
    return (((stream_crc << 1) | (stream_crc >> 31)) & 0xFFFFFFFF) ^ block_crc


class BlockSplitter:
    """Feed a bz2 file's bytes in order, take its blocks as they are found.

    The buffer holds the compressed bytes from the current block's start: one
    compressed block (under 1 MB) plus the last piece fed.
    """

    def __init__(self) -> None:
        self._buffer = b""
        #: Bit offset of the current block's magic in the buffer; None before a stream's header.
        self._start: int | None = None
        #: Bytes of the buffer already searched for magics (up to the last 6).
        self._searched = 0
        self._level = 0
        self._stream_crc = 0
        #: The file stopped making sense (see the module doc); no more blocks come.
        self.failed = False

    def feed(self, data: bytes) -> list[Bz2Block]:
        """Append compressed bytes; return the blocks now known to be whole."""
        if self.failed:
            return []
        self._buffer += data
        blocks: list[Bz2Block] = []
        if self._start is None and not self._read_header():
            return blocks
        buffer = self._buffer
        start = self._start
        assert start is not None
        for hit in find_block_magics(buffer, self._searched):
            if hit <= start:
                continue
            end = self._stream_end_before(hit)
            if end is None:
                blocks.append(self._block(start, hit))
            else:
                blocks.append(self._block(start, end))
                if not self._end_stream(end):
                    return blocks
                self._level = buffer[(hit >> 3) - 1] - 0x30
                self._stream_crc = 0
            start = hit
        self._buffer = buffer[start >> 3 :]
        self._start = start & 7
        self._searched = max(0, len(self._buffer) - 6)
        return blocks

    def finish(self) -> list[Bz2Block]:
        """The last block, found by the end marker where the file ends (zero padding
        after it is allowed, as ``bzip2 -d`` allows it); sets ``failed`` when the file
        does not end with a whole stream. A bad stream CRC fails the stream, yet its
        last block is returned, as :meth:`feed` returns the last block of a stream
        that fails so: the block checks its own CRC when it is decompressed."""
        if self.failed:
            return []
        buffer = self._buffer
        start = self._start
        if start is None:
            self.failed = bool(buffer.strip(b"\x00"))
            return []
        content = len(buffer.rstrip(b"\x00"))
        for stream_end in range(content, min(len(buffer), content + 5) + 1):
            for padding in range(8):
                end = (stream_end << 3) - _END_BITS - padding
                if end >= start + _BLOCK_HEAD_BITS and _bits(buffer, end, 48) == END_MAGIC:
                    block = self._block(start, end)
                    self._end_stream(end)
                    return [block]
        self.failed = True
        return []

    def _read_header(self) -> bool:
        """At a stream's start: its level, then its first block (or an empty stream)."""
        buffer = self._buffer
        while True:
            if len(buffer) < 10:
                return False
            if buffer[:3] != b"BZh" or buffer[3] not in _LEVELS:
                self.failed = True
                return False
            self._level = buffer[3] - 0x30
            self._stream_crc = 0
            magic = _bits(buffer, 32, 48)
            if magic == BLOCK_MAGIC:
                self._start = 32
                self._searched = 10
                return True
            if magic != END_MAGIC:
                self.failed = True
                return False
            # An empty stream (bzip2 of nothing): header, end marker, CRC 0.
            if len(buffer) < 14 or not self._end_stream(32):
                return False
            buffer = self._buffer = buffer[14:]

    def _stream_end_before(self, hit: int) -> int | None:
        """The end marker's bit offset when the block magic at ``hit`` opens a new
        stream (a byte-aligned magic right after a stream header, right after an end
        marker, its CRC and padding; empty streams, header and end marker alone, may
        come between); None when it is the stream's next block."""
        if hit & 7:
            return None
        header = (hit >> 3) - 4
        buffer = self._buffer
        while header >= 10 and self._is_header(header):
            end = self._end_marker_before(header)
            if end is None:
                return None
            before = (end >> 3) - 4
            if end & 7 or not self._is_header(before) or _bits(buffer, end + 48, 32):
                return end
            header = before  # an empty stream: the end marker wanted is before it
        return None

    def _is_header(self, byte: int) -> bool:
        buffer = self._buffer
        return (
            byte >= 0
            and buffer[byte : byte + 3] == b"BZh"
            and buffer[byte + 3 : byte + 4] in _LEVEL_DIGITS
        )

    def _end_marker_before(self, header: int) -> int | None:
        """The end marker that a stream header at byte ``header`` follows, if any."""
        for padding in range(8):
            end = (header << 3) - _END_BITS - padding
            if end >= 0 and _bits(self._buffer, end, 48) == END_MAGIC:
                return end
        return None

    def _block(self, start: int, end: int) -> Bz2Block:
        buffer = self._buffer
        self._stream_crc = _fold(self._stream_crc, _bits(buffer, start + _MAGIC_BITS, 32))
        first = start >> 3
        return Bz2Block(buffer[first : (end + 7) >> 3], start & 7, end - start, self._level)

    def _end_stream(self, end: int) -> bool:
        """Check the stream CRC after the end marker at ``end``; False (and ``failed``)
        when it is not the fold of the block CRCs."""
        if _bits(self._buffer, end + _MAGIC_BITS, 32) != self._stream_crc:
            self.failed = True
        return not self.failed
