"""bgpscanner / bgpgrep line format (rfperuch/bgpscanner bgpscanner.1, DOMAIN.md §3.2)."""

from __future__ import annotations

from collections.abc import Sequence

from mrtfeed.decode import constants as C
from mrtfeed.decode.attributes import PathAttributes, RibBlob, format_as_path, scan_rib_blob
from mrtfeed.decode.events import Event, EventKind, Flags, Peer, RouteEvent, StateEvent
from mrtfeed.encode.communities import large_community_text

_ORIGINS = ("i", "e", "?")
#: Attribute sets whose columns are kept: the decoder's limit (its keys keep the
#: PathAttributes alive; 100,000 held 83 MB on updates.et-header.2015).
_ATTR_CACHE_LIMIT = 25_000
#: The names bgpscanner prints for well-known communities (the filter knows them too).
WELL_KNOWN_NAMES = {
    0xFFFFFF01: "NO_EXPORT",
    0xFFFFFF02: "NO_ADVERTISE",
    0xFFFFFF03: "NO_EXPORT_SUBCONFED",
    0xFFFFFF04: "NOPEER",
    0xFFFF029A: "BLACKHOLE",
}


def _communities(communities: Sequence[int], large: Sequence[tuple[int, int, int]]) -> str:
    parts = [WELL_KNOWN_NAMES.get(c) or f"{c >> 16}:{c & 0xFFFF}" for c in communities]
    parts += map(large_community_text, large)
    return " ".join(parts)


def _columns(
    as_path: str,
    next_hop: str,
    origin: int | None,
    atomic: bool,
    aggregator: tuple[int, str] | None,
    communities: str,
) -> str:
    """AS_PATH to COMMUNITIES, the columns an attribute set decides."""
    return "|".join(
        (
            as_path,
            next_hop,
            _ORIGINS[origin] if origin is not None and origin < 3 else "",
            "AT" if atomic else "",
            f"{aggregator[0]} {aggregator[1]}" if aggregator else "",
            communities,
        )
    )


class BgpscannerEncoder:
    """One line per UPDATE and kind (prefixes space-separated), one per RIB entry."""

    def __init__(self) -> None:
        self._attr_text: dict[tuple[PathAttributes, str], str] = {}

    def _attrs(self, attrs: PathAttributes, next_hop: str) -> str:
        """AS_PATH to COMMUNITIES columns, once per attribute set and next hop."""
        key = (attrs, next_hop)
        text = self._attr_text.get(key)
        if text is None:
            if len(self._attr_text) >= _ATTR_CACHE_LIMIT:
                self._attr_text.clear()
            text = self._attr_text[key] = self.rib_tail(attrs, next_hop)
        return text

    # -- RIB rows without events (a RowFormat of mrtfeed.decode.lines) ---------------

    def begin(self) -> None:
        pass

    def rows_for(self, events: Sequence[Event]) -> list[str]:
        return [self.encode(events)]

    def rib_heads(
        self, peers: Sequence[Peer], mrt_kind: int, timestamp: int
    ) -> list[tuple[str, int]]:
        """The source column and the 4-byte-AS flag of each peer."""
        return [(f"{p.ip} {p.asn}", int(p.asn32)) for p in peers]

    def rib_tail(self, attrs: PathAttributes, next_hop: str, flags: Flags = Flags.NONE) -> str:
        """bgpscanner's line has no field for ``flags``."""
        return _columns(
            format_as_path(attrs.as_path),
            next_hop,
            attrs.origin,
            attrs.atomic_aggregate,
            attrs.aggregator,
            _communities(attrs.communities, attrs.large_communities),
        )

    def rib_blob_tail(self, blob: bytes, asn4: bool = True) -> str | None:
        scanned = scan_rib_blob(blob, lines=True, asn4=asn4)
        if scanned is None:
            return None
        origin, asns, next_hop, mp_next_hop, _, _, atomic, aggregator, comms, large = scanned[:10]
        path = " ".join(map(str, asns))
        return _columns(
            path, mp_next_hop or next_hop, origin, atomic, aggregator, _communities(comms, large)
        )

    def ipv6_prefix(self, prefix: str) -> str:
        return prefix

    # -- plain UPDATE records without events (mrtfeed.decode.update_lines) ------------

    @property
    def scanned_tails(self) -> BgpscannerEncoder:
        return self

    #: The format shows neither ORIGINATOR_ID, CLUSTER_LIST, extended communities nor
    #: OTC: the blob scan may skip them.
    scan_lines = True

    def update_heads(self, mrt_kind: int, timestamp: int, micro: int) -> str:
        """A line's end after the source: the time and the 4-byte-AS flag."""
        time = f"{timestamp}.{micro}" if micro >= 0 else str(timestamp)
        asn4 = mrt_kind >> 16 != C.BGP and mrt_kind & 0xFFFF in C.BGP4MP_AS4_SUBTYPES
        return f"|{time}|{int(asn4)}\n"

    def peer_column(self, ip: str, asn: int) -> str:
        return f"{ip} {asn}"

    update_tail = legacy_tail = rib_tail

    def scanned_tail(self, scanned: RibBlob, next_hop: str) -> str:
        origin, asns, _, _, _, _, atomic, aggregator, comms, large = scanned[:10]
        path = " ".join(map(str, asns))
        return _columns(path, next_hop, origin, atomic, aggregator, _communities(comms, large))

    def path_tail(self, asns: tuple[int, ...], pathless_tail: str) -> str:
        """:meth:`scanned_tail` with the AS path ``asns`` put into the columns made
        without one (``|next hop|...``)."""
        return f"{' '.join(map(str, asns))}{pathless_tail}"

    def update_rows(
        self,
        out: list[str],
        record_index: int,
        heads: str,
        peer: str,
        withdrawn: list[str],
        nlri: list[str],
        nlri_tail: str | None,
        reach: tuple[list[str], str] | None,
    ) -> None:
        """The lines of a plain UPDATE record (see
        :class:`~mrtfeed.decode.update_lines.UpdateRowWriter`), as :meth:`encode`
        groups its events: the withdrawals in one line, the announcements in one per
        next hop."""
        end = f"|{peer}{heads}"
        if withdrawn:
            out.append(f"-|{' '.join(withdrawn)}||||||{end}")
        if reach is not None and nlri and reach[1] == nlri_tail:
            nlri, reach = nlri + reach[0], None  # one next hop: one group
        if nlri:
            out.append(f"+|{' '.join(nlri)}|{nlri_tail}{end}")
        if reach is not None:
            out.append(f"+|{' '.join(reach[0])}|{reach[1]}{end}")

    @staticmethod
    def rib_row(
        head: tuple[str, int],
        prefix: str,
        tail: str,
        originated: int,
        record_index: int,
        position: int,
    ) -> str:
        """The line of a RIB entry, as :meth:`encode` writes it."""
        return f"=|{prefix}|{tail}|{head[0]}|{originated}|{head[1]}\n"

    @staticmethod
    def _time(event: Event, seconds: int) -> str:
        return f"{seconds}.{event.microseconds}" if event.microseconds >= 0 else str(seconds)

    def encode(self, events: Sequence[Event]) -> str:
        lines: list[str] = []
        i = 0
        n = len(events)
        while i < n:
            event = events[i]
            peer = event.peer
            if isinstance(event, StateEvent):
                source = f"{peer.ip} {peer.asn}"
                lines.append(
                    f"#|{event.old_state}-{event.new_state}|||||||{source}|"
                    f"{self._time(event, event.timestamp)}|{int(peer.asn32)}\n"
                )
                i += 1
                continue
            assert isinstance(event, RouteEvent)
            if event.kind == EventKind.RIB:
                group = [event]
                i += 1
            else:
                # Group the prefixes of one UPDATE that share kind, attributes, next hop.
                j = i + 1
                while j < n:
                    other = events[j]
                    if not (
                        isinstance(other, RouteEvent)
                        and other.record_index == event.record_index
                        and other.kind == event.kind
                        and other.attrs is event.attrs
                        and other.next_hop == event.next_hop
                        and other.path_id == event.path_id
                    ):
                        break
                    j += 1
                group = [e for e in events[i:j] if isinstance(e, RouteEvent)]
                i = j
            prefixes = " ".join(e.prefix for e in group)
            source = f"{peer.ip} {peer.asn}" + (
                f" {event.path_id}" if event.path_id is not None else ""
            )
            seconds = event.originated if event.kind == EventKind.RIB else event.timestamp
            tail = f"{source}|{self._time(event, seconds)}|{int(peer.asn32)}\n"
            if event.kind == EventKind.WITHDRAW or event.attrs is None:
                lines.append(f"-|{prefixes}|||||||{tail}")
            else:
                mark = "=" if event.kind == EventKind.RIB else "+"
                body = self._attrs(event.attrs, event.next_hop)
                lines.append(f"{mark}|{prefixes}|{body}|{tail}")
        return "".join(lines)
