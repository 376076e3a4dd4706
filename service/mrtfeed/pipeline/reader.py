"""Read an MRT file (or stdin) and drive the sans-I/O decoder over it.

This is the I/O edge for the decoder: it owns the file handle and the read size, and
nothing else. Everything it calls is pure.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator
from typing import BinaryIO

from mrtfeed.decode.bz2blocks import BlockSplitter, Bz2Block, decompress_block
from mrtfeed.decode.compression import PIECE_SIZE, SNIFF_SIZE, Decompressor, sniff_compression
from mrtfeed.decode.errors import DecodeError
from mrtfeed.decode.framing import (
    PEER_INDEX_TABLE,
    TABLE_DUMP_V2,
    Chunk,
    RecordSplitter,
    iter_records,
    peer_table_fits,
)

READ_SIZE = 1 << 18
#: Largest bz2 block decompressed when looking for what damage took with it: any
#: (bzip2's run-length stage caps a 900 kB block at about 46 MB of one byte).
_UNCHECKED_BLOCK_SIZE = 64 << 20


class ChunkReader:
    """Yields record-aligned chunks of decompressed data from a file or stdin (or,
    with :meth:`pieces`, the decompressed data as it comes).

    After iterating over the chunks, ``error`` holds the damage that ended the stream
    (if any), located at the byte offset and record index where the undamaged part
    stops; after :meth:`pieces`, only the decompressor's damage, not located.
    """

    def __init__(self, path: str, read_size: int = READ_SIZE, piece_size: int = PIECE_SIZE) -> None:
        self.path = path
        self.read_size = read_size
        self.decompressor = Decompressor(piece_size=piece_size)
        self.splitter = RecordSplitter()
        self.error: DecodeError | None = None
        self.size: int | None = None

    @property
    def bytes_in(self) -> int:
        """Compressed bytes read so far (for a progress display)."""
        return self.decompressor.bytes_in

    def _open(self) -> BinaryIO:
        if self.path == "-":
            return sys.stdin.buffer
        handle = open(self.path, "rb")  # noqa: SIM115 - closed in pieces()
        status = os.fstat(handle.fileno())
        # A named pipe has no size, and cannot be read a second time.
        self.size = status.st_size if stat.S_ISREG(status.st_mode) else None
        return handle

    def __iter__(self) -> Iterator[Chunk]:
        splitter = self.splitter
        for data in self.pieces():
            try:
                chunk = splitter.feed_chunk(data)
            except DecodeError as exc:
                self.error = self._locate(exc)
                return
            if chunk is not None:
                yield chunk
        if self.error is not None:
            # Damage seen before the decompressor's comes first (as with -j 1).
            self.error = splitter.implausible() or self._locate(self.error)
            return
        try:
            splitter.finish()
        except DecodeError as exc:
            self.error = exc

    def pieces(self) -> Iterator[bytes]:
        """The decompressed stream as it comes, not cut at records (for a caller
        that frames it itself). Damaged compression ends it and sets ``error``,
        not located: only the caller knows where its last record ended.

        A damaged bz2 block may take good output with it (see
        :meth:`_bz2_blocks_after`); in a regular file that output is found again."""
        handle = self._open()
        delivered = 0
        try:
            decompressor = self.decompressor
            while raw := handle.read(self.read_size):
                try:
                    for piece in decompressor.feed(raw):
                        delivered += len(piece)
                        yield piece
                except DecodeError as exc:
                    if decompressor.kind == "bz2" and self.size is not None:
                        yield from self._bz2_blocks_after(delivered)
                    self.error = exc
                    return
            try:
                yield decompressor.finish()
            except DecodeError as exc:
                self.error = exc
        finally:
            if handle is not sys.stdin.buffer:
                handle.close()

    def _bz2_blocks_after(self, delivered: int) -> Iterator[bytes]:
        """The good output of a damaged bz2 file from byte ``delivered`` on: its
        blocks, each decompressed on its own, up to the first that fails.

        The stdlib decompressor drops the output of a call that fails. Fed 16 kB at a
        time, it passes a block's output on before the next block's CRC fails, but
        damage found at a block's start (its Huffman tables), or among blocks under
        16 kB (``bzip2 -1`` of MRT data), took the end of the block before with it.
        Reading the file again only costs when it is damaged; a block the splitter
        cannot make sense of ends the search early, which loses nothing more than
        before, and a block only passes on once its CRC has checked."""
        skip = delivered
        for block in BlockReader(self.path, self.read_size):
            try:
                data = decompress_block(block, _UNCHECKED_BLOCK_SIZE)
            except DecodeError:
                return
            if skip >= len(data):
                skip -= len(data)
                continue
            for start in range(skip, len(data), self.decompressor.piece_size):
                yield data[start : start + self.decompressor.piece_size]
            skip = 0

    def _locate(self, exc: DecodeError) -> DecodeError:
        if exc.offset is not None:
            return exc
        return type(exc)(exc.message, offset=self.splitter.offset, record_index=self.splitter.index)


def is_bz2_file(path: str) -> bool:
    """Whether ``path`` is a regular file holding bz2 data: one that
    :class:`BlockReader` can cut into blocks, and that can be read again in order
    when that fails (stdin and pipes cannot)."""
    if path == "-" or not os.path.isfile(path):
        return False
    with open(path, "rb") as handle:
        return sniff_compression(handle.read(SNIFF_SIZE)) == "bz2"


class BlockReader:
    """Yields the compressed blocks of a bz2 file, for workers that decompress them
    (:mod:`mrtfeed.decode.bz2blocks`); ``failed`` afterwards when the file stopped
    making sense before its end, and the rest is to be read in order."""

    def __init__(self, path: str, read_size: int = READ_SIZE) -> None:
        self.path = path
        self.read_size = read_size
        self.splitter = BlockSplitter()
        self.bytes_in = 0
        self.size: int | None = None

    @property
    def failed(self) -> bool:
        return self.splitter.failed

    def __iter__(self) -> Iterator[Bz2Block]:
        splitter = self.splitter
        with open(self.path, "rb") as handle:
            self.size = os.fstat(handle.fileno()).st_size
            while raw := handle.read(self.read_size):
                self.bytes_in += len(raw)
                yield from splitter.feed(raw)
                if splitter.failed:
                    return
        yield from splitter.finish()


def chunks_from(chunks: Iterator[Chunk], next_offset: int, next_index: int) -> Iterator[Chunk]:
    """The chunks from record ``next_index`` (at byte ``next_offset``) on, for a
    reader that goes on where others left off: a chunk straddling it is cut at the
    record, and keeps the peer index table of the records cut away."""
    for chunk in chunks:
        end_index = chunk.first_index + chunk.records
        if end_index <= next_index:
            continue
        if chunk.first_index < next_index:
            cut = next_offset - chunk.first_offset
            if not 0 < cut < len(chunk.data):
                raise DecodeError(
                    "checkpoint does not fall on a record boundary of this file",
                    offset=next_offset,
                    record_index=next_index,
                )
            skipped = chunk.data[:cut]
            peer_index = (
                _last_peer_index(skipped, chunk.first_index, chunk.first_offset) or chunk.peer_index
            )
            chunk = Chunk(
                chunk.data[cut:], next_index, next_offset, end_index - next_index, peer_index
            )
        yield chunk


def _last_peer_index(data: bytes, first_index: int, first_offset: int) -> bytes | None:
    found = None
    for record in iter_records(data, first_index, first_offset):
        if (
            record.type == TABLE_DUMP_V2
            and record.subtype == PEER_INDEX_TABLE
            and peer_table_fits(record.body)
        ):
            found = record.body
    return found
