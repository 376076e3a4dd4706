"""bz2 files cut at their blocks: the blocks decompress, one by one, to the file's
content (real files, pbzip2-style concatenations fed in any pieces), and every file
the splitter cannot vouch for says so (``failed``)."""

from __future__ import annotations

import bz2
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mrtfeed.decode.bz2blocks import (
    BLOCK_MAGIC,
    BlockSplitter,
    Bz2Block,
    decompress_block,
    find_block_magics,
)
from mrtfeed.decode.errors import DecodeError
from tests.mrtdata import MRT_DIR

BZ2_FILES = sorted(path.name for path in MRT_DIR.glob("*.bz2"))
_RNG = random.Random(5)
#: Parts of a concatenation: random bytes (blocks of their own size), runs of zeros
#: (tiny blocks of much data) and an empty part (a stream with no block).
_PARTS = [
    _RNG.randbytes(_RNG.randint(1, 250_000)) + bytes(_RNG.randint(0, 90_000)) for _ in range(5)
]
_PARTS.insert(2, b"")


def _split(stream: bytes, piece: int) -> tuple[BlockSplitter, list[Bz2Block]]:
    splitter = BlockSplitter()
    blocks: list[Bz2Block] = []
    for start in range(0, len(stream), piece):
        blocks += splitter.feed(stream[start : start + piece])
    blocks += splitter.finish()
    return splitter, blocks


def _content(blocks: list[Bz2Block]) -> bytes:
    return b"".join(decompress_block(block) for block in blocks)


@pytest.mark.parametrize("name", BZ2_FILES)
def test_the_blocks_of_a_real_file_are_its_content(name: str) -> None:
    """A whole file: every block, then a clean end. A cut file (the ``_firstMB``
    extracts): the blocks before the cut, and ``failed`` (its rest is read in order)."""
    stream = (MRT_DIR / name).read_bytes()
    splitter, blocks = _split(stream, 1 << 18)
    decompressor = bz2.BZ2Decompressor()
    content = decompressor.decompress(stream)
    if decompressor.eof:
        assert not splitter.failed
        assert _content(blocks) == content
    else:
        assert splitter.failed
        assert content.startswith(_content(blocks))
        assert len(blocks) >= 10


@pytest.mark.parametrize("piece", [997, 4096, 1 << 30])
def test_concatenated_streams_in_any_pieces(piece: int) -> None:
    """pbzip2 and ``cat a.bz2 b.bz2`` make one stream per part, at mixed levels, with
    an empty stream among them."""
    stream = b"".join(bz2.compress(part, 1 + i % 9) for i, part in enumerate(_PARTS))
    splitter, blocks = _split(stream, piece)
    assert not splitter.failed
    assert _content(blocks) == b"".join(_PARTS)
    assert {block.level for block in blocks} >= {1, 2, 5}


def test_zero_padding_after_the_last_stream_is_accepted() -> None:
    splitter, blocks = _split(bz2.compress(_PARTS[0]) + bytes(700), 4096)
    assert not splitter.failed
    assert _content(blocks) == _PARTS[0]


#: Four blocks of 100 kB (level 1).
_FOUR_BLOCKS = random.Random(9).randbytes(350_000)


@pytest.mark.parametrize(
    ("damage", "whole_blocks"),
    [
        ("garbage after the end", 3),
        ("cut before the end marker", 3),
        ("stream CRC", 4),  # every block checks its own CRC: the last one too
        ("not a bz2 header", 0),
        ("header only", 0),
    ],
)
def test_a_file_the_splitter_cannot_vouch_for_fails(damage: str, whole_blocks: int) -> None:
    """``failed``: the caller reads the file in order from the last block's end, and
    the in-order decompressor names the damage."""
    stream = bz2.compress(_FOUR_BLOCKS, 1)
    assert len(find_block_magics(stream)) == 4
    if damage == "garbage after the end":
        stream += b"x"
    elif damage == "cut before the end marker":
        stream = stream[:-20]
    elif damage == "stream CRC":
        stream = stream[:-2] + bytes([stream[-2] ^ 1]) + stream[-1:]
    elif damage == "not a bz2 header":
        stream = b"BZx" + stream[3:]
    else:
        stream = stream[:8]
    splitter, blocks = _split(stream, 4096)
    assert splitter.failed
    assert len(blocks) == whole_blocks


@pytest.mark.parametrize("shift", range(8))
def test_a_block_magic_is_found_at_every_bit_offset(shift: int) -> None:
    """Blocks are not byte-aligned: the magic is searched at all 8 shifts."""
    noise = random.Random(shift).randbytes(40)
    bits = ((int.from_bytes(noise[:20], "big") << shift) << 48) | BLOCK_MAGIC
    length = 160 + shift + 48
    padding = -length % 8
    data = (bits << padding).to_bytes((length + padding) // 8, "big") + noise[20:]
    assert find_block_magics(data) == [160 + shift]


def test_a_block_cut_short_is_a_decode_error() -> None:
    """A chance magic (or damage) cuts a block: the pieces do not decompress."""
    _, blocks = _split(bz2.compress(_FOUR_BLOCKS, 1), 1 << 20)
    block = blocks[1]
    assert (
        decompress_block(block)
        == _FOUR_BLOCKS[len(decompress_block(blocks[0])) :][: len(decompress_block(block))]
    )
    half = Bz2Block(block.data, block.start_bit, block.bit_length // 2, block.level)
    with pytest.raises(DecodeError, match="corrupt bz2 data"):
        decompress_block(half)


def test_a_block_that_decompresses_beyond_the_bound_is_refused() -> None:
    """A block of one repeated byte holds 46 MB; the in-order reader takes such blocks
    (in bounded pieces) so that no worker holds one whole."""
    _, blocks = _split(bz2.compress(bytes(20_000_000), 9), 1 << 20)
    assert decompress_block(blocks[0], max_size=len(decompress_block(blocks[0], 1 << 30)))
    with pytest.raises(DecodeError, match="bz2 block larger than 8388608 bytes"):
        decompress_block(blocks[0])


_SMALL_STREAMS = bz2.compress(_FOUR_BLOCKS[:150_000], 1) + bz2.compress(bytes(5000), 9)


@settings(max_examples=300, deadline=None)
@given(
    flips=st.lists(st.integers(0, len(_SMALL_STREAMS) * 8 - 1), max_size=3),
    cut=st.integers(0, len(_SMALL_STREAMS)),
    piece=st.integers(1, 70_000),
)
def test_damaged_files_never_raise_and_never_mislead(
    flips: list[int], cut: int, piece: int
) -> None:
    """Bits flipped and the end cut anywhere: the splitter only ever says ``failed``;
    a block only ever decompresses or raises :class:`DecodeError`; and when every
    block decompresses and the splitter vouches for the file, the blocks are what
    ``bzip2 -d`` makes of it."""
    damaged = bytearray(_SMALL_STREAMS[:cut])
    for bit in flips:
        if bit // 8 < len(damaged):
            damaged[bit // 8] ^= 0x80 >> (bit % 8)
    splitter, blocks = _split(bytes(damaged), piece)
    content = []
    for block in blocks:
        try:
            content.append(decompress_block(block))
        except DecodeError:
            return
    if not splitter.failed:
        assert b"".join(content) == bz2.decompress(bytes(damaged))
