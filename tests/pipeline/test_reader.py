"""The reader at the I/O edge: what a damaged bz2 file still yields."""

from __future__ import annotations

import bz2
import gzip
from pathlib import Path

from mrtfeed.decode.bz2blocks import BlockSplitter, decompress_block, find_block_magics
from mrtfeed.pipeline.reader import ChunkReader
from tests.mrtdata import MRT_DIR


def _damaged_small_blocks(block: int) -> tuple[bytes, bytes]:
    """A bz2 file of 5 kB blocks whose ``block``-th block has a damaged symbol map,
    and the data of the blocks before it."""
    data = gzip.decompress((MRT_DIR / "updates.20190101.0000.gz").read_bytes())[:20_000] * 80
    stream = bytearray(bz2.compress(data, 1))
    magics = find_block_magics(bytes(stream))
    stream[(magics[block] + 112) // 8] ^= 0x55
    good = BlockSplitter().feed(bytes(stream))[:block]
    return bytes(stream), b"".join(decompress_block(b) for b in good)


def test_pieces_of_a_damaged_bz2_file_hold_every_block_before_the_damage(
    tmp_path: Path,
) -> None:
    """The in-order decompressor fails in the call that also makes several good
    blocks; the reader finds their output again, and nothing twice."""
    stream, good = _damaged_small_blocks(6)
    path = tmp_path / "damaged.bz2"
    path.write_bytes(stream)
    reader = ChunkReader(str(path), read_size=1 << 20)
    assert b"".join(reader.pieces()) == good
    assert reader.error is not None and "corrupt bz2 data" in reader.error.message


def test_pieces_after_recovery_keep_the_piece_size(tmp_path: Path) -> None:
    """What is found again comes in pieces no larger than the reader's, as the rest."""
    stream, good = _damaged_small_blocks(6)
    path = tmp_path / "damaged.bz2"
    path.write_bytes(stream)
    reader = ChunkReader(str(path), piece_size=4096)
    pieces = list(reader.pieces())
    assert b"".join(pieces) == good
    assert max(len(piece) for piece in pieces) <= 4096
