"""``mrtfeed parse --jobs N``'s pool when splitting a bz2 file goes wrong: the output
is still every line, in order, because the rest is read in order (real forked workers
writing to a real file)."""

from __future__ import annotations

import bz2
import gzip
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mrtfeed.cli.parse import PooledResults
from mrtfeed.decode.bz2blocks import Bz2Block
from mrtfeed.decode.framing import RecordSplitter
from mrtfeed.pipeline.reader import BlockReader
from mrtfeed.pipeline.work import ChunkResult, WorkOptions
from tests.mrtdata import MRT_DIR


class _ChanceMagic(BlockReader):
    """Cuts one block in two, as a block magic occurring by chance inside it would."""

    def __init__(self, path: str, victim: int) -> None:
        super().__init__(path)
        self.victim = victim

    def __iter__(self) -> Iterator[Bz2Block]:
        for number, block in enumerate(super().__iter__()):
            if number != self.victim:
                yield block
                continue
            half = block.bit_length // 2
            yield block._replace(bit_length=half)
            yield block._replace(
                start_bit=block.start_bit + half, bit_length=block.bit_length - half
            )


def _pooled(path: Path, reader: BlockReader, out: Path) -> list[ChunkResult]:
    with out.open("wb") as handle:
        return list(PooledResults(str(path), WorkOptions(), 2, handle).results(reader))


def _in_order(path: Path) -> bytes:
    command = [sys.executable, "-m", "mrtfeed.cli", "parse", "--jobs", "1", str(path)]
    return subprocess.run(command, capture_output=True, check=True).stdout


def test_a_block_cut_by_a_chance_magic_is_read_in_order_from_there(tmp_path: Path) -> None:
    """The two halves do not decompress; the relay breaks there, the blocks after it
    give up, and the in-order reader takes over where the last whole record ended."""
    path = tmp_path / "updates.bz2"
    mrt = gzip.decompress((MRT_DIR / "updates.20190101.0000.gz").read_bytes())
    path.write_bytes(bz2.compress(mrt, 1))
    out = tmp_path / "out"
    results = _pooled(path, _ChanceMagic(str(path), 20), out)
    assert [result.error for result in results if result.error is not None] == []
    assert out.read_bytes() == _in_order(path)


@pytest.mark.parametrize("wrong", ["one byte on", "the block's start"])
def test_wrong_guesses_of_a_blocks_first_record_leave_the_output_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wrong: str
) -> None:
    """The workers decode each block ahead from a guessed first record. A guess
    that is wrong (here every one, in the forked workers too) is caught against the
    framing of the stream up to the block, which then is cut first: the lines are
    those of --jobs 1."""
    from mrtfeed.decode.framing import first_record_guess
    from mrtfeed.pipeline import work

    def guess(data: bytes) -> int | None:
        found = first_record_guess(data)
        if found is None:
            return None
        return found + 1 if wrong == "one byte on" else 0

    monkeypatch.setattr(work, "first_record_guess", guess)
    path = tmp_path / "rib.bz2"
    raw = (MRT_DIR / "rib6.20151101.0600_firstMB.bz2").read_bytes()
    whole = RecordSplitter().feed_chunk(bz2.BZ2Decompressor().decompress(raw, 4_000_000))
    assert whole is not None
    path.write_bytes(bz2.compress(whole.data, 1))
    out = tmp_path / "out"
    results = _pooled(path, BlockReader(str(path)), out)
    assert [result.error for result in results if result.error is not None] == []
    assert out.read_bytes() == _in_order(path)


def test_a_worker_failing_before_its_turn_stops_the_blocks_after_it() -> None:
    """An exception while a block is decoded ahead (here injected: a bug, a
    MemoryError) ends the run with it; the blocks after it, which wait for that
    block's framing, do not wait for ever."""
    code = f"""
import sys
from mrtfeed.cli import main
from mrtfeed.pipeline import work

calls = []
decode_ahead = work.ChunkWorker.decode_ahead

def failing(self, data):
    calls.append(1)
    if len(calls) == 3:
        raise RuntimeError("injected")
    return decode_ahead(self, data)

work.ChunkWorker.decode_ahead = failing
sys.exit(main(["parse", "--jobs", "2", {str(MRT_DIR / "rib6.20151101.0600_firstMB.bz2")!r}]))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, check=False, timeout=120
    )
    assert result.returncode != 0
    assert b"RuntimeError: injected" in result.stderr
