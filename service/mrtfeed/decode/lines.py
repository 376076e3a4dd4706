"""Output lines straight from TABLE_DUMP_V2 unicast RIB records, for line formats.

Nearly every record of a RIB file is a RIB_IPV4/IPV6_UNICAST record with one or two
entries (497,407 records for 503,590 entries in the jinx RIB), and 84 % of the entries
repeat an attribute blob seen before. A line format such as ``bgpdump -m`` is then three
cached pieces per entry: a head per (peer, record time), the prefix, and a tail per
distinct attribute blob. Building a :class:`~mrtfeed.decode.events.RouteEvent` for
each entry and encoding it afterwards costs about twice as much (3.4 s against 1.6 s
of CPU on the jinx RIB, decompression aside), so
:meth:`mrtfeed.decode.decoder.Decoder.decode_lines` writes those records' lines itself
with the pieces kept here, and hands every other record to the format's ``encode``.

The output equals ``fmt.encode(decoder.decode_chunk(...))`` byte for byte (tests check
it on every shared file and in the fuzz tests). Still sans-I/O: bytes in, text out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from mrtfeed.decode.attributes import PathAttributes, rib_attributes
from mrtfeed.decode.events import Event, Peer

_TAIL_CACHE_LIMIT = 100_000


class LineFormat(Protocol):
    """A line format that can render RIB entries from cached pieces (``bgpdump -m``).

    A RIB entry's line is ``rib_heads(...)[peer index] + prefix + rib_tail(...)``.
    """

    def encode(self, events: Sequence[Event]) -> str:
        """Lines for the events of every record off the fast path."""
        ...

    def rib_heads(self, peers: Sequence[Peer], mrt_kind: int, timestamp: int) -> list[str]:
        """The text before the prefix, for each peer of the PEER_INDEX_TABLE."""
        ...

    def rib_tail(self, attrs: PathAttributes, next_hop: str) -> str:
        """The text after the prefix, newline included."""
        ...

    def ipv6_prefix(self, prefix: str) -> str:
        """The format's spelling of an IPv6 prefix given in RFC 5952 form."""
        ...


class RibLines:
    """A line format and the pieces of RIB lines made so far (kept between chunks)."""

    def __init__(self, fmt: LineFormat) -> None:
        self.fmt = fmt
        #: Attribute blob -> line tail (the blob is the whole identity of a RIB tail).
        self.tails: dict[bytes, str] = {}

    def tail(self, blob: bytes) -> str:
        """The tail for a blob not in :attr:`tails` yet; raises DecodeError."""
        tails = self.tails
        if len(tails) >= _TAIL_CACHE_LIMIT:
            tails.clear()
        # The attributes are not kept: the tail is all this path needs (and fewer
        # live objects make garbage collections cheaper).
        attrs, next_hop = rib_attributes(blob, True)
        tail = tails[blob] = self.fmt.rib_tail(attrs, next_hop)
        return tail

    def heads(self, peers: Sequence[Peer], mrt_kind: int, timestamp: int) -> list[str]:
        return self.fmt.rib_heads(peers, mrt_kind, timestamp)
