"""RIB entry text straight from the attribute blob (``scan_rib_blob``), for bgpdump and
bgpscanner lines (``rib_blob_tail``) and schema-v1 events (``EventEncoder.rib_blob_body``),
against the same text made from decoded :class:`PathAttributes`.

The short cut may decline a blob (None) but never give other text, and it must decline
every blob the full decoder refuses, so that the error a user sees stays the decoder's.
"""

from __future__ import annotations

import struct

import pytest

from mrtfeed.decode import constants as C
from mrtfeed.decode.attributes import rib_attributes
from mrtfeed.decode.events import EventKind, Flags
from mrtfeed.decode.framing import iter_records
from mrtfeed.encode.bgpdump import BgpdumpEncoder
from mrtfeed.encode.bgpscanner import BgpscannerEncoder
from mrtfeed.encode.event import EventEncoder
from mrtfeed.pipeline.reader import ChunkReader
from tests.mrtdata import MRT_DIR

_ENTRY = struct.Struct(">HIH")
_UNICAST = (C.RIB_IPV4_UNICAST, C.RIB_IPV6_UNICAST)


def _table_dump_blobs(name: str) -> set[bytes]:
    """Every distinct attribute blob of a file's TABLE_DUMP (v1) IPv4 records (2-byte
    ASNs), up to the damage that ends a cut file."""
    blobs: set[bytes] = set()
    for chunk in ChunkReader(str(MRT_DIR / name)):
        for record in iter_records(chunk.data):
            if record.type == C.TABLE_DUMP and record.subtype == C.TD_AFI_IPV4:
                (length,) = struct.unpack_from(">H", record.body, 20)
                blobs.add(record.body[22 : 22 + length])
    return blobs


def _rib_blobs(name: str) -> set[bytes]:
    """Every distinct attribute blob of a file's TABLE_DUMP_V2 unicast RIB entries."""
    blobs: set[bytes] = set()
    for chunk in ChunkReader(str(MRT_DIR / name)):
        for record in iter_records(chunk.data):
            if record.type != C.TABLE_DUMP_V2 or record.subtype not in _UNICAST:
                continue
            body = record.body
            pos = 5 + ((body[4] + 7) >> 3)
            (count,) = struct.unpack_from(">H", body, pos)
            pos += 2
            for _ in range(count):
                _, _, length = _ENTRY.unpack_from(body, pos)
                blobs.add(body[pos + 8 : pos + 8 + length])
                pos += 8 + length
    return blobs


def _slow_tail(encoder: BgpdumpEncoder, blob: bytes, asn4: bool = True) -> str:
    attrs, next_hop, _ = rib_attributes(blob, asn4)
    return encoder.rib_tail(attrs, next_hop)


def _slow_body(
    encoder: EventEncoder, blob: bytes, asn4: bool = True
) -> tuple[str, str, str | None]:
    attrs, next_hop, _ = rib_attributes(blob, asn4)
    return encoder._route_body(EventKind.RIB, attrs, next_hop, Flags.NONE, cache=False)


def _slow_scanner_tail(encoder: BgpscannerEncoder, blob: bytes, asn4: bool = True) -> str:
    attrs, next_hop, _ = rib_attributes(blob, asn4)
    return encoder.rib_tail(attrs, next_hop)


def _check(blob: bytes, asn4: bool = True) -> tuple[int, bool]:
    """How many of the line formats took the short cut (0 or 3: they share the scan),
    and whether the events' did (it declines what only lines may skip)."""
    taken = 0
    for large in (False, True):
        lines = BgpdumpEncoder(large_communities=large)
        fast = lines.rib_blob_tail(blob, asn4)
        if fast is not None:
            assert fast == _slow_tail(lines, blob, asn4), blob.hex()
            taken += 1
    scanner = BgpscannerEncoder()
    fast = scanner.rib_blob_tail(blob, asn4)
    if fast is not None:
        assert fast == _slow_scanner_tail(scanner, blob, asn4), blob.hex()
        taken += 1
    assert taken in (0, 3)
    events = EventEncoder(collector="c")
    body = events.rib_blob_body(blob, asn4)
    if body is not None:
        assert body == _slow_body(events, blob, asn4), blob.hex()
        assert taken == 3
    return taken, body is not None


@pytest.mark.parametrize(
    "name",
    [
        "routeviews.route-views.jinx.ribs.1401487200.bz2",
        "rib6.20151101.0600_firstMB.bz2",
        "bview.64k_stream_overflow.gz",
        "185.186.nlix.mrt",
    ],
)
def test_blob_text_equals_the_decoded_text_on_real_ribs(name: str) -> None:
    blobs = _rib_blobs(name)
    declined = sum(not _check(blob)[1] for blob in blobs)
    if name.startswith("routeviews"):
        # The short cut must carry a real RIB: here only 92 blobs of 79,874 take
        # the full decoder (AS paths ending in an AS_SET; 173 IPv4 routes with an
        # MP_REACH_NLRI in full form, an IPv6 next hop, took it too until 2026-11-27).
        assert len(blobs) == 79_874 and declined == 92


def _attr(code: int, value: bytes, flags: int = 0x40) -> bytes:
    if len(value) > 255 or flags & 0x10:
        return bytes((flags | 0x10, code)) + struct.pack(">H", len(value)) + value
    return bytes((flags, code, len(value))) + value


_ORIGIN = _attr(1, b"\x00")
_PATH = _attr(2, b"\x02\x02" + struct.pack(">II", 3356, 13335), flags=0x50)
_HOP = _attr(3, bytes((192, 0, 2, 1)))
_V6_HOP = bytes.fromhex("20010db8000000000000000000000001")
_LINK_LOCAL = bytes.fromhex("fe800000000000000000000000000001")


@pytest.mark.parametrize(
    "blob",
    [
        pytest.param(_ORIGIN + _PATH + _HOP, id="origin, path, next hop"),
        pytest.param(_attr(1, b"\x01") + _PATH + _HOP, id="EGP"),
        pytest.param(_attr(1, b"\x02") + _PATH + _HOP, id="INCOMPLETE"),
        pytest.param(_attr(1, b"\x07") + _PATH + _HOP, id="origin out of range"),
        pytest.param(_PATH, id="no origin, no next hop"),
        pytest.param(
            _ORIGIN + _attr(2, b"\x02\xff" + bytes(range(255)) * 4, flags=0x50) + _HOP,
            id="255 ASNs (extended length)",
        ),
        pytest.param(
            _attr(32, struct.pack(">6I", 4200000000, 1, 2, 3356, 0, 4294967295), flags=0xC0)
            + _PATH,
            id="large communities",
        ),
        pytest.param(
            _ORIGIN
            + _PATH
            + _HOP
            + _attr(4, struct.pack(">I", 7), flags=0x80)
            + _attr(5, struct.pack(">I", 100))
            + _attr(6, b"")
            + _attr(7, struct.pack(">I", 4200000000) + bytes((10, 0, 0, 1)), flags=0xC0)
            + _attr(8, struct.pack(">III", 0xFFFFFF01, 0xFFFFFF03, (3356 << 16) | 2), flags=0xC0),
            id="MED, LOCAL_PREF, atomic, aggregator, communities",
        ),
        pytest.param(
            _ORIGIN + _PATH + _attr(7, struct.pack(">H", 64512) + bytes((10, 0, 0, 1))),
            id="2-byte aggregator",
        ),
        pytest.param(_ORIGIN + _PATH + _attr(8, b"", flags=0xC0), id="empty communities"),
        pytest.param(
            _ORIGIN + _PATH + _attr(14, b"\x10" + _V6_HOP, flags=0x80), id="MP_REACH IPv6"
        ),
        pytest.param(
            _ORIGIN + _PATH + _attr(14, b"\x00\x02\x01\x10" + _V6_HOP + b"\x00"),
            id="MP_REACH in full form",
        ),
        pytest.param(
            _ORIGIN
            + _PATH
            + _attr(14, b"\x00\x02\x01\x20" + _V6_HOP + _LINK_LOCAL + b"\x00\x20\x20\x01\x0d\xb8"),
            id="MP_REACH in full form with link-local and the entry's prefix",
        ),
        pytest.param(
            _ORIGIN + _PATH + _HOP + _attr(14, b"\x20" + _V6_HOP + _LINK_LOCAL, flags=0x80),
            id="MP_REACH IPv6 with link-local, beats NEXT_HOP",
        ),
        pytest.param(
            _ORIGIN + _PATH + _attr(14, b"\x10" + bytes(10) + b"\xff\xff" + bytes((1, 2, 3, 4))),
            id="MP_REACH IPv4-mapped",
        ),
    ],
)
def test_blob_text_equals_the_decoded_text(blob: bytes) -> None:
    assert _check(blob) == (3, True)


@pytest.mark.parametrize("name", ["bview.20020722.2337.gz", "rib.20080501.0644_firstMB.bz2"])
def test_blob_text_of_2_byte_asns_equals_the_decoded_text_on_real_ribs(name: str) -> None:
    """TABLE_DUMP (v1) blobs: AS paths of 2-byte ASNs."""
    blobs = _table_dump_blobs(name)
    taken = sum(_check(blob, asn4=False)[0] == 3 for blob in blobs)
    # Nearly all take the short cut (the rest: AS_SETs, AS4_PATH and the like).
    assert len(blobs) > 10_000 and taken > 0.9 * len(blobs)


_PATH2 = _attr(2, b"\x02\x03" + struct.pack(">HHH", 3356, 23456, 65535))
_AS4_PATH = _attr(17, b"\x02\x03" + struct.pack(">III", 3356, 4200000000, 65535), flags=0xC0)


@pytest.mark.parametrize(
    "blob, taken",
    [
        pytest.param(_ORIGIN + _PATH2 + _HOP, 3, id="2-byte path"),
        pytest.param(
            _ORIGIN + _PATH2 + _HOP + _attr(7, struct.pack(">H", 64512) + bytes((10, 0, 0, 1))),
            3,
            id="2-byte aggregator",
        ),
        pytest.param(_ORIGIN + _PATH2 + _HOP + _AS4_PATH, 0, id="AS4_PATH to merge"),
    ],
)
def test_blob_text_of_2_byte_asns(blob: bytes, taken: int) -> None:
    assert _check(blob, asn4=False)[0] == taken
    _slow_tail(BgpdumpEncoder(), blob, asn4=False)  # the full decoder takes it too


_ORIGINATOR = _attr(9, bytes((10, 0, 0, 9)), flags=0x80)
_CLUSTERS = _attr(10, bytes((10, 0, 0, 1, 10, 0, 0, 2)), flags=0x80)
_EXTENDED = _attr(16, bytes.fromhex("0002fde800000064"), flags=0xC0)
_OTC = _attr(35, struct.pack(">I", 64500), flags=0xC0)


@pytest.mark.parametrize(
    "blob",
    [
        pytest.param(_ORIGIN + _PATH + _HOP + _ORIGINATOR + _CLUSTERS, id="route reflection"),
        pytest.param(_EXTENDED + _ORIGIN + _PATH, id="extended communities"),
        pytest.param(_ORIGIN + _PATH + _HOP + _OTC, id="only to customer"),
    ],
)
def test_line_formats_skip_what_they_do_not_show(blob: bytes) -> None:
    """ORIGINATOR_ID, CLUSTER_LIST, EXTENDED_COMMUNITIES and OTC appear in events
    only."""
    assert _check(blob) == (3, False)


@pytest.mark.parametrize(
    "blob",
    [
        pytest.param(_ORIGIN + _PATH + _HOP + _ORIGIN, id="repeated attribute"),
        pytest.param(_ORIGIN + _attr(2, b"") + _HOP, id="empty AS path"),
        pytest.param(_ORIGIN + _HOP, id="no AS path"),
        pytest.param(
            _ORIGIN
            + _attr(2, b"\x02\x01" + struct.pack(">I", 1) + b"\x01\x02" + struct.pack(">II", 2, 3))
            + _HOP,
            id="sequence and set",
        ),
        pytest.param(
            _ORIGIN
            + _attr(2, b"\x03\x01" + struct.pack(">I", 65001) + b"\x02\x01" + struct.pack(">I", 2))
            + _HOP,
            id="confederation sequence",
        ),
        pytest.param(_ORIGIN + _PATH + _attr(32, b"", flags=0xC0), id="empty large communities"),
        pytest.param(_ORIGIN + _PATH + _attr(14, b"\x04\x0a\x00\x00\x01"), id="MP_REACH IPv4"),
        pytest.param(
            _ORIGIN + _PATH + _attr(14, b"\x00\x01\x01\x04\x0a\x00\x00\x01\x00"),
            id="MP_REACH in full form, IPv4 next hop",
        ),
    ],
)
def test_blob_text_declines_what_it_does_not_know(blob: bytes) -> None:
    assert _check(blob) == (0, False)
    _slow_tail(BgpdumpEncoder(), blob)  # the full decoder takes it


@pytest.mark.parametrize(
    "blob",
    [
        pytest.param(_attr(1, b"\x00\x00") + _PATH, id="ORIGIN of length 2"),
        pytest.param(_ORIGIN + _attr(3, b"\x01\x02\x03"), id="NEXT_HOP of length 3"),
        pytest.param(_ORIGIN + _attr(4, b"\x01"), id="MED of length 1"),
        pytest.param(_ORIGIN + _attr(5, b"\x01"), id="LOCAL_PREF of length 1"),
        pytest.param(_ORIGIN + _attr(7, bytes(7)), id="AGGREGATOR of length 7"),
        pytest.param(_ORIGIN + _attr(8, bytes(5)), id="COMMUNITIES of length 5"),
        pytest.param(_ORIGIN + _attr(9, bytes(3)), id="ORIGINATOR_ID of length 3"),
        pytest.param(_ORIGIN + _attr(10, bytes(5)), id="CLUSTER_LIST of length 5"),
        pytest.param(_ORIGIN + _attr(16, bytes(7)), id="EXTENDED_COMMUNITIES of length 7"),
        pytest.param(_ORIGIN + _PATH + _attr(35, bytes(5), flags=0xC0), id="OTC of length 5"),
        pytest.param(_ORIGIN + _attr(32, bytes(13)), id="LARGE_COMMUNITIES of length 13"),
        pytest.param(_ORIGIN + _attr(2, b"\x05\x01" + bytes(4)), id="AS path segment type 5"),
        pytest.param(_ORIGIN + _attr(2, b"\x02\x02" + bytes(4)), id="AS path segment overruns"),
        pytest.param(_ORIGIN + _attr(2, b"\x02"), id="AS path segment header cut"),
        pytest.param(_ORIGIN + _attr(14, b"\x10" + bytes(8)), id="MP next hop overruns"),
        pytest.param(_ORIGIN + b"\x40\x03", id="attribute header cut"),
        pytest.param(_ORIGIN + b"\x50\x02\x00", id="extended header cut"),
        pytest.param(_ORIGIN + b"\x40\x03\x04\x01", id="value overruns the blob"),
    ],
)
def test_blob_text_declines_malformed_attributes(blob: bytes) -> None:
    """The scanners leave malformed attributes to the full decoder, which leaves them
    out and says so (the entry stays: before, it stopped the whole RIB)."""
    assert BgpdumpEncoder().rib_blob_tail(blob) is None
    assert BgpscannerEncoder().rib_blob_tail(blob) is None
    assert EventEncoder().rib_blob_body(blob) is None
    assert rib_attributes(blob, True)[2] == Flags.ATTRIBUTE_DISCARD
