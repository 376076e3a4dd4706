"""bgpdump lines straight from UPDATE records (mrtfeed.decode.update_lines) against the
event path they short-cut: the same text and counts whether the fast path takes a
record or leaves it to the events path; which records it takes is checked too."""

from __future__ import annotations

import json
import struct

import pytest

from mrtfeed.decode import constants as C
from mrtfeed.decode import update_lines
from mrtfeed.decode.attributes import RibBlob, pathless_key, scan_rib_blob
from mrtfeed.decode.decoder import Decoder
from mrtfeed.decode.lines import RibRows
from mrtfeed.decode.update_lines import UpdateLines
from mrtfeed.encode.bgpdump import BgpdumpEncoder
from tests.decode.helpers import event_and_line_paths, fast_rows

_HEADER = struct.Struct(">IHHI")
_TIME = 1546300800
_V4_PEER = bytes((192, 0, 2, 1)) + bytes((192, 0, 2, 254))
_V6_PEER = bytes.fromhex("20010db8" + "00" * 11 + "01") + bytes.fromhex("20010db8" + "00" * 12)


def _attr(code: int, value: bytes, flags: int = 0x40) -> bytes:
    return bytes((flags, code, len(value))) + value


ORIGIN = _attr(1, b"\0")
AS_PATH4 = _attr(2, bytes((2, 3)) + struct.pack(">III", 64500, 3356, 4200000000))
AS_PATH2 = _attr(2, bytes((2, 2)) + struct.pack(">HH", 64500, 23456))
AS4_PATH = _attr(17, bytes((2, 2)) + struct.pack(">II", 64500, 4200000000), 0xC0)
NEXT_HOP = _attr(3, bytes((192, 0, 2, 1)))
MED = _attr(4, struct.pack(">I", 10), 0x80)
COMMUNITIES = _attr(8, struct.pack(">II", (3356 << 16) | 100, 0xFFFFFF01), 0xC0)
LARGE = _attr(32, struct.pack(">III", 4200000000, 1, 2), 0xC0)
ORIGINATOR_ID = _attr(9, bytes((192, 0, 2, 7)), 0x80)
CLUSTER_LIST = _attr(10, bytes((192, 0, 2, 8, 192, 0, 2, 9)), 0x80)
EXT_COMMUNITIES = _attr(16, bytes.fromhex("0002fde800000064"), 0xC0)
AS_PATH4_LOOP = _attr(2, bytes((2, 3)) + struct.pack(">III", 64500, 3356, 64500))
AS_PATH4_PREPENDED = _attr(2, bytes((2, 3)) + struct.pack(">III", 64500, 3356, 3356))
V4_PREFIXES = b"\x18\xc6\x33\x64" + b"\x10\x0a\x01"  # 198.51.100.0/24, 10.1.0.0/16
V6_PREFIXES = b"\x20\x20\x01\x0d\xb8" + b"\x30\x20\x01\x0d\xb8\x00\x01"


def _mp_reach(afi: int, safi: int, next_hop: bytes, nlri: bytes) -> bytes:
    value = struct.pack(">HBB", afi, safi, len(next_hop)) + next_hop + b"\0" + nlri
    return _attr(14, value, 0x80)


def _mp_unreach(afi: int, safi: int, nlri: bytes) -> bytes:
    return _attr(15, struct.pack(">HB", afi, safi) + nlri, 0x80)


V6_REACH = _mp_reach(2, 1, bytes.fromhex("20010db8" + "00" * 11 + "01"), V6_PREFIXES)
V6_UNREACH = _mp_unreach(2, 1, b"\x30\x20\x01\x0d\xb8\x00\x02")


def _update(withdrawn: bytes = b"", attrs: bytes = b"", nlri: bytes = b"") -> bytes:
    lengths = struct.pack(">H", len(withdrawn)), struct.pack(">H", len(attrs))
    return lengths[0] + withdrawn + lengths[1] + attrs + nlri


def _record(
    message: bytes,
    *,
    msg_type: int = C.MSG_UPDATE,
    rtype: int = C.BGP4MP,
    subtype: int = C.MESSAGE_AS4,
    v6_peer: bool = False,
    timestamp: int = _TIME,
) -> bytes:
    asn4 = subtype == C.MESSAGE_AS4
    afi = 2 if v6_peer else 1
    head = struct.pack(">IIHH" if asn4 else ">HHHH", 64500, 64501, 0, afi)
    head += _V6_PEER if v6_peer else _V4_PEER
    body = head + b"\xff" * 16 + struct.pack(">HB", 19 + len(message), msg_type) + message
    if rtype == C.BGP4MP_ET:
        body = struct.pack(">I", 123456) + body
    return _HEADER.pack(timestamp, rtype, subtype, len(body)) + body


def _legacy_record(message: bytes) -> bytes:
    """A legacy BGP (type 5) UPDATE record: peer and local AS and address, then the
    UPDATE without its 19-byte header."""
    body = struct.pack(">H4sH4s", 64500, _V4_PEER[:4], 64501, _V4_PEER[4:]) + message
    return _HEADER.pack(_TIME, C.BGP, C.BGP_UPDATE, len(body)) + body


def _cut(record: bytes, size: int) -> bytes:
    """The record without its last ``size`` bytes, its MRT length fixed."""
    timestamp, rtype, subtype, length = _HEADER.unpack_from(record)
    return _HEADER.pack(timestamp, rtype, subtype, length - size) + record[12:-size]


def _state_change() -> bytes:
    body = struct.pack(">IIHH", 64500, 64501, 0, 1) + _V4_PEER + struct.pack(">HH", 1, 6)
    return _HEADER.pack(_TIME, C.BGP4MP, C.STATE_CHANGE_AS4, len(body)) + body


def _taken(record: bytes) -> bool:
    out: list[str] = []
    after, taken = UpdateLines(BgpdumpEncoder()).run(record, 0, len(record), len(record), out, 0)
    assert (after, taken) in ((0, 0), (len(record), 1))
    assert taken or not out, "a record left to the events path added lines"
    return taken == 1


def _nlri_and_v4_reach(hop: int) -> bytes:
    """IPv4 prefixes in the NLRI (next hop 192.0.2.1) and in MP_REACH (192.0.2.``hop``)."""
    reach = _mp_reach(1, 1, bytes((192, 0, 2, hop)), b"\x08\x0b")
    return _record(_update(attrs=ORIGIN + AS_PATH4 + NEXT_HOP + reach, nlri=V4_PREFIXES))


PLAIN = _update(b"\x08\x0b", ORIGIN + AS_PATH4 + NEXT_HOP + MED + COMMUNITIES, V4_PREFIXES)

#: Records the fast path takes.
TAKEN = {
    "withdrawals, announcements, scanned attributes": _record(PLAIN),
    "IPv6 peer, MP_REACH and MP_UNREACH": _record(
        _update(attrs=ORIGIN + AS_PATH4 + V6_UNREACH + V6_REACH), v6_peer=True
    ),
    "IPv4 and IPv6 in one UPDATE": _record(
        _update(attrs=ORIGIN + AS_PATH4 + NEXT_HOP + V6_REACH, nlri=V4_PREFIXES)
    ),
    "BGP4MP_ET with microseconds": _record(PLAIN, rtype=C.BGP4MP_ET),
    "2-byte session, AS4_PATH merged": _record(
        _update(attrs=ORIGIN + AS_PATH2 + NEXT_HOP + AS4_PATH, nlri=V4_PREFIXES),
        subtype=C.MESSAGE,
    ),
    "large communities (decoded, not scanned)": _record(
        _update(attrs=ORIGIN + AS_PATH4 + NEXT_HOP + LARGE, nlri=V4_PREFIXES)
    ),
    "IPv6 withdrawals, IPv4 announcements": _record(
        _update(attrs=ORIGIN + AS_PATH4 + NEXT_HOP + V6_UNREACH, nlri=V4_PREFIXES)
    ),
    "MP_REACH without a next hop": _record(
        _update(attrs=ORIGIN + AS_PATH4 + MED + _mp_reach(2, 1, b"", V6_PREFIXES))
    ),
    "MP_REACH with a link-local next hop too": _record(
        _update(attrs=ORIGIN + AS_PATH4 + _mp_reach(2, 1, bytes(range(32)), V6_PREFIXES))
    ),
    "IPv4 prefixes in MP_REACH": _record(
        _update(attrs=ORIGIN + AS_PATH4 + _mp_reach(1, 1, bytes((192, 0, 2, 9)), V4_PREFIXES))
    ),
    "IPv4 NLRI and MP_REACH, one next hop (bgpscanner: one line)": _nlri_and_v4_reach(1),
    "IPv4 NLRI and MP_REACH, two next hops": _nlri_and_v4_reach(9),
    "MP_REACH with large communities (decoded)": _record(
        _update(attrs=ORIGIN + AS_PATH4 + LARGE + V6_REACH)
    ),
    "MP_REACH twice (the first counts)": _record(
        _update(attrs=ORIGIN + AS_PATH4 + V6_REACH + _mp_reach(2, 1, bytes(16), V6_PREFIXES))
    ),
    "withdrawals only": _record(_update(b"\x08\x0b" + b"\x18\xc6\x33\x64")),
    "legacy BGP UPDATE": _legacy_record(
        _update(b"\x08\x0b", ORIGIN + AS_PATH2 + NEXT_HOP + MED + COMMUNITIES, V4_PREFIXES)
    ),
    "legacy BGP UPDATE without communities": _legacy_record(
        _update(attrs=ORIGIN + AS_PATH2 + NEXT_HOP, nlri=V4_PREFIXES)
    ),
    # Scanned for bgpdump lines (which do not show them), decoded for JSON events.
    "route reflector attributes": _record(
        _update(attrs=ORIGIN + AS_PATH4 + NEXT_HOP + ORIGINATOR_ID + CLUSTER_LIST, nlri=V4_PREFIXES)
    ),
    "extended communities": _record(
        _update(attrs=ORIGIN + AS_PATH4 + NEXT_HOP + EXT_COMMUNITIES, nlri=V4_PREFIXES)
    ),
    "an empty AS path (iBGP)": _record(
        _update(attrs=ORIGIN + _attr(2, b"") + NEXT_HOP + MED, nlri=V4_PREFIXES)
    ),
    "a path that loops (JSON names the loop)": _record(
        _update(attrs=ORIGIN + AS_PATH4_LOOP + NEXT_HOP, nlri=V4_PREFIXES)
    ),
    "a prepended path (no loop)": _record(
        _update(attrs=ORIGIN + AS_PATH4_PREPENDED + NEXT_HOP, nlri=V4_PREFIXES)
    ),
    "MP_UNREACH alone, no AS path": _record(_update(attrs=V6_UNREACH), v6_peer=True),
    # Ordinary lists, printed as bgpdump prints them (not un-signalled ADD-PATH).
    "a prefix twice": _record(
        _update(attrs=ORIGIN + AS_PATH4 + NEXT_HOP, nlri=b"\x18\xc6\x33\x64" * 2)
    ),
    "a default route among others": _record(
        _update(attrs=ORIGIN + AS_PATH4 + NEXT_HOP, nlri=b"\0" + V4_PREFIXES)
    ),
}

#: Records left to the events path, which decides (and flags, counts or refuses).
LEFT = {
    "un-signalled ADD-PATH (RIPE-NCC/bgpdump#9)": _record(
        _update(attrs=ORIGIN + AS_PATH4 + NEXT_HOP, nlri=b"\0\0\0\1\x18\xc6\x33\x64" * 2)
    ),
    "two default routes first (a small path id read as prefixes)": _record(
        _update(attrs=ORIGIN + AS_PATH4 + NEXT_HOP, nlri=b"\0\0" + V4_PREFIXES)
    ),
    "malformed ORIGIN (treat-as-withdraw)": _record(
        _update(attrs=_attr(1, b"\0\0") + AS_PATH4 + NEXT_HOP, nlri=V4_PREFIXES)
    ),
    "announcements without attributes": _record(_update(nlri=V4_PREFIXES)),
    "IPv6 withdrawals with a malformed ORIGIN (treat-as-withdraw)": _record(
        _update(attrs=_attr(1, b"\0\0") + AS_PATH4 + V6_UNREACH)
    ),
    "MP_REACH with a next hop of no known length": _record(
        _update(attrs=ORIGIN + AS_PATH4 + _mp_reach(2, 1, bytes(7), V6_PREFIXES))
    ),
    "VPN NLRI kept raw": _record(
        _update(attrs=ORIGIN + AS_PATH4 + _mp_reach(1, 128, bytes(12), b"\x70" + bytes(14)))
    ),
    "NLRI cut inside a prefix": _record(
        _update(attrs=ORIGIN + AS_PATH4 + NEXT_HOP, nlri=b"\x18\xc6\x33")
    ),
    "MP_REACH and IPv4 NLRI without NEXT_HOP": _record(
        _update(attrs=ORIGIN + AS_PATH4 + V6_REACH, nlri=V4_PREFIXES)
    ),
    "KEEPALIVE": _record(b"", msg_type=C.MSG_KEEPALIVE),
    "legacy BGP UPDATE shorter than its fixed fields": _cut(_legacy_record(_update()), 1),
    "UPDATE longer than its record": _cut(_record(PLAIN), 3),
}


#: The formats with UPDATE rows without events.
FORMATS = pytest.mark.parametrize("output_format", ["bgpdump", "json", "bgpscanner"])


@FORMATS
@pytest.mark.parametrize("name", list(TAKEN))
def test_taken_records_give_the_event_path_lines(name: str, output_format: str) -> None:
    record = TAKEN[name]
    assert _taken(record)
    events_path, lines_path = event_and_line_paths(record, output_format=output_format)
    assert events_path[0], "the record should print lines"
    assert lines_path == events_path


@FORMATS
@pytest.mark.parametrize("name", list(LEFT))
def test_other_records_are_left_to_the_event_path(name: str, output_format: str) -> None:
    record = LEFT[name]
    assert not _taken(record)
    events_path, lines_path = event_and_line_paths(record, output_format=output_format)
    assert lines_path == events_path


def test_lines_of_a_plain_update() -> None:
    decoder = Decoder()
    encoder = BgpdumpEncoder()
    rows = RibRows(encoder, updates=encoder)
    text = "".join(decoder.decode_rows(TAKEN["BGP4MP_ET with microseconds"], rows))
    head = f"BGP4MP_ET|{_TIME}.123456"
    tail = "64500 3356 4200000000|IGP|192.0.2.1|0|10|3356:100 no-export|NAG||"
    assert text == (
        f"{head}|W|192.0.2.1|64500|11.0.0.0/8\n"
        f"{head}|A|192.0.2.1|64500|198.51.100.0/24|{tail}\n"
        f"{head}|A|192.0.2.1|64500|10.1.0.0/16|{tail}\n"
    )
    assert decoder.stats.events == {"withdraw": 1, "announce": 2}
    assert decoder.stats.bgp_messages == {"UPDATE": 1}


@FORMATS
def test_lines_keep_stream_order_around_records_of_the_event_path(output_format: str) -> None:
    """State changes and left-over UPDATEs become lines in between: their events are
    encoded before the next fast-path line."""
    stream = (
        _state_change()
        + TAKEN["withdrawals, announcements, scanned attributes"]
        + LEFT["un-signalled ADD-PATH (RIPE-NCC/bgpdump#9)"]
        + TAKEN["IPv6 peer, MP_REACH and MP_UNREACH"]
        + _state_change()
        + TAKEN["BGP4MP_ET with microseconds"]
    )
    events_path, lines_path = event_and_line_paths(stream, output_format=output_format)
    # A row per prefix and state change; bgpscanner groups an UPDATE's prefixes.
    assert events_path[0].count("\n") == (9 if output_format == "bgpscanner" else 13)
    assert lines_path == events_path


def test_a_run_stops_at_the_first_record_it_does_not_take() -> None:
    """``run`` takes consecutive records and says where the first one it leaves
    starts; that record and what follows are the caller's."""
    taken = (
        TAKEN["withdrawals, announcements, scanned attributes"]
        + TAKEN["IPv6 peer, MP_REACH and MP_UNREACH"]
        + TAKEN["BGP4MP_ET with microseconds"]
    )
    stream = taken + LEFT["un-signalled ADD-PATH (RIPE-NCC/bgpdump#9)"] + TAKEN["withdrawals only"]
    updates = UpdateLines(BgpdumpEncoder())
    out: list[str] = []
    assert updates.run(stream, 0, len(stream), len(stream), out, 0) == (len(taken), 3)
    assert "".join(out).count("\n") == 9
    records, announced, withdrawn = updates.take_counts()
    assert sum(records.values()) == 3 and (announced, withdrawn) == (6, 3)
    # A record that does not fit in the data, or is longer than allowed, ends a run too.
    first = TAKEN["withdrawals only"]
    assert updates.run(stream, len(taken), len(stream), len(stream), out, 3)[1] == 0
    assert updates.run(first + first, 0, len(first) * 2 - 1, len(first), out, 0) == (
        len(first),
        1,
    )
    assert updates.run(first, 0, len(first), len(first) - 13, out, 0) == (0, 0)


AS_PATH4_OTHER = _attr(2, bytes((2, 2)) + struct.pack(">II", 64501, 174))
V6_NEXT_HOP = bytes.fromhex("20010db8" + "00" * 11 + "01")


def _v6_reach(nlri: bytes) -> bytes:
    """MP_REACH_NLRI as V6_REACH but for its prefixes (12 bytes there: as many here
    give the same pathless key)."""
    return _mp_reach(2, 1, V6_NEXT_HOP, nlri)


#: V6_REACH with other prefixes of the same total length.
V6_REACH_OTHER = _v6_reach(b"\x30\x20\x01\x0d\xb8\x00\x09" + b"\x20\x20\x01\x0d\xb9")


@pytest.mark.parametrize(
    ("first", "second", "same_key"),
    [
        pytest.param(
            ORIGIN + AS_PATH4 + NEXT_HOP + MED + COMMUNITIES,
            ORIGIN + AS_PATH4_OTHER + NEXT_HOP + MED + COMMUNITIES,
            True,
            id="another AS path",
        ),
        pytest.param(
            V6_REACH + ORIGIN + AS_PATH4 + NEXT_HOP,
            V6_REACH_OTHER + ORIGIN + AS_PATH4_OTHER + NEXT_HOP,
            True,
            id="MP_REACH first, other prefixes and path",
        ),
        pytest.param(
            ORIGIN + AS_PATH4 + NEXT_HOP + COMMUNITIES + V6_REACH,
            ORIGIN + AS_PATH4 + NEXT_HOP + COMMUNITIES + V6_REACH_OTHER,
            True,
            id="MP_REACH last, other prefixes",
        ),
        pytest.param(
            ORIGIN + AS_PATH4 + NEXT_HOP + V6_REACH,
            ORIGIN + AS_PATH4 + NEXT_HOP + _v6_reach(b"\0\0" + b"\x20\x20\x01\x0d\xb8" * 2),
            True,
            id="second MP_REACH list like un-signalled ADD-PATH",
        ),
        pytest.param(
            ORIGIN + AS_PATH4 + NEXT_HOP + V6_REACH,
            ORIGIN
            + AS_PATH4
            + NEXT_HOP
            + _v6_reach(b"\x30\x20\x01\x0d\xb8\x00\x01" + b"\x30\x20\x01\x0d\xb8"),
            True,
            id="second MP_REACH list cut inside a prefix",
        ),
        pytest.param(
            ORIGIN + AS_PATH4 + NEXT_HOP + _mp_reach(1, 128, bytes(12), b""),
            ORIGIN + AS_PATH4 + NEXT_HOP + _mp_reach(1, 128, bytes(12), b"\x70" + bytes(14)),
            False,
            id="VPN MP_REACH without prefixes, then with (kept raw)",
        ),
        pytest.param(
            ORIGIN + AS_PATH4 + NEXT_HOP + AS4_PATH,
            ORIGIN + AS_PATH4_OTHER + NEXT_HOP + AS4_PATH,
            True,
            id="AS4_PATH in a 4-byte session (decoded, not scanned)",
        ),
        pytest.param(
            ORIGIN + AS_PATH4 + NEXT_HOP,
            ORIGIN + AS_PATH4 + NEXT_HOP + AS_PATH4_OTHER,
            False,
            id="AS_PATH twice",
        ),
    ],
)
@FORMATS
def test_blobs_with_a_common_rest_give_the_event_path_lines(
    first: bytes, second: bytes, same_key: bool, output_format: str
) -> None:
    """Blobs that differ only in AS path and MP_REACH prefixes share what the rest
    contributes (``pathless_key``); each keeps its own path, prefixes and verdict:
    an UPDATE with ``first``, then one with ``second``, give the lines and counts of
    the events path."""
    keys = [found[0] if (found := pathless_key(blob)) else None for blob in (first, second)]
    assert (keys[0] == keys[1]) is same_key
    stream = _record(_update(attrs=first, nlri=V4_PREFIXES)) + _record(
        _update(attrs=second, nlri=V4_PREFIXES)
    )
    events_path, lines_path = event_and_line_paths(stream, output_format=output_format)
    assert events_path[0]
    assert lines_path == events_path


def test_the_second_blob_of_a_rest_is_not_scanned_and_keeps_its_path_and_prefixes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scanned: list[bytes] = []

    def counting_scan(blob: bytes, **options: bool) -> RibBlob | None:
        scanned.append(blob)
        return scan_rib_blob(blob, **options)

    monkeypatch.setattr(update_lines, "scan_rib_blob", counting_scan)
    first = _record(_update(attrs=V6_REACH + ORIGIN + AS_PATH4 + NEXT_HOP), v6_peer=True)
    second = _record(
        _update(attrs=V6_REACH_OTHER + ORIGIN + AS_PATH4_OTHER + NEXT_HOP), v6_peer=True
    )
    out: list[str] = []
    stream = first + second
    updates = UpdateLines(BgpdumpEncoder())
    assert updates.run(stream, 0, len(stream), len(stream), out, 0) == (len(stream), 2)
    assert len(scanned) == 1
    assert [line.split("|")[5:7] for line in "".join(out).splitlines()] == [
        ["2001:db8::/32", "64500 3356 4200000000"],
        ["2001:db8:1::/48", "64500 3356 4200000000"],
        ["2001:db8:9::/48", "64501 174"],
        ["2001:db9::/32", "64501 174"],
    ]


def test_json_rows_show_what_the_line_scan_skips() -> None:
    """JSON events of a route reflector's looping UPDATE, without events in between:
    the reflector's attributes and the loop are there, one event per prefix in order."""
    record = _record(
        _update(
            b"\x08\x0b",
            ORIGIN + AS_PATH4_LOOP + NEXT_HOP + ORIGINATOR_ID + CLUSTER_LIST + EXT_COMMUNITIES,
            V4_PREFIXES,
        )
    )
    assert _taken(record)
    rows = Decoder().decode_rows(record, fast_rows("json"), 5)
    events = [json.loads(row) for row in rows]
    assert [(e["event_type"], e["prefix"]) for e in events] == [
        ("withdraw", "11.0.0.0/8"),
        ("announce", "198.51.100.0/24"),
        ("announce", "10.1.0.0/16"),
    ]
    assert [e["event_id"][-12:] for e in events] == ["000000050000", "000000050001", "000000050002"]
    announced = events[1]
    assert announced["originator_id"] == "192.0.2.7"
    assert announced["cluster_list"] == ["192.0.2.8", "192.0.2.9"]
    assert announced["ext_communities"] == ["rt:65000:100"]
    assert announced["as_path"] == [64500, 3356, 64500]
    assert announced["derived"]["loop"] is not None


def test_the_prefix_list_cache_is_bounded_by_its_prefixes(monkeypatch: pytest.MonkeyPatch) -> None:
    """UPDATEs of 1,000 distinct prefixes each made 10,000 cached lists hold 600 MB (a
    review); the cache now also counts their prefixes."""
    records = []
    for n in range(20):
        nlri = b"".join(b"\x18" + bytes((10, n, p)) for p in range(100))
        records.append(_record(_update(attrs=ORIGIN + AS_PATH4 + NEXT_HOP, nlri=nlri)))
    data = b"".join(records)
    expected = "".join(
        Decoder().decode_rows(data, RibRows(BgpdumpEncoder(), updates=BgpdumpEncoder()))
    )
    monkeypatch.setattr(update_lines, "_LIST_PREFIX_LIMIT", 250)
    encoder = BgpdumpEncoder()
    rows = RibRows(encoder, updates=encoder)
    assert "".join(Decoder().decode_rows(data, rows)) == expected
    assert rows.updates is not None
    assert 0 < sum(len(texts) for texts in rows.updates._lists[False].values()) <= 250
