"""MRT framing: split a decompressed byte stream into records with offsets and indexes.

Framing is much cheaper than decoding (bgpkit-parser#239 measured 2.4 s against 42 s
on a RIS bview), so the parent process only hops from header to header and ships
record-aligned chunks to the workers, which frame them again into :class:`Record`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import NamedTuple

from mrtfeed.decode.errors import DecodeError, TruncatedInputError

HEADER = struct.Struct(">IHHI")
HEADER_SIZE = HEADER.size
#: A larger length is corruption, not data: the biggest real TABLE_DUMP_V2 records
#: (thousands of peers for one prefix) stay far below it. Refusing it early keeps
#: memory bounded instead of buffering the rest of the file for a record that never ends.
MAX_RECORD_LENGTH = 16 * 1024 * 1024

TABLE_DUMP_V2 = 13
PEER_INDEX_TABLE = 1


class Record(NamedTuple):
    """One MRT record: its place in the stream and its undecoded body."""

    record_index: int
    offset: int
    timestamp: int
    type: int
    subtype: int
    body: bytes


class Chunk(NamedTuple):
    """Whole records cut from the stream, ready to ship to a worker process."""

    data: bytes
    first_index: int
    first_offset: int
    records: int
    #: The last PEER_INDEX_TABLE record body seen before or inside this chunk's start,
    #: so that a worker can decode TABLE_DUMP_V2 RIB entries without the whole file.
    peer_index: bytes | None


_U16 = struct.Struct(">H").unpack_from


def peer_table_fits(body: bytes) -> bool:
    """Whether a PEER_INDEX_TABLE body holds every peer entry it announces, as the
    decoder reads it (:meth:`~mrtfeed.decode.decoder.Decoder.load_peer_index`). A
    damaged table is a bad record, and the one before it stays in force: the table
    that travels with chunks and blocks (:attr:`Chunk.peer_index`) must be one the
    decoder can install."""
    end = len(body)
    if end < 6:
        return False
    pos: int = 6 + _U16(body, 4)[0]
    if pos + 2 > end:
        return False
    count: int = _U16(body, pos)[0]
    pos += 2
    for _ in range(count):
        if pos >= end:
            return False
        peer_type = body[pos]
        # type, BGP ID, address (IPv6 or IPv4), AS (4 or 2 bytes)
        pos += 5 + (16 if peer_type & 1 else 4) + (4 if peer_type & 2 else 2)
    return pos <= end


def bad_length(length: int, offset: int, index: int) -> DecodeError:
    """The error for a record length no real record has (see :data:`MAX_RECORD_LENGTH`)."""
    return DecodeError(
        f"implausible MRT record length {length} (limit {MAX_RECORD_LENGTH})",
        offset=offset,
        record_index=index,
    )


def iter_records(data: bytes, first_index: int = 0, first_offset: int = 0) -> Iterator[Record]:
    """Frame a buffer of whole records (as cut by :class:`RecordSplitter`)."""
    unpack = HEADER.unpack_from
    pos = 0
    end = len(data)
    index = first_index
    while pos < end:
        if end - pos < HEADER_SIZE:
            raise TruncatedInputError(
                "stream ends inside an MRT header", offset=first_offset + pos, record_index=index
            )
        timestamp, rtype, subtype, length = unpack(data, pos)
        body_end = pos + HEADER_SIZE + length
        if body_end > end:
            raise TruncatedInputError(
                f"stream ends inside an MRT record ({end - pos - HEADER_SIZE} of {length} bytes)",
                offset=first_offset + pos,
                record_index=index,
            )
        yield Record(
            index, first_offset + pos, timestamp, rtype, subtype, data[pos + HEADER_SIZE : body_end]
        )
        pos = body_end
        index += 1


class RecordSplitter:
    """Incremental framer: feed decompressed bytes, take whole records or chunks.

    It never allocates from a length field: bytes are only buffered as they arrive,
    and a length beyond :data:`MAX_RECORD_LENGTH` is an error at once.
    """

    def __init__(self) -> None:
        self._buffer = b""
        self.offset = 0  # stream offset of self._buffer[0]
        self.index = 0  # index of the record starting at self._buffer[0]
        self.peer_index: bytes | None = None

    @classmethod
    def resume(
        cls, pending: bytes, *, offset: int, index: int, peer_index: bytes | None
    ) -> RecordSplitter:
        """A splitter that goes on where another stopped (:meth:`pending` and the
        attributes of that one): framing handed between processes."""
        splitter = cls()
        splitter._buffer = pending
        splitter.offset = offset
        splitter.index = index
        splitter.peer_index = peer_index
        return splitter

    def pending(self) -> bytes:
        """The bytes of the unfinished record buffered (at ``offset``)."""
        return self._buffer

    def feed_chunk(self, data: bytes) -> Chunk | None:
        """Append data and cut off every whole record buffered so far."""
        buf = self._buffer + data if self._buffer else data
        unpack = HEADER.unpack_from
        peer_index_at_start = self.peer_index
        pos = 0
        count = 0
        end = len(buf)
        while end - pos >= HEADER_SIZE:
            _, rtype, subtype, length = unpack(buf, pos)
            if length > MAX_RECORD_LENGTH:
                # Hand out what came before; the error surfaces on the next call.
                if count:
                    break
                raise bad_length(length, self.offset + pos, self.index)
            body_end = pos + HEADER_SIZE + length
            if body_end > end:
                break
            if rtype == TABLE_DUMP_V2 and subtype == PEER_INDEX_TABLE:
                table = buf[pos + HEADER_SIZE : body_end]
                if peer_table_fits(table):
                    self.peer_index = table
            pos = body_end
            count += 1
        self._buffer = buf[pos:]
        if not count:
            return None
        chunk = Chunk(buf[:pos], self.index, self.offset, count, peer_index_at_start)
        self.index += count
        self.offset += pos
        return chunk

    def feed(self, data: bytes) -> Iterator[Record]:
        """Append data and yield every whole record buffered so far."""
        chunk = self.feed_chunk(data)
        if chunk is not None:
            yield from iter_records(chunk.data, chunk.first_index, chunk.first_offset)

    def implausible(self) -> DecodeError | None:
        """The error for a buffered record header whose length no real record has
        (:meth:`feed_chunk` reports it only on its next call)."""
        return implausible_header(self._buffer, self.offset, self.index)

    def finish(self) -> None:
        """Raise :class:`TruncatedInputError` when bytes of an unfinished record remain."""
        if self._buffer:
            raise unfinished_record(self._buffer, self.offset, self.index)


#: The record types :func:`first_record_guess` looks for: what collectors write
#: (legacy BGP, TABLE_DUMP, TABLE_DUMP_V2, BGP4MP, BGP4MP_ET).
_GUESS_TYPES = frozenset((5, 12, 13, 16, 17))
#: Seconds between the times of a guess's headers, at most (a file spans minutes).
_GUESS_SPAN = 86_400


def first_record_guess(data: bytes, limit: int = 1 << 16, links: int = 4) -> int | None:
    """Where the first whole record of ``data`` probably starts, for data that starts
    inside a record (a bz2 block's output): the first offset below ``limit`` from
    which ``links`` plausible headers chain inside ``data`` (a collector's record
    type, the same in all, lengths within bounds, times within a day); None if none.

    Only a guess, to decode a block before the framing of the stream up to it
    arrives (:mod:`mrtfeed.pipeline.relay`); the caller checks it against that
    framing (:func:`whole_records`). A chain may not leave ``data``: one header
    whose length points past the end would pass anywhere."""
    unpack = HEADER.unpack_from
    end = len(data)
    types, span = _GUESS_TYPES, _GUESS_SPAN
    for start in range(min(limit, end - HEADER_SIZE + 1)):
        first_time, first_type, _, length = unpack(data, start)
        if first_type not in types or length > MAX_RECORD_LENGTH:
            continue
        pos = start + HEADER_SIZE + length
        for _ in range(links - 1):
            if end - pos < HEADER_SIZE:
                break
            timestamp, rtype, _, length = unpack(data, pos)
            if rtype != first_type or abs(timestamp - first_time) > span:
                break
            pos += HEADER_SIZE + length
        else:
            if pos <= end:
                return start
    return None


def whole_records(data: bytes) -> tuple[int, bytes | None] | None:
    """How many records ``data`` holds and the body of the last PEER_INDEX_TABLE
    among them that fits (None if none), or None unless ``data`` is exactly whole
    records of plausible lengths."""
    splitter = RecordSplitter()
    try:
        chunk = splitter.feed_chunk(data)
    except DecodeError:
        return None
    if splitter.pending():
        return None
    return (0 if chunk is None else chunk.records), splitter.peer_index


def implausible_header(rest: bytes, offset: int, index: int) -> DecodeError | None:
    """The error when ``rest`` (at ``offset``) starts with a record header whose
    length no real record has; None otherwise."""
    if len(rest) >= HEADER_SIZE and HEADER.unpack_from(rest)[3] > MAX_RECORD_LENGTH:
        return unfinished_record(rest, offset, index)
    return None


def unfinished_record(rest: bytes, offset: int, index: int) -> DecodeError:
    """The error for bytes left at the end of a stream (``rest``, at ``offset``): the
    start of a record that never ends."""
    if len(rest) < HEADER_SIZE:
        message = f"stream ends inside an MRT header ({len(rest)} of {HEADER_SIZE} bytes)"
    else:
        length = HEADER.unpack_from(rest)[3]
        if length > MAX_RECORD_LENGTH:
            return bad_length(length, offset, index)
        message = f"stream ends inside an MRT record ({len(rest) - HEADER_SIZE} of {length} bytes)"
    return TruncatedInputError(message, offset=offset, record_index=index)
