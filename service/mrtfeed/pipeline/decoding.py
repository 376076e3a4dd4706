"""Decoding record-aligned chunks in a worker: the part `mrtfeed parse` and the service share.

A chunk carries the PEER_INDEX_TABLE in force at its start (a worker may never see the
record itself), and a damaged chunk must still yield the events before the damage.
A single process (``mrtfeed parse --jobs 1``) can instead feed the decompressed stream
as it comes (:meth:`ChunkDecoder.decode_stream`), without cutting it at records first.
"""

from __future__ import annotations

import struct
from typing import Any

from mrtfeed.decode.decoder import Decoder, DecoderStats
from mrtfeed.decode.errors import DecodeError
from mrtfeed.decode.events import Event, Peer
from mrtfeed.decode.framing import Chunk, implausible_header, unfinished_record
from mrtfeed.decode.lines import RibRows


class ChunkDecoder:
    """A long-lived decoder (its caches outlive chunks) fed one chunk at a time."""

    def __init__(self) -> None:
        self.decoder = Decoder()
        #: The PEER_INDEX_TABLE last installed, and the decoder's peer list it made:
        #: a table read inside a chunk replaces that list.
        self._peer_index: bytes | None = None
        self._installed: list[Peer] | None = None
        #: With :meth:`decode_stream`: the unfinished record carried to the next piece,
        #: and the stream offset and record index where it starts.
        self._rest = b""
        self.stream_offset = 0
        self.stream_index = 0

    def load_peer_index(self, chunk: Chunk) -> None:
        """Install the chunk's PEER_INDEX_TABLE unless it is the one in force."""
        self.install_peer_index(chunk.peer_index)

    def install_peer_index(self, peer_index: bytes | None) -> None:
        """Put ``peer_index`` in force (None: no table yet, as at the stream's start),
        unless it is already: installed last and not replaced by one read since
        (inside a chunk, or a block decoded ahead of its place)."""
        decoder = self.decoder
        if decoder.peers is self._installed and peer_index == self._peer_index:
            return
        decoder.load_peer_index(peer_index)
        self._peer_index, self._installed = peer_index, decoder.peers

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
        self.load_peer_index(chunk)
        return self._decode(
            chunk.data, rows, chunk.first_index, chunk.first_offset, skipped, partial=False
        )

    def decode_ahead(
        self, data: bytes, rows: RibRows, peer_index: bytes | None
    ) -> tuple[list[Any], DecoderStats, int, int] | None:
        """Rows of the whole records ``data`` starts with, decoded before it is known
        where they lie in the stream (a bz2 block's records from a guessed first one
        on: :func:`~mrtfeed.pipeline.work.process_block_and_write`), with
        ``peer_index`` in force: the rows, their counts, and the bytes and records
        taken. Their record indexes and offsets count from 0, so only for formats
        that do not show them. None on any damage, or when a PEER_INDEX_TABLE is
        among them: the caller then frames and decodes ``data`` the usual way."""
        decoder = self.decoder
        decoder.stats = DecoderStats()
        try:
            self.install_peer_index(peer_index)
            peers = decoder.peers
            out = decoder.decode_rows(data, rows, partial=True)
        except (DecodeError, struct.error, IndexError, ValueError, OSError):
            return None
        if decoder.peers is not peers:
            return None
        return out, decoder.stats, decoder.consumed, decoder.consumed_records

    def decode_stream(
        self, data: bytes, rows: RibRows | None, skipped: list[DecodeError] | None = None
    ) -> tuple[list[Any], DecodeError | None]:
        """:meth:`decode_rows` for the next piece of the decompressed stream, cut
        anywhere: a record it ends inside waits for the next piece (or
        :meth:`finish_stream`)."""
        data = self._rest + data if self._rest else data
        out, error = self._decode(
            data, rows, self.stream_index, self.stream_offset, skipped, partial=True
        )
        if error is None:
            consumed = self.decoder.consumed
            rest = self._rest = data[consumed:]
            self.stream_offset += consumed
            self.stream_index += self.decoder.consumed_records
            # Never buffer the rest of the file for a record that cannot be real.
            error = implausible_header(rest, self.stream_offset, self.stream_index)
        return out, error

    def finish_stream(self) -> DecodeError | None:
        """The damage at the end of the stream: an unfinished record (None if none)."""
        if not self._rest:
            return None
        return unfinished_record(self._rest, self.stream_offset, self.stream_index)

    def _decode(
        self,
        data: bytes,
        rows: RibRows | None,
        first_index: int,
        first_offset: int,
        skipped: list[DecodeError] | None,
        *,
        partial: bool,
    ) -> tuple[list[Any], DecodeError | None]:
        decoder = self.decoder
        decoder.stats = DecoderStats()
        peers = decoder.peer_state()
        try:
            out = decoder.decode_rows(
                data, rows, first_index, first_offset, skipped, partial=partial
            )
        except DecodeError as exc:
            # Keep what came before the damage: decode up to the bad record again.
            decoder.stats = DecoderStats()
            decoder.restore_peer_state(peers)
            out = []
            if exc.offset is not None and exc.offset > first_offset:
                good = data[: exc.offset - first_offset]
                out = decoder.decode_rows(good, rows, first_index, first_offset)
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
