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

from mrtfeed.decode import attributes as A
from mrtfeed.decode import constants as C
from mrtfeed.decode.addresses import ipv6
from mrtfeed.decode.attributes import (
    MalformedAttributeError,
    PathAttributes,
    as_path_segments,
    format_as_path,
)
from mrtfeed.decode.events import Event, EventKind, Peer, RouteEvent, StateEvent

_ORIGINS = ("IGP", "EGP")
_WELL_KNOWN = {0xFFFFFF01: "no-export", 0xFFFFFF02: "no-advertise", 0xFFFFFF03: "local-AS"}
#: bgpdump's attribute defaults print as INADDR_NONE when NEXT_HOP is absent.
_NO_NEXT_HOP = "255.255.255.255"
_CACHE_LIMIT = 100_000
_LETTERS = ("B", "A", "W", "STATE")
_RIB, _WITHDRAW, _STATE = EventKind.RIB, EventKind.WITHDRAW, EventKind.STATE
_ZERO10 = bytes(10)
_ONE4 = b"\0\0\0\1"
_U16 = struct.Struct(">H").unpack_from
_U32 = struct.Struct(">I").unpack_from
_ntoa = socket.inet_ntoa
#: Unpackers of 0 to 255 four-byte ASNs (an AS path segment's count is one byte).
_ASN_SEQUENCES = [struct.Struct(f">{count}I").unpack_from for count in range(256)]


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
        #: RIB events: the next hop is a function of the attributes, so they are the key.
        self._rib_tails: dict[PathAttributes, str] = {}
        self._tails: dict[tuple[PathAttributes, str, bool], str] = {}
        self._peers: dict[Peer, str] = {}
        self._v6: dict[str, str] = {}
        #: :meth:`rib_blob_tail`'s pieces by attribute value (AS paths are not cached:
        #: 90 % of a RIB's distinct blobs have a distinct path).
        self._community_texts: dict[bytes, str] = {}
        self._mp_next_hops: dict[bytes, str] = {}
        #: The empty large-communities column of ``-m -l`` lines.
        self._large_gap = "|" if large_communities else ""

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

    def _head(self, mrt_kind: int, kind: int, timestamp: int, micro: int, has_id: bool) -> str:
        time = str(timestamp)
        if micro >= 0:
            time += f".{micro:06d}"
        return f"{_format_name(mrt_kind, has_id)}|{time}|{_LETTERS[kind]}|"

    def _peer_text(self, peer: Peer) -> str:
        text = self._peers.get(peer)
        if text is None:
            ip = bgpdump_ipv6(peer.ip) if ":" in peer.ip else peer.ip
            text = self._peers[peer] = f"{ip}|{peer.asn}|"
        return text

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

    def rib_tail(self, attrs: PathAttributes, next_hop: str) -> str:
        return f"|{self._tail(attrs, next_hop, False)}\n"

    def rib_blob_tail(self, blob: bytes) -> str | None:
        """:meth:`rib_tail` straight from a TABLE_DUMP_V2 attribute blob, for the blobs
        RIBs are made of: ORIGIN, AS_PATH, NEXT_HOP, MED, LOCAL_PREF, ATOMIC_AGGREGATE,
        AGGREGATOR, COMMUNITIES and the abbreviated IPv6 MP_REACH_NLRI, each once.

        None for anything else (another attribute, a repeat, a length that does not
        fit): the full decoder then words the error or decodes the rare case. Skipping
        :class:`PathAttributes` halves the cost of a distinct blob, and a RIB has one
        for every six entries (80,000 in the jinx RIB).
        """
        if len(self._community_texts) > _CACHE_LIMIT:
            self._community_texts.clear()
            self._mp_next_hops.clear()
        path = comms = aggregator = next_hop = mp_next_hop = ""
        origin = "INCOMPLETE"
        aggregate = "NAG"
        med = lp = 0
        seen = 0
        pos = 0
        end = len(blob)
        while pos < end:
            if end - pos < 3:
                return None
            code = blob[pos + 1]
            if blob[pos] & 0x10:  # extended length
                if end - pos < 4:
                    return None
                length = (blob[pos + 2] << 8) | blob[pos + 3]
                pos += 4
            else:
                length = blob[pos + 2]
                pos += 3
            stop = pos + length
            if stop > end or code > A.MP_REACH_NLRI or (seen >> code) & 1:
                return None
            seen |= 1 << code
            if code == A.AS_PATH:
                if length > 1 and length == 4 * blob[pos + 1] + 2 and blob[pos] == A.AS_SEQUENCE:
                    # The common case, one AS_SEQUENCE: one C call for the ASNs.
                    path = " ".join(map(str, _ASN_SEQUENCES[blob[pos + 1]](blob, pos + 2)))
                elif length:
                    try:
                        path = format_as_path(as_path_segments(blob[pos:stop], 4))
                    except MalformedAttributeError:
                        return None
            elif code == A.NEXT_HOP:
                if length != 4:
                    return None
                next_hop = _ntoa(blob[pos:stop])
            elif code == A.ORIGIN:
                if length != 1:
                    return None
                value_byte = blob[pos]
                origin = _ORIGINS[value_byte] if value_byte < 2 else "INCOMPLETE"
            elif code == A.AGGREGATOR:
                if length == 8:
                    aggregator = f"{_U32(blob, pos)[0]} {_ntoa(blob[pos + 4 : stop])}"
                elif length == 6:
                    aggregator = f"{_U16(blob, pos)[0]} {_ntoa(blob[pos + 2 : stop])}"
                else:
                    return None
            elif code == A.ATOMIC_AGGREGATE:
                aggregate = "AG"
            elif code == A.MULTI_EXIT_DISC or code == A.LOCAL_PREF:
                if length != 4:
                    return None
                if code == A.LOCAL_PREF:
                    lp = _U32(blob, pos)[0]
                else:
                    med = _U32(blob, pos)[0]
            elif code == A.COMMUNITIES:
                if length & 3:
                    return None
                value = blob[pos:stop]
                text = self._community_texts.get(value)
                if text is None:
                    words = struct.unpack(f">{length >> 2}I", value)
                    text = self._community_texts[value] = " ".join(map(community_text, words))
                comms = text
            elif code == A.MP_REACH_NLRI:
                # RFC 6396 §4.3.4's abbreviated form with an IPv6 next hop (and maybe a
                # link-local one, which bgpdump does not print).
                hop_length = blob[pos] if length else 0
                if hop_length not in (16, 32) or hop_length >= length:
                    return None
                value = blob[pos + 1 : pos + 17]
                text = self._mp_next_hops.get(value)
                if text is None:
                    text = self._mp_next_hops[value] = bgpdump_ipv6(ipv6(value))
                mp_next_hop = text
            else:
                return None
            pos = stop
        return (
            f"|{path}|{origin}|{mp_next_hop or next_hop or _NO_NEXT_HOP}|{lp}|{med}|{comms}|"
            f"{self._large_gap}{aggregate}|{aggregator}|\n"
        )

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
            if (
                last is None
                or timestamp != last[0]
                or mrt_kind != last[1]
                or kind != last[2]
                or has_id != last[4]
                or micro != last[3]
            ):
                last = (timestamp, mrt_kind, kind, micro, has_id)
                head = make_head(mrt_kind, kind, timestamp, micro, has_id)
            if ":" in prefix:
                text = v6_cache.get(prefix)
                if text is None:
                    text = v6_cache[prefix] = bgpdump_ipv6(prefix)
                prefix = text
            if kind == _WITHDRAW:
                if has_id:
                    append(f"{head}{peer_text}{prefix}|{path_id}\n")
                else:
                    append(f"{head}{peer_text}{prefix}\n")
                continue
            if attrs is None:
                continue
            if kind == _RIB:
                tail = rib_tails.get(attrs)
                if tail is None:
                    tail = rib_tails[attrs] = self._tail(attrs, next_hop, False)
            else:
                key = (attrs, next_hop, mrt_kind >> 16 == C.BGP)
                tail = tails.get(key)
                if tail is None:
                    tail = tails[key] = self._tail(*key)
            if has_id:
                append(f"{head}{peer_text}{prefix}|{path_id}|{tail}\n")
            else:
                append(f"{head}{peer_text}{prefix}|{tail}\n")
        return "".join(lines)
