"""Sans-I/O decoding of MRT files: bytes in, route events out.

Nothing in this package opens files, sockets or reads clocks, so the CLI, the worker
pool and the tests all drive the very same code (the h11 approach). The pipeline is:

``Decompressor`` (bz2/gzip/raw, sniffed from content) → ``RecordSplitter`` (MRT framing
with byte offsets and record indexes) → ``Decoder`` (MRT record types, BGP messages and
path attributes) → events (:mod:`mrtfeed.decode.events`).
"""

from mrtfeed.decode.compression import Decompressor, sniff_compression
from mrtfeed.decode.decoder import Decoder, DecoderStats
from mrtfeed.decode.errors import DecodeError, TruncatedInputError
from mrtfeed.decode.events import (
    EventKind,
    Flags,
    Peer,
    RouteEvent,
    StateEvent,
)
from mrtfeed.decode.framing import Record, RecordSplitter

__all__ = [
    "DecodeError",
    "Decoder",
    "DecoderStats",
    "Decompressor",
    "EventKind",
    "Flags",
    "Peer",
    "Record",
    "RecordSplitter",
    "RouteEvent",
    "StateEvent",
    "TruncatedInputError",
    "sniff_compression",
]
