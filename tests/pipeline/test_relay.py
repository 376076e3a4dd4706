"""Record framing relayed from worker to worker (:mod:`mrtfeed.pipeline.relay`), in
real forked processes: pieces cut anywhere come back as whole records in order, with
their offsets, indexes and peer index table, and a broken relay stops the turns after it."""

from __future__ import annotations

import bz2
import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor

from mrtfeed.decode.framing import HEADER, RecordSplitter, iter_records
from mrtfeed.pipeline.relay import FramingRelay
from tests.mrtdata import MRT_DIR

CONTEXT = multiprocessing.get_context("fork")
_relay: FramingRelay | None = None

#: (first index, first offset, records, data, the peer index table that came along)
Cut = tuple[int, int, int, bytes, bytes | None]


def _init(relay: FramingRelay) -> None:
    global _relay
    _relay = relay


def _cut(turn: int, piece: bytes) -> Cut | None:
    """What a pool worker does with its block once decompressed."""
    assert _relay is not None
    splitter = _relay.take(turn)
    if splitter is None:
        return None
    chunk = splitter.feed_chunk(piece)
    if not _relay.give(turn, splitter) or chunk is None:
        return None
    return chunk.first_index, chunk.first_offset, chunk.records, chunk.data, chunk.peer_index


def _stop(turn: int) -> bool:
    """What a pool worker does when its block does not decompress."""
    assert _relay is not None
    splitter = _relay.take(turn)
    assert splitter is not None
    _relay.stop()
    return True


def _stream() -> bytes:
    """Whole TABLE_DUMP_V2 records, a PEER_INDEX_TABLE first."""
    head = bz2.BZ2Decompressor().decompress(
        (MRT_DIR / "rib6.20151101.0600_firstMB.bz2").read_bytes(), 400_000
    )
    splitter = RecordSplitter()
    chunk = splitter.feed_chunk(head)
    assert chunk is not None and splitter.peer_index is not None
    return chunk.data


def _pieces(stream: bytes, size: int) -> list[bytes]:
    return [stream[at : at + size] for at in range(0, len(stream), size)]


def _run(relay: FramingRelay, pieces: list[bytes]) -> list[Cut | None]:
    """Turn 1 reaches a worker first and waits there for turn 0 (no sleep)."""
    with ProcessPoolExecutor(2, mp_context=CONTEXT, initializer=_init, initargs=(relay,)) as pool:
        second = pool.submit(_cut, 1, pieces[1])
        futures: list[Future[Cut | None]] = [pool.submit(_cut, 0, pieces[0]), second]
        futures += [pool.submit(_cut, turn, p) for turn, p in enumerate(pieces[2:], 2)]
        return [future.result() for future in futures]


def test_pieces_cut_anywhere_come_back_as_the_whole_records_in_order() -> None:
    stream = _stream()
    pieces = _pieces(stream, 33_333)  # records straddle every piece
    relay = FramingRelay(CONTEXT)
    cuts = [cut for cut in _run(relay, pieces) if cut is not None]
    assert b"".join(cut[3] for cut in cuts) == stream
    records = list(iter_records(stream))
    index = offset = 0
    for first_index, first_offset, count, data, peer_index in cuts:
        assert (first_index, first_offset) == (index, offset)
        assert data[: HEADER.size] == stream[offset : offset + HEADER.size]
        # The table of record 0 travels on to the chunks after the first.
        assert peer_index == (records[0].body if first_index else None)
        index += count
        offset += len(data)
    assert index == len(records)
    last = relay.last_state(len(pieces))
    assert last is not None and (last.offset, last.index, last.pending()) == (offset, index, b"")


def test_a_stopped_relay_stops_the_turns_after_it() -> None:
    """A block that does not decompress takes its turn and stops the relay."""
    pieces = _pieces(_stream(), 50_000)
    relay = FramingRelay(CONTEXT)
    with ProcessPoolExecutor(2, mp_context=CONTEXT, initializer=_init, initargs=(relay,)) as pool:
        before = [pool.submit(_cut, turn, pieces[turn]).result() for turn in range(2)]
        assert pool.submit(_stop, 2).result()
        after = [pool.submit(_cut, turn, pieces[turn]).result() for turn in range(3, 6)]
    assert all(cut is not None for cut in before)
    assert after == [None, None, None]
    assert relay.last_state(6) is None


def test_a_state_too_large_for_the_relay_stops_it() -> None:
    stream = _stream()
    pieces = _pieces(stream, 1000)
    relay = FramingRelay(CONTEXT, capacity=HEADER.size + 100)
    results = _run(relay, pieces[:4])
    # The first record is longer than 100 bytes: its start cannot be handed on.
    assert results == [None, None, None, None]
    assert relay.last_state(4) is None
