"""``bgpdump -m`` (and ``-m -l``) lines, byte for byte, from events.

Column rules come from RIPE-NCC/bgpdump ``bgpdump.c`` (see docs/DOMAIN.md §3.1). Where
bgpdump prints wrong data (un-signalled ADD-PATH, 4-byte AGGREGATOR in 2-byte
contexts) this encoder prints the right values; tests name each such case.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable, Sequence
from typing import Any, cast

from mrtfeed.decode import constants as C
from mrtfeed.decode.attributes import PathAttributes, RibBlob, format_as_path, scan_rib_blob
from mrtfeed.decode.events import Event, EventKind, Flags, Peer, RouteEvent, StateEvent
from mrtfeed.encode.communities import large_community_text

#: bgpdump's name for each ORIGIN byte (every value past EGP prints as INCOMPLETE).
_ORIGIN_BY_VALUE = ("IGP", "EGP", *["INCOMPLETE"] * 254)
_WELL_KNOWN = {0xFFFFFF01: "no-export", 0xFFFFFF02: "no-advertise", 0xFFFFFF03: "local-AS"}
#: bgpdump's attribute defaults print as INADDR_NONE when NEXT_HOP is absent.
_NO_NEXT_HOP = "255.255.255.255"
_CACHE_LIMIT = 100_000
_LETTERS = ("B", "A", "W", "STATE")
_RIB, _ANNOUNCE = EventKind.RIB, EventKind.ANNOUNCE
_WITHDRAW, _STATE = EventKind.WITHDRAW, EventKind.STATE
_ZERO10 = bytes(10)
_ONE4 = b"\0\0\0\1"


def bgpdump_ipv6(text: str) -> str:
    """Re-spell an IPv6 address the way bgpdump's own ``fmt_ipv6`` does: it compresses
    the longest zero run even when it is a single group, and writes IPv4-mapped and
    -compatible addresses with a dotted quad. ``text`` may carry a ``/len`` suffix."""
    address, slash, length = text.partition("/")
    packed = socket.inet_pton(socket.AF_INET6, address)
    if packed[:10] == _ZERO10 and (
        packed[10:12] == b"\xff\xff" or (packed[10:12] == b"\0\0" and packed[12:] > _ONE4)
    ):
        mapped = "ffff:" if packed[10:12] == b"\xff\xff" else ""
        return f"::{mapped}{socket.inet_ntoa(packed[12:])}{slash}{length}"
    words = struct.unpack(">8H", packed)
    best_at, best_len = -1, 0
    run = 0
    for i in range(7, -1, -1):
        run = run + 1 if words[i] == 0 else 0
        if run >= best_len and run:
            best_at, best_len = i, run
    groups = [f"{w:x}" for w in words]
    if best_len:
        head = ":".join(groups[:best_at])
        tail = ":".join(groups[best_at + best_len :])
        address = f"{head}::{tail}"
    else:
        address = ":".join(groups)
    return f"{address}{slash}{length}"


def _origin_text(origin: int | None) -> str:
    return "INCOMPLETE" if origin is None else _ORIGIN_BY_VALUE[origin]


def community_text(value: int) -> str:
    """``hi:lo``, or bgpdump's names for the RFC 1997 well-known communities."""
    return _WELL_KNOWN.get(value) or f"{value >> 16}:{value & 0xFFFF}"


def _format_name(mrt_kind: int, has_path_id: bool) -> str:
    rtype, subtype = mrt_kind >> 16, mrt_kind & 0xFFFF
    if rtype == C.TABLE_DUMP_V2:
        return "TABLE_DUMP2_AP" if has_path_id else "TABLE_DUMP2"
    if rtype == C.TABLE_DUMP:
        return "TABLE_DUMP"
    if rtype == C.BGP:
        return "BGP"
    name = "BGP4MP_ET" if rtype == C.BGP4MP_ET else "BGP4MP"
    if subtype in C.BGP4MP_LOCAL_SUBTYPES:
        name += "_LOCAL"
    if has_path_id:
        name += "_AP"
    return name


class BgpdumpEncoder:
    """Stateful only in caches: attribute tails and line heads repeat across events."""

    def __init__(self, *, large_communities: bool = False) -> None:
        self.large_communities = large_communities
        #: RIB events: the next hop is a function of the attributes, so they are the key.
        self._rib_tails: dict[PathAttributes, str] = {}
        self._tails: dict[tuple[PathAttributes, str, bool], str] = {}
        self._peers: dict[Peer, str] = {}
        self._v6: dict[str, str] = {}
        #: The community column by communities (AS paths are not cached: 90 % of a
        #: RIB's distinct blobs have a distinct path).
        self._community_texts: dict[tuple[int, ...], str] = {}
        #: Record kind -> its name in lines of UPDATEs without path ids.
        self._update_names: dict[int, str] = {}

    def _tail(self, attrs: PathAttributes, next_hop: str, legacy: bool) -> str:
        """Everything after the prefix (and path id): from AS path to the last ``|``."""
        comms = self._community_texts.get(attrs.communities)
        if comms is None:
            comms = self._communities_text(attrs.communities)
        path = format_as_path(attrs.as_path)
        origin = _origin_text(attrs.origin)
        aggregate = "AG" if attrs.atomic_aggregate else "NAG"
        aggregator = f"{attrs.aggregator[0]} {attrs.aggregator[1]}" if attrs.aggregator else ""
        lp, med = attrs.local_pref or 0, attrs.med or 0
        if legacy:
            # bgpdump's legacy-BGP line has no separator before the communities.
            core = f"{next_hop or _NO_NEXT_HOP}|{lp}|{med}"
            core += f"{comms}|{aggregate}|" if 8 in attrs.present else f"|{aggregate}|"
            return f"{path}|{origin}|{core}{aggregator}|"
        if ":" in next_hop:
            next_hop = self._v6.get(next_hop) or self._v6_text(next_hop)
        large = " ".join(map(large_community_text, attrs.large_communities))
        return self._columns(path, origin, next_hop, lp, med, comms, large, aggregate, aggregator)

    def _communities_text(self, communities: tuple[int, ...]) -> str:
        """The community column, cached: a peer tags many paths alike (a RIS UPDATE
        file's tails carry six communities on average)."""
        texts = self._community_texts
        if len(texts) > _CACHE_LIMIT:
            texts.clear()
        text = texts[communities] = " ".join(map(community_text, communities))
        return text

    def _columns(
        self,
        path: str,
        origin: str,
        next_hop: str,
        lp: int,
        med: int,
        comms: str,
        large: str,
        aggregate: str,
        aggregator: str,
    ) -> str:
        """The tail's columns (``-m``, or ``-m -l`` with the large communities)."""
        large_column = f"{large}|" if self.large_communities else ""
        return (
            f"{path}|{origin}|{next_hop or _NO_NEXT_HOP}|{lp}|{med}|{comms}|"
            f"{large_column}{aggregate}|{aggregator}|"
        )

    def _head(self, mrt_kind: int, kind: int, timestamp: int, micro: int, has_id: bool) -> str:
        time = str(timestamp)
        if micro >= 0:
            time += f".{micro:06d}"
        return f"{_format_name(mrt_kind, has_id)}|{time}|{_LETTERS[kind]}|"

    def _peer_text(self, peer: Peer) -> str:
        text = self._peers.get(peer)
        if text is None:
            text = self._peers[peer] = self.peer_column(peer.ip, peer.asn)
        return text

    def peer_column(self, ip: str, asn: int) -> str:
        """The peer's columns: ``ip|asn|``."""
        return f"{bgpdump_ipv6(ip) if ':' in ip else ip}|{asn}|"

    # -- the RIB fast path (mrtfeed.decode.lines.RowFormat) ----------------------------

    #: Lines are ``head + prefix + tail``.
    rib_row: Callable[[Any, str, Any, int, int, int], Any] | None = None

    def begin(self) -> None:
        pass

    def rows_for(self, events: Sequence[Event]) -> list[str]:
        return [self.encode(events)]

    def rib_heads(self, peers: Sequence[Peer], mrt_kind: int, timestamp: int) -> list[str]:
        head = self._head(mrt_kind, _RIB, timestamp, -1, False)
        return [head + self._peer_text(peer) for peer in peers]

    #: UPDATE lines are joined by :meth:`UpdateLines.run` itself, from tails that
    #: :meth:`scanned_tail` and :meth:`path_tail` make from scanned blobs.
    update_rows = None

    @property
    def scanned_tails(self) -> BgpdumpEncoder:
        return self

    #: bgpdump lines show neither ORIGINATOR_ID, CLUSTER_LIST, extended communities
    #: nor OTC: the blob scan may skip them.
    scan_lines = True

    def update_heads(self, mrt_kind: int, timestamp: int, micro: int) -> tuple[str, str]:
        """The starts of announcement and withdrawal lines (for
        :class:`~mrtfeed.decode.update_lines.UpdateLines`)."""
        # Once per record of a BGP4MP_ET file (each has its own microseconds): no
        # calls, the kind's name is kept.
        name = self._update_names.get(mrt_kind)
        if name is None:
            name = self._update_names[mrt_kind] = _format_name(mrt_kind, False)
        start = f"{name}|{timestamp}"
        if micro >= 0:
            start += f".{micro:06d}"
        return f"{start}|A|", f"{start}|W|"

    def rib_tail(self, attrs: PathAttributes, next_hop: str, flags: Flags = Flags.NONE) -> str:
        """bgpdump's line has no column for ``flags``."""
        return f"|{self._tail(attrs, next_hop, False)}\n"

    #: An UPDATE's announcement lines end as a RIB entry's do.
    update_tail = rib_tail

    def legacy_tail(self, attrs: PathAttributes, next_hop: str) -> str:
        """:meth:`rib_tail` in bgpdump's line for legacy BGP (type 5) UPDATEs."""
        return f"|{self._tail(attrs, next_hop, True)}\n"

    def rib_blob_tail(self, blob: bytes, asn4: bool = True) -> str | None:
        """:meth:`rib_tail` from the attribute blob, when :func:`scan_rib_blob` can
        read it (nearly always): no :class:`PathAttributes` in between."""
        scanned = scan_rib_blob(blob, lines=True, asn4=asn4)
        if scanned is None:
            return None
        return self.scanned_tail(scanned, scanned[3] or scanned[2])

    def scanned_tail(self, scanned: RibBlob, next_hop: str) -> str:
        """:meth:`rib_tail` from attributes as :func:`scan_rib_blob` reads them."""
        origin, asns, _, _, med, lp, atomic, aggregator, comms, large = scanned[:10]
        if ":" in next_hop:
            next_hop = self._v6.get(next_hop) or self._v6_text(next_hop)
        comms_text = self._community_texts.get(comms)
        if comms_text is None:
            comms_text = self._communities_text(comms)
        columns = self._columns(
            " ".join(map(str, asns)),
            _origin_text(origin),
            next_hop,
            lp or 0,
            med or 0,
            comms_text,
            " ".join(map(large_community_text, large)) if self.large_communities else "",
            "AG" if atomic else "NAG",
            f"{aggregator[0]} {aggregator[1]}" if aggregator else "",
        )
        return f"|{columns}\n"

    def path_tail(self, asns: tuple[int, ...], pathless_tail: str) -> str:
        """:meth:`scanned_tail` with the AS path ``asns`` put into the tail made
        without one (``||origin|...``)."""
        return f"|{' '.join(map(str, asns))}{pathless_tail[1:]}"

    def _v6_text(self, address: str) -> str:
        """bgpdump's spelling of an IPv6 address, cached (next hops repeat)."""
        if len(self._v6) > _CACHE_LIMIT:
            self._v6.clear()
        text = self._v6[address] = bgpdump_ipv6(address)
        return text

    def ipv6_prefix(self, prefix: str) -> str:
        # Not cached: a RIB names each prefix once.
        return bgpdump_ipv6(prefix)

    def encode(self, events: Sequence[Event]) -> str:
        """Lines for a batch of events, each ending in a newline."""
        lines: list[str] = []
        append = lines.append
        peers = self._peers
        rib_tails = self._rib_tails
        tails = self._tails
        v6_cache = self._v6
        for cache in (rib_tails, tails, v6_cache):
            if len(cache) > _CACHE_LIMIT:
                cache.clear()
        make_head = self._head
        head = ""
        last: tuple[int, int, int, int, bool] | None = None
        # The prefixes of one UPDATE share attributes and next hop: their tail is the
        # previous event's (no key to build and hash).
        last_attrs: PathAttributes | None = None
        last_hop = last_tail = ""
        last_mrt = -1
        for event in events:
            kind = event[0]
            peer = event[5]
            peer_text = peers.get(peer) or self._peer_text(peer)
            if kind == _STATE:
                state = cast(StateEvent, event)
                state_head = make_head(state[4], kind, state[2], state[3], False)
                append(f"{state_head}{peer_text}{state.old_state}|{state.new_state}\n")
                last = None
                continue
            _, _, timestamp, micro, mrt_kind, _, prefix, path_id, attrs, next_hop, _, _ = cast(
                RouteEvent, event
            )
            has_id = path_id is not None
            head_key = (timestamp, mrt_kind, kind, micro, has_id)
            if head_key != last:
                last = head_key
                head = make_head(mrt_kind, kind, timestamp, micro, has_id)
            if ":" in prefix:
                prefix = v6_cache.get(prefix) or self._v6_text(prefix)
            if kind == _WITHDRAW:
                if has_id:
                    append(f"{head}{peer_text}{prefix}|{path_id}\n")
                else:
                    append(f"{head}{peer_text}{prefix}\n")
                continue
            if attrs is None:
                continue
            tail: str | None
            if attrs is last_attrs and next_hop is last_hop and mrt_kind == last_mrt:
                tail = last_tail
            elif kind == _RIB:
                tail = rib_tails.get(attrs)
                if tail is None:
                    tail = rib_tails[attrs] = self._tail(attrs, next_hop, False)
            else:
                key = (attrs, next_hop, mrt_kind >> 16 == C.BGP)
                tail = tails.get(key)
                if tail is None:
                    tail = tails[key] = self._tail(*key)
            last_attrs, last_hop, last_tail, last_mrt = attrs, next_hop, tail, mrt_kind
            if has_id:
                append(f"{head}{peer_text}{prefix}|{path_id}|{tail}\n")
            else:
                append(f"{head}{peer_text}{prefix}|{tail}\n")
        return "".join(lines)
