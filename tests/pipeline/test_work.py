"""``ChunkWorker`` fed the decompressed stream in pieces cut anywhere (``--jobs 1``)
against the record-aligned chunks the pool gets: same bytes, counts and errors."""

from __future__ import annotations

import random
import struct
from itertools import islice

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mrtfeed.decode.decoder import DecoderStats
from mrtfeed.decode.errors import DecodeError
from mrtfeed.decode.framing import MAX_RECORD_LENGTH
from mrtfeed.pipeline.reader import ChunkReader
from mrtfeed.pipeline.work import ChunkResult, ChunkWorker, WorkOptions
from tests.mrtdata import MRT_DIR, framed, mrt_files


def _decompressed(name: str, limit: int = 3_000_000) -> bytes:
    return b"".join(ChunkReader(str(MRT_DIR / name)).pieces())[:limit]


def _summary(results: list[ChunkResult]) -> tuple[bytes, DecoderStats, str | None]:
    total = DecoderStats()
    error: DecodeError | None = None
    for result in results:
        total.merge(result.stats)
        error = error or result.error
    where = None if error is None else f"{error.message} at {error.offset}/{error.record_index}"
    return b"".join(r.text for r in results), total, where


def _by_pieces(data: bytes, cuts: list[int], options: WorkOptions) -> list[ChunkResult]:
    worker = ChunkWorker(options)
    results = []
    for start, stop in zip([0, *cuts], [*cuts, len(data)], strict=True):
        results.append(worker.process_piece(data[start:stop]))
        if results[-1].error is not None:
            return results
    results.append(worker.finish(None))
    return results


def _whole(data: bytes, options: WorkOptions) -> list[ChunkResult]:
    """The chunk path on the same bytes, as one file read by ``ChunkReader``."""
    from mrtfeed.decode.framing import RecordSplitter

    splitter = RecordSplitter()
    worker = ChunkWorker(options)
    results = []
    chunk = splitter.feed_chunk(data)
    if chunk is not None:
        results.append(worker.process(chunk))
    try:
        splitter.finish()
    except DecodeError as exc:
        results.append(ChunkResult(b"", DecoderStats(), exc))
    return results


@pytest.mark.parametrize(
    "name",
    [
        "routeviews.route-views.jinx.ribs.1401487200.bz2",
        "updates.20190101.0000.gz",
        "bview.64k_stream_overflow.gz",
        "bird_bgp",
    ],
)
@pytest.mark.parametrize("output_format", ["bgpdump", "json"])
def test_pieces_cut_anywhere_give_the_chunk_output(name: str, output_format: str) -> None:
    data = _decompressed(name)
    options = WorkOptions(output_format=output_format, source=name)
    expected = _summary(_whole(data, options))
    rng = random.Random(name)
    # Cuts inside headers, inside bodies, one byte apart and far apart.
    cuts = sorted({rng.randrange(1, len(data)) for _ in range(40)} | {5, 6, 12, 13})
    got = _summary(_by_pieces(data, [c for c in cuts if c < len(data)], options))
    assert got == expected
    assert expected[2] is None or "ends inside" in expected[2]


@pytest.mark.parametrize("keep", [11, 12, 200, 5_000])
def test_a_stream_cut_inside_a_record_names_it(keep: int) -> None:
    data = _decompressed("bird_bgp")
    # A cut ``keep`` bytes into the seventh record.
    offset = 0
    for _ in range(6):
        offset += 12 + struct.unpack_from(">I", data, offset + 8)[0]
    cut = data[: offset + min(keep, 12 + struct.unpack_from(">I", data, offset + 8)[0] - 1)]
    got = _summary(_by_pieces(cut, [offset - 3, offset + 2], WorkOptions()))
    assert got == _summary(_whole(cut, WorkOptions()))
    assert got[2] is not None and got[2].endswith(f"at {offset}/6")


def test_an_implausible_length_is_refused_before_buffering() -> None:
    data = _decompressed("bird_bgp")
    bogus = struct.pack(">IHHI", 0, 13, 2, 0xFFFFFFF0)
    results = _by_pieces(data + bogus + bytes(64), [len(data) + 4], WorkOptions())
    text, _, where = _summary(results)
    assert text == _summary(_whole(data, WorkOptions()))[0]
    assert where is not None
    assert where.startswith("implausible MRT record length 4294967280")
    assert where.endswith(
        f"at {len(data)}/{_summary(_whole(data, WorkOptions()))[1].records.total()}"
    )


def test_damaged_compression_is_located_at_the_last_whole_record() -> None:
    data = _decompressed("bird_bgp")
    worker = ChunkWorker(WorkOptions())
    worker.process_piece(data[:1000])
    error = worker.finish(DecodeError("corrupt bz2 data: Invalid data stream")).error
    whole = _whole(data[:1000], WorkOptions())
    expected = whole[-1].error
    assert error is not None and expected is not None
    assert (error.offset, error.record_index) == (expected.offset, expected.record_index)
    assert error.message == "corrupt bz2 data: Invalid data stream"


def test_a_whole_record_past_the_length_limit_is_refused_in_a_piece() -> None:
    """A piece can hold a complete record longer than any real one: refused at its
    header as the chunk splitter does, not decoded."""
    data = _decompressed("bird_bgp")
    huge = struct.pack(">IHHI", 0, 99, 0, MAX_RECORD_LENGTH + 1) + bytes(MAX_RECORD_LENGTH + 1)
    stream = data + huge + data
    got = _summary(_by_pieces(stream, [], WorkOptions()))
    assert got == _summary(_whole(stream, WorkOptions()))
    assert got[2] is not None and got[2].startswith("implausible MRT record length 16777217")


def _peer_table(address: int) -> bytes:
    body = bytes(4) + b"\0\0" + struct.pack(">H", 1)
    return body + b"\0" + bytes((1, 1, 1, 1)) + bytes((10, 0, 0, address)) + b"\xfd\xe9"


def _record(rtype: int, subtype: int, body: bytes) -> bytes:
    return struct.pack(">IHHI", 5, rtype, subtype, len(body)) + body


def test_the_part_before_damage_is_decoded_with_the_peer_table_of_its_start() -> None:
    """A damaged chunk (piece) is decoded again up to the damage: with the
    PEER_INDEX_TABLE in force at its start (from an earlier chunk), not the one it
    installed further on."""
    from mrtfeed.decode.framing import RecordSplitter

    blob = bytes((0x40, 1, 1, 0, 0x50, 2, 0, 6, 2, 1)) + struct.pack(">I", 65001)
    blob += bytes((0x40, 3, 4, 10, 0, 0, 1))
    entry = struct.pack(">HIH", 0, 0, len(blob)) + blob
    rib = _record(13, 2, struct.pack(">I", 1) + bytes((24, 10, 1, 2)) + b"\0\1" + entry)
    first = _record(13, 1, _peer_table(1))
    # A BGP4MP message too short for its header ends the second chunk.
    second = rib + _record(13, 1, _peer_table(2)) + _record(16, 4, b"\0\0")
    splitter = RecordSplitter()
    worker = ChunkWorker(WorkOptions())
    chunks = [splitter.feed_chunk(first), splitter.feed_chunk(second)]
    whole = [worker.process(chunk) for chunk in chunks if chunk is not None]
    pieces = _by_pieces(first + second, [len(first)], WorkOptions())
    for results in (pieces, whole):
        text, _, where = _summary(results)
        assert text.decode().split("|")[3] == "10.0.0.1"
        assert where is not None and where.endswith(f"at {len(first + second) - 14}/3")


def test_a_chunk_gets_its_peer_table_after_one_read_inside_an_earlier_chunk() -> None:
    """A worker installs chunk 1's table (peer 10.0.0.1), then reads another one
    (10.0.0.2) inside chunk 1; chunk 3 starts under the first table again (the file
    names it once more, in a chunk another worker got). Chunk 3's peer is 10.0.0.1:
    that the worker had installed that table's bytes before does not mean it is
    still in force."""
    from mrtfeed.decode.framing import Chunk

    blob = bytes((0x40, 1, 1, 0, 0x50, 2, 0, 6, 2, 1)) + struct.pack(">I", 65001)
    blob += bytes((0x40, 3, 4, 10, 0, 0, 1))
    entry = struct.pack(">HIH", 0, 0, len(blob)) + blob
    rib = _record(13, 2, struct.pack(">I", 1) + bytes((24, 10, 1, 2)) + b"\0\1" + entry)
    first, second = _peer_table(1), _peer_table(2)
    worker = ChunkWorker(WorkOptions())
    worker.process(Chunk(rib + _record(13, 1, second) + rib, 1, 12 + len(first), 3, first))
    third = worker.process(Chunk(rib, 7, 500, 1, first))
    assert third.error is None
    assert third.text.decode().split("|")[3] == "10.0.0.1"


@pytest.mark.parametrize("name", mrt_files())
@pytest.mark.parametrize("output_format", ["json", "bgpscanner"])
def test_rows_equal_the_event_path(name: str, output_format: str) -> None:
    """JSON and bgpscanner lines of RIB entries and plain UPDATEs are built without
    RouteEvents (``JsonRows``, ``BgpscannerEncoder``: ``rib_row``, ``update_rows``);
    every byte, count and error must be what encoding the events gives. The first 8
    chunks (2 MB of compressed input) of each shared file."""
    options = WorkOptions(output_format=output_format, source=name)
    rows, events_path = ChunkWorker(options), ChunkWorker(options)
    assert rows.rows is not None
    events_path.rows = None
    for chunk in islice(ChunkReader(str(MRT_DIR / name)), 8):
        ours, theirs = rows.process(chunk), events_path.process(chunk)
        assert ours.text == theirs.text, (name, chunk.first_index)
        assert ours.stats == theirs.stats
        assert _where(ours.error) == _where(theirs.error)


def _where(error: DecodeError | None) -> tuple[str, int | None, int | None] | None:
    return None if error is None else (error.message, error.offset, error.record_index)


def _changed_peer_table(table: bytes) -> bytes:
    """The PEER_INDEX_TABLE with the first byte of every peer's address changed."""
    changed = bytearray(table)
    pos = 6 + struct.unpack_from(">H", table, 4)[0]
    count = struct.unpack_from(">H", table, pos)[0]
    pos += 2
    for _ in range(count):
        peer_type = table[pos]
        changed[pos + 5] ^= 0x20
        pos += 5 + (16 if peer_type & 1 else 4) + (4 if peer_type & 2 else 2)
    return bytes(changed)


def _table_changing_rib() -> bytes:
    """The jinx RIB's first 350 kB of whole records, then another PEER_INDEX_TABLE
    and the same entries under it, then the first table and its entries again."""
    from mrtfeed.decode.framing import RecordSplitter, iter_records

    head = RecordSplitter().feed_chunk(_decompressed(JINX, 350_000))
    assert head is not None
    records = list(iter_records(head.data))
    table, entries = records[0].body, head.data[12 + len(records[0].body) :]
    other = _record(13, 1, _changed_peer_table(table))
    return head.data + other + entries + _record(13, 1, table) + entries


JINX = "routeviews.route-views.jinx.ribs.1401487200.bz2"


def _bz2_blocks(mrt: bytes) -> list[bytes]:
    import bz2

    from mrtfeed.decode.bz2blocks import BlockSplitter, decompress_block

    return [decompress_block(b) for b in BlockSplitter().feed(bz2.compress(mrt, 1))]


_BlockOutcome = tuple[
    bytes,
    DecoderStats,
    tuple[int, int, bytes, bytes | None],
    tuple[str, int | None, int | None] | None,
]


def _through_blocks(
    blocks: list[bytes], workers: list[ChunkWorker], ahead: bool
) -> tuple[list[_BlockOutcome], int]:
    """What ``process_block_and_write`` makes of each block, the blocks dealt to the
    workers in turn, decoded ahead or cut first; and how many went ahead."""
    from mrtfeed.decode.framing import RecordSplitter

    framing = RecordSplitter()
    results = []
    went_ahead = 0
    for turn, data in enumerate(blocks):
        worker = workers[turn % len(workers)]
        finished = None
        if ahead and turn:
            guess = worker.decode_ahead(data)
            if guess is not None:
                finished = worker.finish_ahead(guess, data, framing)
        if finished is not None:
            result, framing = finished
            went_ahead += 1
        else:
            chunk = framing.feed_chunk(data)
            result = ChunkResult(b"", DecoderStats()) if chunk is None else worker.process(chunk)
        worker.block_end_table = (framing.peer_index,)
        state = (framing.offset, framing.index, framing.pending(), framing.peer_index)
        results.append((result.text, result.stats, state, _where(result.error)))
    return results, went_ahead


@pytest.mark.parametrize("source", ["updates", "rib6", "table changes"])
@pytest.mark.parametrize("output_format", ["bgpdump", "bgpscanner"])
def test_blocks_decoded_ahead_give_what_blocks_cut_first_give(
    source: str, output_format: str
) -> None:
    """Each bz2 block decoded from its guessed first record, under the peer table its
    worker saw last, then completed by the records before that guess: the same text,
    counts and framing as the block cut first. Where the table changed since (a RIB
    naming another table, then the first again) the guess is refused and the block
    cut; elsewhere nearly every block goes ahead."""
    mrt = {
        "updates": lambda: _decompressed("updates.20190101.0000.gz", 2_000_000),
        "rib6": lambda: _decompressed("rib6.20151101.0600_firstMB.bz2", 3_000_000),
        "table changes": _table_changing_rib,
    }[source]()
    blocks = _bz2_blocks(mrt)
    options = WorkOptions(output_format=output_format)
    cut, _ = _through_blocks(blocks, [ChunkWorker(options), ChunkWorker(options)], False)
    ahead, went_ahead = _through_blocks(blocks, [ChunkWorker(options), ChunkWorker(options)], True)
    assert ahead == cut
    # Each worker's first block is cut (no table seen yet); so are those after a change.
    refused = 4 if source == "table changes" else 0
    assert went_ahead == len(blocks) - 2 - refused


def _record_kinds() -> tuple[list[bytes], list[bytes], list[bytes]]:
    """Whole records to build streams from: a RIB's table, the same table with other
    peer addresses, and a RIB entry cut inside its attributes; RIB entries; UPDATEs."""
    from mrtfeed.decode.framing import RecordSplitter, iter_records

    rib = RecordSplitter().feed_chunk(_decompressed(JINX, 60_000))
    updates = RecordSplitter().feed_chunk(_decompressed("updates.20190101.0000.gz", 60_000))
    assert rib is not None and updates is not None
    table, *entries = iter_records(rib.data)
    special = [
        framed(table),
        framed(table, _changed_peer_table(table.body)),
        framed(entries[5], entries[5].body[:30]),
    ]
    return special, [framed(r) for r in entries], [framed(r) for r in iter_records(updates.data)]


_KINDS: list[list[bytes]] = []


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    runs=st.lists(
        st.tuples(st.integers(0, 20), st.integers(0, 10_000), st.integers(1, 80)),
        min_size=2,
        max_size=16,
    ),
    cut_points=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=12),
    workers=st.integers(2, 3),
    table_first=st.booleans(),
)
def test_any_stream_cut_anywhere_decodes_ahead_as_cut_first(
    runs: list[tuple[int, int, int]], cut_points: list[float], workers: int, table_first: bool
) -> None:
    """Streams of real records (mostly a table first, then runs of RIB entries and
    UPDATEs, now and then the table changed or back, or a damaged entry), cut into
    blocks anywhere, dealt to 2 or 3 workers: decoding ahead gives every block's
    text, counts, errors and framing as cutting first does."""
    if not _KINDS:
        _KINDS.extend(_record_kinds())
    special, entries, updates = _KINDS
    records = [special[0]] if table_first else []
    for kind, first, count in runs:
        if kind < 3:
            records.append(special[kind])
        else:
            pool = entries if kind < 12 else updates
            records.extend(pool[(first + i) % len(pool)] for i in range(count))
    stream = b"".join(records)
    cuts = sorted({int(point * len(stream)) for point in cut_points} - {0, len(stream)})
    blocks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    options = WorkOptions()
    cut, _ = _through_blocks(blocks, [ChunkWorker(options) for _ in range(workers)], False)
    ahead, _ = _through_blocks(blocks, [ChunkWorker(options) for _ in range(workers)], True)
    assert ahead == cut
