"""Decoding record-aligned chunks in a worker: the part `mrtfeed parse` and the service share.

A chunk carries the PEER_INDEX_TABLE in force at its start (a worker may never see the
record itself), and a damaged chunk must still yield the events before the damage.
"""

from __future__ import annotations

from typing import Any

from mrtfeed.decode.decoder import Decoder, DecoderStats
from mrtfeed.decode.errors import DecodeError
from mrtfeed.decode.events import Event
from mrtfeed.decode.framing import Chunk
from mrtfeed.decode.lines import RibRows


class ChunkDecoder:
    """A long-lived decoder (its caches outlive chunks) fed one chunk at a time."""

    def __init__(self) -> None:
        self.decoder = Decoder()
        self._peer_index: bytes | None = None

    def load_peer_index(self, chunk: Chunk) -> None:
        """Install the chunk's PEER_INDEX_TABLE unless it is the one in force."""
        if chunk.peer_index is not None and chunk.peer_index != self._peer_index:
            self.decoder.load_peer_index(chunk.peer_index)
            self._peer_index = chunk.peer_index

    def decode(
        self, chunk: Chunk, skipped: list[DecodeError] | None = None
    ) -> tuple[list[Event], DecodeError | None]:
        """The chunk's events and the damage that ended it (None when whole).

        ``decoder.stats`` holds this chunk's counts afterwards. With a ``skipped`` list
        damaged records are collected there and decoding goes on.
        """
        events: list[Event]
        events, error = self.decode_rows(chunk, None, skipped)
        return events, error

    def decode_rows(
        self, chunk: Chunk, rows: RibRows | None, skipped: list[DecodeError] | None = None
    ) -> tuple[list[Any], DecodeError | None]:
        """:meth:`decode` with an output format's rows instead of events (see
        :meth:`Decoder.decode_rows`)."""
        decoder = self.decoder
        self.load_peer_index(chunk)
        decoder.stats = DecoderStats()
        try:
            out = decoder.decode_rows(
                chunk.data, rows, chunk.first_index, chunk.first_offset, skipped
            )
        except DecodeError as exc:
            # Keep what came before the damage: decode up to the bad record again.
            decoder.stats = DecoderStats()
            out = []
            if exc.offset is not None and exc.offset > chunk.first_offset:
                good = chunk.data[: exc.offset - chunk.first_offset]
                out = decoder.decode_rows(good, rows, chunk.first_index, chunk.first_offset)
            decoder.stats.bad_records += 1
            return out, exc
        return out, None


def file_events(path: str, *, max_chunks: int | None = None) -> list[Event]:
    """Every event of a file (or of its first ``max_chunks`` chunks), in one process.

    For library users and tests that want events rather than text; raises the
    :class:`DecodeError` of a damaged file.
    """
    from mrtfeed.pipeline.reader import ChunkReader

    reader = ChunkReader(path)
    decoder = ChunkDecoder()
    events: list[Event] = []
    for count, chunk in enumerate(reader):
        if count == max_chunks:
            break
        chunk_events, error = decoder.decode(chunk)
        if error is not None:
            raise error
        events.extend(chunk_events)
    if reader.error is not None and max_chunks is None:
        raise reader.error
    return events
