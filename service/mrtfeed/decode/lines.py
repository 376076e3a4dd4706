"""Output rows straight from RIB records (TABLE_DUMP_V2 unicast, TABLE_DUMP), without events.

Nearly every record of a RIB file is a RIB_IPV4/IPV6_UNICAST record with one or two
entries (497,407 records for 503,590 entries in the jinx RIB), and 84 % of the entries
repeat an attribute blob seen before. An output row (a ``bgpdump -m`` line, a schema-v1
Kafka message) is then built from cached pieces: a head per (peer, record time), the
prefix, and a tail per distinct attribute blob. Building a
:class:`~mrtfeed.decode.events.RouteEvent` for each entry and encoding it afterwards
costs about twice as much (3.4 s against 1.6 s of CPU for bgpdump lines on the jinx
RIB, decompression aside), so :meth:`mrtfeed.decode.decoder.Decoder.decode_rows` builds
those rows itself with the pieces a :class:`RowFormat` makes, and hands the events of
every other record to the format's ``rows_for``. The older TABLE_DUMP records, one
entry each with the peer written out, take the same road (their head is cached per
peer address and AS).

The rows equal ``fmt.rows_for(decoder.decode_chunk(...))`` (tests check it on every
shared file and in the fuzz tests). Still sans-I/O: bytes in, rows out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from mrtfeed.decode.attributes import PathAttributes, rib_attributes
from mrtfeed.decode.events import Event, Flags, Peer
from mrtfeed.decode.update_lines import UpdateLineFormat, UpdateLines

if TYPE_CHECKING:
    from mrtfeed.decode.decoder import DecoderStats

_TAIL_CACHE_LIMIT = 100_000
#: And the characters in them: RIB entries with distinct 150-ASN paths made 100,000
#: tails hold about 150 MB (300 MB as JSON) in a review's synthetic RIB.
_TAIL_CHARS_LIMIT = 16_000_000


class RowFormat(Protocol):
    """An output format that can build RIB rows from cached pieces.

    With :attr:`rib_row` None a row is the string ``head + prefix + tail``;
    otherwise ``rib_row(head, prefix, tail, originated, record index, position of
    the entry in its record)``.
    """

    @property
    def rib_row(self) -> Callable[[Any, str, Any, int, int, int], Any] | None:
        """Builds a row from (head, prefix, tail, originated time, record index,
        position of the entry in its record); None: rows are ``head + prefix + tail``."""
        ...

    def begin(self) -> None:
        """Called before each pass over a chunk (a damaged chunk gets a second pass
        over its good part): the format may keep state per pass."""
        ...

    def rows_for(self, events: Sequence[Event]) -> list[Any]:
        """The rows of the events of records off the fast path."""
        ...

    def rib_heads(self, peers: Sequence[Peer], mrt_kind: int, timestamp: int) -> list[Any]:
        """The piece before the prefix, for each peer of the PEER_INDEX_TABLE."""
        ...

    def rib_tail(self, attrs: PathAttributes, next_hop: str, flags: Flags = Flags.NONE) -> Any:
        """The piece after the prefix (a RIB entry's attributes, and the flags they
        give, decide it all)."""
        ...

    def rib_blob_tail(self, blob: bytes, asn4: bool = True) -> Any | None:
        """:meth:`rib_tail` from the attribute blob itself (of 4-byte or 2-byte ASNs),
        when the format can do it faster than decoding :class:`PathAttributes`; None:
        decode them."""
        ...

    def ipv6_prefix(self, prefix: str) -> str:
        """The format's spelling of an IPv6 prefix given in RFC 5952 form."""
        ...


class RibRows:
    """An output format and the tails made so far (kept between chunks).

    ``updates``: lines for plain UPDATE records too, from the pieces this format
    makes (for bgpdump lines without a filter; see :mod:`mrtfeed.decode.update_lines`).
    """

    def __init__(self, fmt: RowFormat, updates: UpdateLineFormat | None = None) -> None:
        self.fmt = fmt
        self.updates = UpdateLines(updates) if updates is not None else None
        #: Attribute blob -> tail (the blob is the whole identity of a RIB tail).
        self.tails: dict[bytes, Any] = {}
        #: The same for blobs with 2-byte ASNs (TABLE_DUMP v1 records).
        self.tails2: dict[bytes, Any] = {}
        #: Characters held in :attr:`tails` and :attr:`tails2`.
        self._tail_chars = 0
        #: Where blobs with malformed attributes are counted: the decoder's, set by
        #: :meth:`~mrtfeed.decode.decoder.Decoder.decode_rows`.
        self.stats: DecoderStats | None = None

    def tail(self, blob: bytes, asn4: bool = True) -> Any:
        """The tail for a blob not in :attr:`tails` (:attr:`tails2` for a blob with
        2-byte ASNs) yet; raises DecodeError."""
        tails = self.tails if asn4 else self.tails2
        if len(tails) >= _TAIL_CACHE_LIMIT or self._tail_chars >= _TAIL_CHARS_LIMIT:
            self.tails.clear()
            self.tails2.clear()
            self._tail_chars = 0
        tail = self.fmt.rib_blob_tail(blob, asn4)
        if tail is None:
            # The attributes are not kept: the tail is all this path needs (and fewer
            # live objects make garbage collections cheaper).
            attrs, next_hop, flags = rib_attributes(blob, asn4)
            if flags and self.stats is not None:
                self.stats.attribute_discard += 1
            tail = self.fmt.rib_tail(attrs, next_hop, flags)
        tails[blob] = tail
        self._tail_chars += _chars(tail)
        return tail


def _chars(tail: Any) -> int:
    """The characters of a tail: a string, or a tuple of strings (and None)."""
    if isinstance(tail, str):
        return len(tail)
    return sum(len(part) for part in tail if isinstance(part, str))
