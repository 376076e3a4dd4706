"""``bgpdump -m`` (and ``-m -l``) lines, byte for byte, from events.

Column rules come from RIPE-NCC/bgpdump ``bgpdump.c`` (see docs/DOMAIN.md §3.1). Where
bgpdump prints wrong data (un-signalled ADD-PATH, 4-byte AGGREGATOR in 2-byte
contexts) this encoder prints the right values; tests name each such case.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Sequence

from mrtfeed.decode import constants as C
from mrtfeed.decode.attributes import PathAttributes, format_as_path
from mrtfeed.decode.events import Event, EventKind, Peer, RouteEvent

_ORIGINS = ("IGP", "EGP")
_WELL_KNOWN = {0xFFFFFF01: "no-export", 0xFFFFFF02: "no-advertise", 0xFFFFFF03: "local-AS"}
#: bgpdump's attribute defaults print as INADDR_NONE when NEXT_HOP is absent.
_NO_NEXT_HOP = "255.255.255.255"
_CACHE_LIMIT = 100_000
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
        self._tails: dict[tuple[PathAttributes, str, bool], str] = {}
        self._peers: dict[Peer, str] = {}
        self._v6: dict[str, str] = {}
        self._heads: dict[tuple[int, bool, int, int, EventKind], str] = {}

    def _tail(self, attrs: PathAttributes, next_hop: str, legacy: bool) -> str:
        """Everything after the prefix (and path id): from AS path to the last ``|``."""
        comms = " ".join(map(community_text, attrs.communities))
        origin = attrs.origin
        fields = [
            format_as_path(attrs.as_path),
            _ORIGINS[origin] if origin is not None and origin < 2 else "INCOMPLETE",
        ]
        aggregate = "AG" if attrs.atomic_aggregate else "NAG"
        aggregator = f"{attrs.aggregator[0]} {attrs.aggregator[1]}" if attrs.aggregator else ""
        lp, med = attrs.local_pref or 0, attrs.med or 0
        has_comms = 8 in attrs.present
        if legacy:
            # bgpdump's legacy-BGP line has no separator before the communities.
            core = f"{next_hop or _NO_NEXT_HOP}|{lp}|{med}"
            core += f"{comms}|{aggregate}|" if has_comms else f"|{aggregate}|"
            return "|".join([*fields, core]) + f"{aggregator}|"
        if ":" in next_hop:
            next_hop = bgpdump_ipv6(next_hop)
        fields += [next_hop or _NO_NEXT_HOP, str(lp), str(med), comms]
        if self.large_communities:
            fields.append(" ".join(f"{a}:{b}:{c}" for a, b, c in attrs.large_communities))
        fields += [aggregate, aggregator]
        return "|".join(fields) + "|"

    def _head(self, event: Event, has_path_id: bool) -> str:
        key = (event.mrt_kind, has_path_id, event.timestamp, event.microseconds, event.kind)
        head = self._heads.get(key)
        if head is None:
            if len(self._heads) > 64:
                self._heads.clear()
            time = str(event.timestamp)
            if event.microseconds >= 0:
                time += f".{event.microseconds:06d}"
            letter = ("B", "A", "W", "STATE")[event.kind]
            head = self._heads[key] = (
                f"{_format_name(event.mrt_kind, has_path_id)}|{time}|{letter}|"
            )
        return head

    def encode(self, events: Sequence[Event]) -> str:
        """Lines for a batch of events, each ending in a newline."""
        lines: list[str] = []
        append = lines.append
        peers = self._peers
        tails = self._tails
        if len(tails) > _CACHE_LIMIT:
            tails.clear()
        head_for = self._head
        v6_cache = self._v6
        if len(v6_cache) > _CACHE_LIMIT:
            v6_cache.clear()
        for event in events:
            kind = event.kind
            peer = event.peer
            peer_text = peers.get(peer)
            if peer_text is None:
                ip = bgpdump_ipv6(peer.ip) if ":" in peer.ip else peer.ip
                peer_text = peers[peer] = f"{ip}|{peer.asn}|"
            if kind == EventKind.STATE:
                append(f"{head_for(event, False)}{peer_text}{event[6]}|{event[7]}\n")
                continue
            assert isinstance(event, RouteEvent)
            path_id = event.path_id
            head = head_for(event, path_id is not None)
            prefix = event.prefix
            if ":" in prefix:
                prefix = v6_cache.get(prefix) or v6_cache.setdefault(prefix, bgpdump_ipv6(prefix))
            if kind == EventKind.WITHDRAW:
                if path_id is None:
                    append(f"{head}{peer_text}{prefix}\n")
                else:
                    append(f"{head}{peer_text}{prefix}|{path_id}\n")
                continue
            attrs = event.attrs
            if attrs is None:
                continue
            key = (attrs, event.next_hop, event.mrt_kind >> 16 == C.BGP)
            tail = tails.get(key)
            if tail is None:
                tail = tails[key] = self._tail(*key)
            if path_id is None:
                append(f"{head}{peer_text}{prefix}|{tail}\n")
            else:
                append(f"{head}{peer_text}{prefix}|{path_id}|{tail}\n")
        return "".join(lines)
