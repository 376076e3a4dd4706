"""Read an MRT file (or stdin) and drive the sans-I/O decoder over it.

This is the I/O edge for the decoder: it owns the file handle and the read size, and
nothing else. Everything it calls is pure.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import BinaryIO

from mrtfeed.decode.compression import PIECE_SIZE, Decompressor
from mrtfeed.decode.errors import DecodeError
from mrtfeed.decode.framing import Chunk, RecordSplitter

READ_SIZE = 1 << 18


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

    def _open(self) -> BinaryIO:
        if self.path == "-":
            return sys.stdin.buffer
        handle = open(self.path, "rb")  # noqa: SIM115 - closed in pieces()
        self.size = os.fstat(handle.fileno()).st_size
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
        not located: only the caller knows where its last record ended."""
        handle = self._open()
        try:
            decompressor = self.decompressor
            while raw := handle.read(self.read_size):
                try:
                    yield from decompressor.feed(raw)
                except DecodeError as exc:
                    self.error = exc
                    return
            try:
                yield decompressor.finish()
            except DecodeError as exc:
                self.error = exc
        finally:
            if handle is not sys.stdin.buffer:
                handle.close()

    def _locate(self, exc: DecodeError) -> DecodeError:
        if exc.offset is not None:
            return exc
        return type(exc)(exc.message, offset=self.splitter.offset, record_index=self.splitter.index)
