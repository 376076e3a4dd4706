"""Helpers for the decoder tests: whole files parsed in process (the CLI's code path, without
a subprocess), and what zlib inflates of a damaged stream."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

from mrtfeed.decode.decoder import Decoder, DecoderStats
from mrtfeed.decode.errors import DecodeError
from mrtfeed.decode.events import Event
from mrtfeed.decode.framing import iter_records
from mrtfeed.decode.lines import RibRows
from mrtfeed.encode.base import make_encoder
from mrtfeed.encode.bgpdump import BgpdumpEncoder
from mrtfeed.encode.bgpscanner import BgpscannerEncoder
from mrtfeed.encode.jsonl import JsonRows
from mrtfeed.pipeline.reader import ChunkReader
from mrtfeed.pipeline.work import ChunkWorker, WorkOptions
from tests.mrtdata import MRT_DIR


@dataclass
class Parsed:
    lines: list[str]
    stats: DecoderStats = field(default_factory=DecoderStats)
    error: DecodeError | None = None


def parse_file(
    name: str,
    output_format: str = "bgpdump",
    *,
    large_communities: bool = False,
    skip_bad_records: bool = False,
) -> Parsed:
    """Decode and encode a shared file as ``mrtfeed parse`` does with --jobs 1."""
    reader = ChunkReader(str(MRT_DIR / name))
    worker = ChunkWorker(
        WorkOptions(
            output_format=output_format,
            large_communities=large_communities,
            skip_bad_records=skip_bad_records,
        )
    )
    parsed = Parsed([])
    for chunk in reader:
        result = worker.process(chunk)
        parsed.lines.extend(result.text.decode().splitlines(keepends=True))
        parsed.stats.merge(result.stats)
        if result.error is not None:
            parsed.error = result.error
            return parsed
    parsed.error = reader.error
    return parsed


def events_of(name: str) -> list[Event]:
    """Every event of a shared file (which must be undamaged)."""
    reader = ChunkReader(str(MRT_DIR / name))
    decoder = Decoder()
    events: list[Event] = []
    for chunk in reader:
        for record in iter_records(chunk.data, chunk.first_index, chunk.first_offset):
            events.extend(decoder.decode(record))
    assert reader.error is None
    return events


#: (text or error, record counts, the other counts) of one path.
PathResult = tuple[str, str, str]


def event_and_line_paths(
    data: bytes,
    peer_index: bytes | None = None,
    *,
    large: bool = False,
    output_format: str = "bgpdump",
) -> tuple[PathResult, PathResult]:
    """A buffer of records decoded into events then encoded (as bgpdump lines, or
    ``output_format``: "json", "bgpscanner"), and the same through the fast paths
    (``Decoder.decode_rows`` with RIB and UPDATE rows): whatever the input, both must
    give the same result."""
    results = []
    for fast in (False, True):
        decoder = Decoder()
        if peer_index is not None:
            decoder.load_peer_index(peer_index)
        try:
            if fast:
                text = "".join(decoder.decode_rows(data, fast_rows(output_format, large), 7, 1000))
            else:
                events = decoder.decode_chunk(data, 7, 1000)
                text = make_encoder(output_format, large_communities=large).encode(events)
        except DecodeError as exc:
            text = f"error {exc.message} at {exc.offset} record {exc.record_index}"
        results.append((text, repr(sorted(decoder.stats.record_kinds.items())), _counts(decoder)))
    return results[0], results[1]


def fast_rows(output_format: str, large: bool = False) -> RibRows:
    """RIB and UPDATE rows without events, as ``mrtfeed parse`` makes them for an
    output format (no filter, no project or collector)."""
    if output_format == "json":
        json_rows = JsonRows()
        return RibRows(json_rows, updates=json_rows)
    if output_format == "bgpscanner":
        scanner_lines = BgpscannerEncoder()
        return RibRows(scanner_lines, updates=scanner_lines)
    assert output_format == "bgpdump", output_format
    encoder = BgpdumpEncoder(large_communities=large)
    return RibRows(encoder, updates=encoder)


def _counts(decoder: Decoder) -> str:
    """Every count of the decoder but the record kinds, in a stable order."""
    stats = decoder.stats
    return repr(
        (
            sorted(stats.events.items()),
            sorted(stats.bgp_messages.items()),
            sorted(stats.unsupported_nlri.items()),
            stats.unsignalled_addpath,
            stats.treat_as_withdraw,
            stats.truncated_nlri,
            stats.bad_records,
        )
    )


def inflated_before_damage(stream: bytes) -> bytes:
    """What zlib inflates of a damaged gzip stream before it fails, fed a byte at a
    time (so that no output is dropped with the failing call)."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    out = bytearray()
    for at in range(len(stream)):
        try:
            out += inflater.decompress(stream[at : at + 1])
        except zlib.error:
            return bytes(out)
    raise AssertionError("the stream is not damaged")
