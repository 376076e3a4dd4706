"""Decode and encode record-aligned chunks: the unit of work of the parser pool.

Worker processes get record-aligned chunks (:meth:`ChunkWorker.process`); a single
process (``--jobs 1``) feeds the decompressed stream as it comes
(:meth:`ChunkWorker.process_piece`). Both go through the same decoder and encoder and
produce identical bytes (tests cut streams anywhere to check it). Workers keep their
decoder (and its caches) between chunks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

from mrtfeed.decode.bz2blocks import Bz2Block, decompress_block
from mrtfeed.decode.decoder import DecoderStats
from mrtfeed.decode.errors import DecodeError
from mrtfeed.decode.events import Event, Peer
from mrtfeed.decode.framing import Chunk, RecordSplitter, first_record_guess, whole_records
from mrtfeed.decode.lines import RibRows
from mrtfeed.encode.base import Encoder, make_encoder
from mrtfeed.encode.bgpdump import BgpdumpEncoder
from mrtfeed.pipeline.decoding import ChunkDecoder
from mrtfeed.pipeline.gcpolicy import tune_gc
from mrtfeed.pipeline.interrupts import ignore_interrupts
from mrtfeed.pipeline.orphans import exit_with_parent

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from mrtfeed.filter import EventFilter
    from mrtfeed.pipeline.relay import FramingRelay
    from mrtfeed.pipeline.turns import OutputTurns


@dataclass(frozen=True)
class WorkOptions:
    """What every worker needs to know to turn chunks into output."""

    output_format: str = "bgpdump"
    large_communities: bool = False
    skip_bad_records: bool = False
    source: str = ""
    #: Filter expression, compiled in each worker ("" keeps every event).
    filter_expression: str = ""


@dataclass
class ChunkResult:
    """Output text of a chunk, the decoder counts for it, and the error that stopped it."""

    text: bytes
    stats: DecoderStats
    error: DecodeError | None = None
    #: Records skipped as bad (with --skip-bad-records), as located errors.
    skipped: list[DecodeError] | None = None
    #: A bz2 block that could not go on the relay (it did not decompress or frame):
    #: the (byte offset, record index) from which the stream is to be read in order.
    #: Nothing of the block was written.
    read_on_from: tuple[int, int] | None = None


class Ahead(NamedTuple):
    """A bz2 block's records decoded from a guessed first record on, before the
    framing of the stream up to the block arrived (:meth:`ChunkWorker.decode_ahead`)."""

    #: Where in the block's data the guessed first record starts.
    start: int
    rows: list[Any]
    stats: DecoderStats
    #: Bytes and records of whole records decoded from ``start``.
    consumed: int
    records: int
    #: The PEER_INDEX_TABLE they were decoded under, and the decoder's peer state after.
    peer_index: bytes | None
    peers: tuple[list[Peer], list[bool] | None]


class _EarlyFiltered:
    """bgpdump lines behind a filter whose early answers are final (peer-only or
    prefix-only expressions): the decoder drops RIB entries itself, the events of other
    records are filtered here."""

    rib_row: Callable[[Any, str, Any, int, int, int], Any] | None = None

    def __init__(self, fmt: BgpdumpEncoder, event_filter: EventFilter) -> None:
        self.fmt = fmt
        self.filter = event_filter
        self.rib_heads = fmt.rib_heads
        self.rib_tail = fmt.rib_tail
        self.rib_blob_tail = fmt.rib_blob_tail
        self.ipv6_prefix = fmt.ipv6_prefix

    def begin(self) -> None:
        pass

    def rows_for(self, events: Sequence[Event]) -> list[str]:
        return self.fmt.rows_for(self.filter.select(list(events), early_applied=True))


#: A :class:`ChunkDecoder` method bound to its input: (rows, skipped) -> (out, error).
_Decode = Callable[[RibRows | None, list[DecodeError] | None], tuple[list[Any], DecodeError | None]]


class ChunkWorker:
    """Holds a decoder and an encoder; processes chunks in stream order."""

    def __init__(self, options: WorkOptions) -> None:
        self.options = options
        self.chunks = ChunkDecoder()
        self.decoder = self.chunks.decoder
        self.encoder: Encoder = make_encoder(
            options.output_format,
            large_communities=options.large_communities,
            source=options.source,
        )
        self.filter: EventFilter | None = None
        #: The PEER_INDEX_TABLE in force where the last bz2 block this worker framed
        #: ended, the guess :meth:`decode_ahead` decodes the next one under (None
        #: before the first: no guess).
        self.block_end_table: tuple[bytes | None] | None = None
        if options.filter_expression:
            from mrtfeed.filter import compile_filter  # not imported without a filter

            self.filter = compile_filter(options.filter_expression)
        self.decoder.set_early_filter(self.filter.early if self.filter is not None else None)
        #: The RIB fast path (rows without events): for every format without a filter,
        #: and for bgpdump lines when the decoder's early peer and prefix checks are
        #: the whole filter. bgpdump lines of plain UPDATEs skip events too.
        self.rows: RibRows | None = None
        if isinstance(self.encoder, BgpdumpEncoder):
            if self.filter is None:
                self.rows = RibRows(self.encoder, updates=self.encoder)
            elif self.filter.early is not None and self.filter.early.final:
                self.rows = RibRows(_EarlyFiltered(self.encoder, self.filter))
        elif self.filter is None:
            # Imported here: ``mrtfeed parse`` of bgpdump lines (the default) does not
            # pay for the JSON encoder's imports (json, hashlib) at start-up.
            from mrtfeed.encode.bgpscanner import BgpscannerEncoder
            from mrtfeed.encode.jsonl import JsonEncoder

            if isinstance(self.encoder, JsonEncoder):
                self.rows = RibRows(self.encoder.rows, updates=self.encoder.rows)
            elif isinstance(self.encoder, BgpscannerEncoder):
                self.rows = RibRows(self.encoder, updates=self.encoder)

    def decode_ahead(self, data: bytes) -> Ahead | None:
        """Decode a bz2 block's records before the framing of the stream up to it
        arrives: from the first offset where records seem to start
        (:func:`~mrtfeed.decode.framing.first_record_guess`), under the peer table in
        force where this worker's last block ended. :meth:`finish_ahead` checks both
        guesses once the framing is known. None when there is nothing to guess from
        or the block does not decode so (the usual road then words any damage).

        This takes the walk over the block's record headers that cutting them first
        costs (6 % of a worker's time on the jinx RIB) off the road of the relay,
        whose turns waited for it."""
        options, fmt, table = self.options, self.rows, self.block_end_table
        # Rows that do not show records' places: JSON events carry their record
        # index, and skipped records are reported with theirs.
        if fmt is None or table is None or options.output_format == "json":
            return None
        if options.skip_bad_records:
            return None
        start = first_record_guess(data)
        if start is None:
            return None
        peer_index = table[0]
        decoded = self.chunks.decode_ahead(data[start:], fmt, peer_index)
        if decoded is None:
            return None
        rows, stats, consumed, records = decoded
        return Ahead(start, rows, stats, consumed, records, peer_index, self.decoder.peer_state())

    def finish_ahead(
        self, ahead: Ahead, data: bytes, framing: RecordSplitter
    ) -> tuple[ChunkResult, RecordSplitter] | None:
        """The block's result and the framing it leaves, once the framing up to the
        block (``framing``) is known, if the guesses of :meth:`decode_ahead` hold: the
        unfinished record before the block and the block's bytes up to the guessed
        start are whole records (decoded now, their rows first), after which the peer
        table the block was decoded under is in force. None otherwise: the caller
        frames and decodes the block the usual way."""
        before = framing.pending() + data[: ahead.start]
        framed = whole_records(before)
        if framed is None:
            return None
        count, table_read = framed
        table = framing.peer_index if table_read is None else table_read
        if table != ahead.peer_index:
            return None
        rows: list[Any] = []
        stats = DecoderStats()
        if before:
            chunk = Chunk(before, framing.index, framing.offset, count, framing.peer_index)
            rows, error = self.chunks.decode_rows(chunk, self.rows)
            if error is not None:
                return None
            stats = self.decoder.stats
            # As the block's end left it, for the next chunk this worker decodes.
            self.decoder.restore_peer_state(ahead.peers)
        stats.merge(ahead.stats)
        rows.extend(ahead.rows)
        ahead.rows.clear()
        end = ahead.start + ahead.consumed
        after = RecordSplitter.resume(
            data[end:],
            offset=framing.offset + len(before) + ahead.consumed,
            index=framing.index + count + ahead.records,
            peer_index=table,
        )
        joined = "".join(rows)
        rows.clear()
        return ChunkResult(joined.encode(), stats), after

    def process(self, chunk: Chunk) -> ChunkResult:
        """Decode and encode a chunk of whole records."""
        return self._process(partial(self.chunks.decode_rows, chunk))

    def process_piece(self, data: bytes) -> ChunkResult:
        """Decode and encode the next piece of the decompressed stream, which may
        end inside a record (when one process reads the whole stream: ``--jobs 1``)."""
        return self._process(partial(self.chunks.decode_stream, data))

    def finish(self, stream_error: DecodeError | None) -> ChunkResult:
        """After the last piece: the damage that ended the stream (``stream_error``,
        the decompressor's, located here where the last whole record ends) or an
        unfinished record."""
        chunks = self.chunks
        error = chunks.finish_stream()
        if stream_error is not None:
            error = stream_error
            if error.offset is None:
                error = error.located(offset=chunks.stream_offset, record_index=chunks.stream_index)
        return ChunkResult(b"", DecoderStats(), error)

    def _process(self, decode: _Decode) -> ChunkResult:
        skipped: list[DecodeError] | None = [] if self.options.skip_bad_records else None
        out, error = decode(self.rows, skipped)
        if self.rows is not None:
            joined = "".join(out)
            out.clear()  # one copy less alive while encoding (JSON: 50x the MRT bytes)
            text = joined.encode()
            return ChunkResult(text, self.decoder.stats, error, skipped or None)
        events: list[Event] = out
        if self.filter is not None:
            events = self.filter.select(events, early_applied=True)
        return ChunkResult(
            self.encoder.encode(events).encode(), self.decoder.stats, error, skipped or None
        )


_worker: ChunkWorker | None = None
_turns: OutputTurns | None = None
_relay: FramingRelay | None = None


def init_worker(
    options: WorkOptions,
    turns: OutputTurns,
    parent: tuple[Connection, Connection],
    relay: FramingRelay | None = None,
) -> None:
    """Process-pool initializer: one long-lived worker per process, which writes its
    output itself (:func:`process_and_write`) and ends with its parent
    (:func:`~mrtfeed.pipeline.orphans.exit_with_parent`) and leaves Ctrl-C to it
    (:mod:`mrtfeed.pipeline.interrupts`); with a ``relay``, it decompresses bz2
    blocks too (:func:`process_block_and_write`)."""
    global _worker, _turns, _relay
    ignore_interrupts()
    exit_with_parent(parent)
    tune_gc()
    _worker = ChunkWorker(options)
    _turns = turns
    _relay = relay


def process_and_write(turn: int, chunk: Chunk) -> ChunkResult:
    """Process-pool task: decode and encode one chunk in this worker process, the
    output written to the shared descriptor when the chunk's turn (its place in the
    stream) comes; the result returns without its text. A chunk that ended in damage
    writes its good part and ends the output."""
    assert _worker is not None and _turns is not None, "init_worker() was not called"
    try:
        result = _worker.process(chunk)
    except BaseException:
        # Earlier chunks still write; later ones must not write past this one.
        _turns.write(turn, b"", last=True)
        raise
    _turns.write(turn, result.text, last=result.error is not None)
    result.text = b""
    return result


def process_block_and_write(turn: int, block: Bz2Block) -> ChunkResult:
    """Process-pool task: decompress one bz2 block, decode it ahead
    (:meth:`ChunkWorker.decode_ahead`), then, when the framing relay
    (:mod:`mrtfeed.pipeline.relay`) reaches it, check that guess (or else cut its
    whole records), pass the framing on, and go on as :func:`process_and_write`. A
    block that does not decompress or frame breaks the relay and asks for the stream
    to be read in order from where the block before it ended (``read_on_from``); the
    blocks after it give up, writing nothing."""
    assert _worker is not None and _turns is not None and _relay is not None, (
        "init_worker() was not called"
    )
    try:
        framed = _frame_block(turn, block, _worker, _relay, _turns)
    except BaseException:
        # Whatever failed (a bug, an interrupt), the blocks after this one must not
        # wait for its framing.
        _relay.stop()
        raise
    if isinstance(framed, ChunkResult):
        return framed
    if framed is None:  # the block lies inside one record
        _turns.write(turn, b"")
        return ChunkResult(b"", DecoderStats())
    return process_and_write(turn, framed)


def _frame_block(
    turn: int, block: Bz2Block, worker: ChunkWorker, relay: FramingRelay, turns: OutputTurns
) -> ChunkResult | Chunk | None:
    """:func:`process_block_and_write` up to passing the framing on: the block's
    whole records to decode (None: there are none), or its result when it was
    decoded ahead (and written) or cannot go on the relay."""
    try:
        data: bytes | None = decompress_block(block)
    except DecodeError:
        data = None
    ahead = worker.decode_ahead(data) if data is not None and turn > 0 else None
    splitter = relay.take(turn)
    if splitter is None:
        return ChunkResult(b"", DecoderStats())
    read_on = ChunkResult(b"", DecoderStats(), read_on_from=(splitter.offset, splitter.index))
    if data is None:
        relay.stop()
        return read_on
    if ahead is not None:
        finished = worker.finish_ahead(ahead, data, splitter)
        del ahead  # its rows, should the block be decoded again
        if finished is not None:
            result, after = finished
            if not relay.give(turn, after):
                return read_on
            worker.block_end_table = (after.peer_index,)
            turns.write(turn, result.text)
            result.text = b""
            return result
    try:
        chunk = splitter.feed_chunk(data)
    except DecodeError:
        relay.stop()
        return read_on
    if not relay.give(turn, splitter):
        return read_on
    worker.block_end_table = (splitter.peer_index,)
    return chunk
