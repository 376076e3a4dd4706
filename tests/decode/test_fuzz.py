"""Fuzzing: mutated real records must decode or fail with DecodeError, nothing else.

The number of cases per family comes from MRTFEED_FUZZ_EXAMPLES (CI: 25,000 x 4
families = 100,000 cases; the closing note documents a longer run).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mrtfeed.decode import constants as C
from mrtfeed.decode.decoder import Decoder
from mrtfeed.decode.errors import DecodeError
from mrtfeed.decode.framing import HEADER, Record, RecordSplitter
from mrtfeed.encode.base import make_encoder
from mrtfeed.pipeline.reader import ChunkReader
from tests.decode.helpers import fast_rows
from tests.mrtdata import MRT_DIR

EXAMPLES = int(os.environ.get("MRTFEED_FUZZ_EXAMPLES", "25000"))
_FORMATS = ("bgpdump", "bgpscanner", "json")
_ENCODERS = [make_encoder(name) for name in _FORMATS]
#: The formats with rows made without events.
_FAST_FORMATS = _FORMATS


def _sample(name: str, keep: Callable[[Record], bool], limit: int = 300) -> list[Record]:
    out: list[Record] = []
    for chunk in ChunkReader(str(MRT_DIR / name)):
        splitter_records = RecordSplitter().feed(chunk.data)
        out.extend(r for r in splitter_records if keep(r))
        if len(out) >= limit:
            break
    return out[:limit]


PEER_INDEX = _sample(
    "routeviews.route-views.jinx.ribs.1401487200.bz2", lambda r: r.subtype == 1, 1
)[0]
FAMILIES = {
    "rib": _sample("routeviews.route-views.jinx.ribs.1401487200.bz2", lambda r: r.subtype != 1)
    + _sample("bird-mrtdump_rib", lambda r: r.subtype != 1)
    + _sample("openbgpd_rib_table-v2", lambda r: r.subtype != 1),
    "updates": _sample("updates.20190101.0000.gz", lambda r: True)
    + _sample("bird-mrtdump_bgp", lambda r: True)
    + _sample("updates.et-header.2015.gz", lambda r: True),
    "legacy": _sample("updates.19990903.1041.gz", lambda r: True)
    + _sample("namex-bgpd-rib-inet.mrt", lambda r: True)
    + _sample("openbgpd_rib_table", lambda r: True),
    "mixed": _sample("openbgpd_bgp", lambda r: True)
    + _sample("updates.20001104.0124.gz", lambda r: True)
    + _sample("rrc01.updates.20241001.0055.gz", lambda r: True, 100),
}


#: Strategies made once: a strategy built inside a draw is built (and its label
#: hashed, a whole family's records for ``sampled_from``) for every case, which was
#: a fifth of the run.
_RECORDS = {family: st.sampled_from(records) for family, records in FAMILIES.items()}
_MUTATIONS = st.integers(1, 4)
_ACTIONS = st.sampled_from(("flip", "cut", "insert", "set"))
_BITS = st.integers(0, 7)
#: Byte values worth setting; the last choice is any byte.
_SPECIAL_BYTES = (0, 1, 0x7F, 0x80, 0xFF)
_BYTE_CHOICES = st.integers(0, len(_SPECIAL_BYTES))
_BYTES = st.integers(0, 255)
_INSERTS = st.binary(min_size=1, max_size=8)
_TENTHS = st.integers(0, 9)
_SUBTYPES = st.integers(0, 13)


@st.composite
def mutated(draw: st.DrawFn, family: str) -> Record:
    record = draw(_RECORDS[family])
    body = bytearray(record.body)
    for _ in range(draw(_MUTATIONS)):
        action = draw(_ACTIONS)
        at = draw(st.integers(0, max(len(body) - 1, 0)))
        if action == "flip" and body:
            body[at] ^= 1 << draw(_BITS)
        elif action == "set" and body:
            choice = draw(_BYTE_CHOICES)
            body[at] = _SPECIAL_BYTES[choice] if choice < len(_SPECIAL_BYTES) else draw(_BYTES)
        elif action == "cut":
            del body[at:]
        else:
            body[at:at] = draw(_INSERTS)
    subtype = record.subtype
    if draw(_TENTHS) == 0:
        subtype = draw(_SUBTYPES)
    return record._replace(body=bytes(body), subtype=subtype)


_table_decoder = Decoder()
_table_decoder.load_peer_index(PEER_INDEX.body)
_TABLE = _table_decoder.peer_state()


def _decoder() -> Decoder:
    """A fresh decoder (no cached attributes) with the jinx RIB's table in force,
    decoded once: four decoders per case decoding it took a tenth of the run."""
    decoder = Decoder()
    decoder.restore_peer_state(_TABLE)
    return decoder


def _lines(record: Record, output_format: str) -> str:
    """The record through the fast paths (RIB and UPDATE rows without events), as
    text or as its error."""
    decoder = _decoder()
    framed = HEADER.pack(record.timestamp, record.type, record.subtype, len(record.body))
    try:
        rows = fast_rows(output_format)
        return "".join(
            decoder.decode_rows(framed + record.body, rows, record.record_index, record.offset)
        )
    except DecodeError as exc:
        return f"{exc.message} at {exc.offset} record {exc.record_index}"


def _check(record: Record) -> None:
    decoder = _decoder()
    # The fast paths take TABLE_DUMP(_V2), BGP4MP(_ET) and legacy BGP records.
    compare_lines = record.type in (C.TABLE_DUMP, C.TABLE_DUMP_V2, C.BGP4MP, C.BGP4MP_ET, C.BGP)
    try:
        events = decoder.decode(record)
    except DecodeError as exc:
        assert exc.record_index == record.record_index and exc.offset == record.offset
        if compare_lines:
            for output_format in _FAST_FORMATS:
                assert _lines(record, output_format) == (
                    f"{exc.message} at {exc.offset} record {exc.record_index}"
                )
        return
    texts = [encoder.encode(events) for encoder in _ENCODERS]
    if compare_lines:
        for output_format in _FAST_FORMATS:
            assert _lines(record, output_format) == texts[_FORMATS.index(output_format)]


def _fuzz(family: str) -> Callable[[], None]:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(mutated(family))
    def run(record: Record) -> None:
        _check(record)

    return run


test_fuzz_rib_records = _fuzz("rib")
test_fuzz_update_records = _fuzz("updates")
test_fuzz_legacy_records = _fuzz("legacy")
test_fuzz_mixed_records = _fuzz("mixed")
