"""The line fast paths (mrtfeed.decode.lines for RIB entries, mrtfeed.decode.update_lines
for UPDATEs) against the event path they short-cut.

Both paths must give the same text, the same counts and the same error (message, byte
offset, record index) on every shared file, damaged ones included, and on records
damaged on purpose; the fuzz tests compare them on mutated records too.
"""

from __future__ import annotations

import struct
from itertools import islice

import pytest

from mrtfeed.decode import constants as C
from mrtfeed.decode.decoder import Decoder
from mrtfeed.decode.errors import DecodeError
from mrtfeed.decode.lines import RibRows
from mrtfeed.encode.bgpdump import BgpdumpEncoder
from mrtfeed.filter import compile_filter
from mrtfeed.pipeline.reader import ChunkReader
from tests.decode.helpers import event_and_line_paths
from tests.mrtdata import MRT_DIR, mrt_files

_HEADER = struct.Struct(">IHHI")


@pytest.mark.parametrize("name", mrt_files())
def test_line_path_equals_event_path(name: str) -> None:
    """Whole files go through the line path in the conformance tests; here the first
    eight chunks (2 MB of compressed input) of each file against the event path (the
    other formats: tests/pipeline/test_work.py)."""
    for chunk in islice(ChunkReader(str(MRT_DIR / name)), 8):
        events_path, lines_path = event_and_line_paths(chunk.data, chunk.peer_index)
        assert lines_path == events_path, (name, chunk.first_index)


@pytest.mark.parametrize(
    "name",
    [
        "185.186.nlix.mrt",
        "bview.64k_stream_overflow.gz",
        "quagga_bgp_large_communities",
        "rrc23.updates.20220421.0200.gz",
    ],
)
def test_line_path_with_large_communities(name: str) -> None:
    for chunk in ChunkReader(str(MRT_DIR / name)):
        events_path, lines_path = event_and_line_paths(chunk.data, chunk.peer_index, large=True)
        assert lines_path == events_path, (name, chunk.first_index)


def _rib_record(entries: list[tuple[int, bytes]], prefix: bytes = b"\x18\x0a\x00\x01") -> bytes:
    body = b"\0\0\0\1" + prefix + struct.pack(">H", len(entries))
    for peer, blob in entries:
        body += struct.pack(">HIH", peer, 1400000000, len(blob)) + blob
    return _HEADER.pack(1401487200, C.TABLE_DUMP_V2, C.RIB_IPV4_UNICAST, len(body)) + body


def _peer_table(peers: int, first_asn: int = 64500) -> bytes:
    body = b"\x0a\0\0\1" + b"\0\0" + struct.pack(">H", peers)
    for n in range(peers):
        body += b"\x02" + bytes((10, 0, 0, n)) + bytes((192, 0, 2, n))
        body += struct.pack(">I", first_asn + n)
    return body


_ATTRS = b"\x40\x01\x01\x00" + b"\x50\x02\x00\x0a\x02\x02\x00\x00\xfb\xf4\x00\x00\x00\x0d"
_ATTRS += b"\x40\x03\x04\xc0\x00\x02\x01"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(_rib_record([(0, _ATTRS), (1, _ATTRS)]), id="two entries"),
        pytest.param(_rib_record([(5, _ATTRS)]), id="peer index past the table"),
        pytest.param(_rib_record([(0, _ATTRS)])[:-3], id="record cut inside attributes"),
        pytest.param(
            _rib_record([(0, _ATTRS)], prefix=b"\x21\x0a\x00\x01\x02\x03"), id="33-bit IPv4"
        ),
        pytest.param(_rib_record([(0, _ATTRS[:-2])]), id="NEXT_HOP cut short"),
        pytest.param(_rib_record([(0, _ATTRS)], prefix=b"\x17\x0a\x00\x01"), id="trailing bits"),
        pytest.param(
            _rib_record([(0, _ATTRS)]) + _rib_record([(1, b"\x40\x01\x02\x00")]),
            id="good record, then a malformed ORIGIN",
        ),
    ],
)
def test_damaged_records_fail_the_same_way(data: bytes) -> None:
    events_path, lines_path = event_and_line_paths(data, _peer_table(2))
    assert lines_path == events_path


def test_entry_count_past_the_record_is_refused() -> None:
    record = bytearray(_rib_record([(0, _ATTRS)]))
    record[12 + 8 : 12 + 10] = b"\0\2"  # two entries announced, one present
    events_path, lines_path = event_and_line_paths(bytes(record), _peer_table(2))
    assert lines_path == events_path
    assert lines_path[0].startswith("error ") and "at 1000 record 7" in lines_path[0]


def test_a_new_peer_index_table_inside_a_chunk_takes_effect() -> None:
    body = _peer_table(3, 65000)
    table = _HEADER.pack(1401487200, C.TABLE_DUMP_V2, C.PEER_INDEX_TABLE, len(body)) + body
    data = _rib_record([(2, _ATTRS)]) + table + _rib_record([(2, _ATTRS)])
    events_path, lines_path = event_and_line_paths(data, _peer_table(3, 64500))
    assert lines_path == events_path
    assert [line.split("|")[3:5] for line in lines_path[0].splitlines()] == [
        ["192.0.2.2", "64502"],
        ["192.0.2.2", "65002"],
    ]


def test_a_peer_index_past_the_record_is_not_trusted() -> None:
    """The refused-peer shortcut reads a peer index only from inside the record: here
    the record ends one byte into its entry, and the next record's first bytes (a zero
    timestamp) would read as peer 0, which the filter refuses."""
    body = b"\0\0\0\1" + b"\x18\x0a\x00\x01" + b"\0\1" + b"\0"
    cut = _HEADER.pack(1401487200, C.TABLE_DUMP_V2, C.RIB_IPV4_UNICAST, len(body)) + body
    following = bytearray(_rib_record([(1, _ATTRS)]))
    following[:4] = bytes(4)  # timestamp 0
    decoder = Decoder()
    decoder.load_peer_index(_peer_table(2))
    early = compile_filter("peer-asn 64501").early
    assert early is not None
    decoder.set_early_filter(early)
    with pytest.raises(DecodeError) as caught:
        decoder.decode_chunk(cut + bytes(following), 7, 1000)
    assert (caught.value.offset, caught.value.record_index) == (1000, 7)


def test_a_skipped_record_takes_only_its_own_rows() -> None:
    """With --skip-bad-records, a damaged record after one with several entries drops
    nothing but itself, in the line path as in the event path."""
    first = _rib_record([(0, _ATTRS), (1, _ATTRS)])
    data = first + _rib_record([(9, _ATTRS)]) + _rib_record([(0, _ATTRS)])  # no peer 9
    results = []
    for lines in (False, True):
        decoder = Decoder()
        decoder.load_peer_index(_peer_table(2))
        encoder = BgpdumpEncoder()
        skipped: list[DecodeError] = []
        if lines:
            rows = RibRows(encoder, updates=encoder)
            text = "".join(decoder.decode_rows(data, rows, 7, 1000, skipped))
        else:
            text = encoder.encode(decoder.decode_chunk(data, 7, 1000, skipped))
        results.append((text, [(exc.offset, exc.record_index) for exc in skipped]))
    assert results[1] == results[0]
    assert results[1][0].count("\n") == 3
    assert results[1][1] == [(1000 + len(first), 8)]


def test_the_tail_cache_is_bounded_by_its_characters(monkeypatch: pytest.MonkeyPatch) -> None:
    """RIB entries with distinct long AS paths made 100,000 cached tails hold 150 MB
    (253 MB of peak RSS in a review); the cache now also counts their characters."""
    records = []
    for n in range(50):
        path = struct.pack(">BB", 2, 60) + struct.pack(">60I", *range(n, n + 60))
        blob = b"\x40\x01\x01\x00" + b"\x50\x02" + struct.pack(">H", len(path)) + path
        records.append(_rib_record([(0, blob + b"\x40\x03\x04\xc0\x00\x02\x01")]))
    data = b"".join(records)
    whole = RibRows(BgpdumpEncoder())
    decoder = Decoder()
    decoder.load_peer_index(_peer_table(1))
    expected = decoder.decode_rows(data, whole)
    assert len(whole.tails) == 50
    monkeypatch.setattr("mrtfeed.decode.lines._TAIL_CHARS_LIMIT", 2_000)
    bounded = RibRows(BgpdumpEncoder())
    decoder = Decoder()
    decoder.load_peer_index(_peer_table(1))
    assert decoder.decode_rows(data, bounded) == expected
    assert 0 < len(bounded.tails) <= 10  # about 200 characters each
