"""MRT record decoding: TABLE_DUMP, TABLE_DUMP_V2, BGP4MP(_ET) and legacy BGP records.

:class:`Decoder` is stateful only in what the format requires (the PEER_INDEX_TABLE,
ADD-PATH capabilities seen in OPENs) and in bounded caches; it turns one
:class:`~mrtfeed.decode.framing.Record` into a list of events.
"""

from __future__ import annotations

import socket
import struct
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from mrtfeed.decode import constants as C
from mrtfeed.decode.addresses import (
    SLASHES,
    TRAILING_BITS,
    V4_PADS,
    ipv4,
    ipv6,
    mask_prefix,
    prefix4,
    prefix6,
)
from mrtfeed.decode.attributes import (
    AFI_IPV4,
    AFI_IPV6,
    DECODED_AFI_SAFI,
    DISCARDED_WHEN_MALFORMED,
    MalformedAttributeError,
    PathAttributes,
    decode_attributes,
    rib_attributes,
    salvage_attributes,
)
from mrtfeed.decode.errors import DecodeError, TruncatedInputError
from mrtfeed.decode.events import Event, EventKind, Flags, Peer, RouteEvent, StateEvent
from mrtfeed.decode.framing import HEADER, MAX_RECORD_LENGTH, Record
from mrtfeed.decode.lines import RibRows, RowFormat
from mrtfeed.decode.nlri import SMALL_PATH_IDS, Prefix, PrefixCache, looks_misread
from mrtfeed.decode.update_lines import UPDATE_KEYS, UpdateLines

_U16 = struct.Struct(">H").unpack_from
_ntoa = socket.inet_ntoa
_AF_INET6 = socket.AF_INET6
_pton6 = socket.inet_pton
_aton = socket.inet_aton
_from_bytes = int.from_bytes
_U32 = struct.Struct(">I").unpack_from
_RIB_V4_KEY = (C.TABLE_DUMP_V2 << 16) | C.RIB_IPV4_UNICAST
_RIB_V6_KEY = (C.TABLE_DUMP_V2 << 16) | C.RIB_IPV6_UNICAST
_RIB_UNICAST_KEYS = frozenset((_RIB_V4_KEY, _RIB_V6_KEY))
_RIB_ENTRY = struct.Struct(">HIH").unpack_from  # peer index, originated, attr length
_RIB_ENTRY_AP = struct.Struct(">HIIH").unpack_from  # ... with path id
#: By prefix size in bytes: prefix, entry count and the first entry's header.
_RIB_START = [struct.Struct(f">{size}sHHIH").unpack_from for size in range(17)]
#: TABLE_DUMP (v1) records by kind: the unpacker of the prefix, its length, the
#: originated time, the peer's address and AS as one key, the attribute length (view,
#: sequence number and status skipped); the bytes it reads; IPv6?; 4-byte ASNs?
_TD1_LAYOUTS = {
    (C.TABLE_DUMP << 16) | subtype: (
        struct.Struct(f">4x{alen}sBxI{alen + asn}sH").unpack_from,
        4 + alen + 6 + alen + asn + 2,
        alen == 16,
        asn == 4,
    )
    for subtype, alen, asn in (
        (C.TD_AFI_IPV4, 4, 2),
        (C.TD_AFI_IPV6, 16, 2),
        (C.TD_AFI_IPV4_AS4, 4, 4),
        (C.TD_AFI_IPV6_AS4, 16, 4),
    )
}
_MP_HEAD2 = struct.Struct(">HHHH").unpack_from  # peer AS, local AS, ifindex, AFI (2-byte)
_MP_HEAD4 = struct.Struct(">IIHH").unpack_from  # (4-byte)

_new = tuple.__new__
_RIB = EventKind.RIB
_ANNOUNCE = EventKind.ANNOUNCE
_WITHDRAW = EventKind.WITHDRAW
_STATE = EventKind.STATE
_NO_FLAGS = Flags.NONE
_MARKER = b"\xff" * 16
_NO_LIMIT = 1 << 32  # above any MRT length field
_NO_LAYOUTS: dict[int, Any] = {}
_BGP4MP_ET = C.BGP4MP_ET
_BGP4MP_STATE_SUBTYPES = frozenset((C.STATE_CHANGE, C.STATE_CHANGE_AS4))
#: BGP4MP subtypes that carry a BGP message: MESSAGE to MESSAGE_AS4_LOCAL_ADDPATH but
#: ENTRY and SNAPSHOT (and the state changes).
_BGP4MP_MESSAGE_SUBTYPES = (
    frozenset(range(C.MESSAGE_AS4_LOCAL_ADDPATH + 1))
    - {C.ENTRY, C.SNAPSHOT}
    - _BGP4MP_STATE_SUBTYPES
)
_BGP4MP_AS4_SUBTYPES = C.BGP4MP_AS4_SUBTYPES
_BGP4MP_ADDPATH_SUBTYPES = C.BGP4MP_ADDPATH_SUBTYPES
#: Attribute sets kept for events (emptied when full). 100,000 held 240 MB of objects
#: with the encoder's caches on updates.et-header.2015 (nearly every UPDATE with a set
#: of its own); 25,000 keeps the hits of UPDATE files and made the filtered jinx RIB
#: (80,000 sets) faster, not slower: 3.0 to 3.6 s against 4.2 to 4.4 s (less to
#: collect for the garbage collector).
_ATTR_CACHE_LIMIT = 25_000


def _bgp4mp_head(body: bytes, asn4: bool) -> tuple[int, int, int, str | None, int]:
    """Peer AS, interface index, AFI, peer address (None for an unknown AFI) and the
    offset after both addresses, from the common head of BGP4MP records."""
    if asn4:
        peer_as, _local_as, ifindex, afi = _MP_HEAD4(body, 0)
        pos = 12
    else:
        peer_as, _local_as, ifindex, afi = _MP_HEAD2(body, 0)
        pos = 8
    if afi == AFI_IPV4:
        return peer_as, ifindex, afi, ipv4(body[pos : pos + 4]), pos + 8
    if afi == AFI_IPV6:
        return peer_as, ifindex, afi, ipv6(body[pos : pos + 16]), pos + 32
    return peer_as, ifindex, afi, None, pos


#: A prefix as ``(is IPv6, network left-aligned in 32/128 bits, length)``; bits past
#: the length may be set (whoever compares shifts them out).
PrefixKey = tuple[bool, int, int]


def prefix_key(text: str) -> PrefixKey:
    """The key of a prefix in the decoder's canonical text form."""
    address, _, length = text.partition("/")
    if ":" in address:
        return True, int.from_bytes(_pton6(_AF_INET6, address), "big"), int(length)
    return False, int.from_bytes(_aton(address), "big"), int(length)


class EarlyHook(Protocol):
    """Checks a filter can answer from the peer or the prefix alone (implemented by
    :class:`mrtfeed.filter.EarlyFilter`). False means no event with this peer (prefix)
    can pass the filter, so the decoder skips it before decoding attributes; the
    filter itself still decides on every event the decoder returns."""

    checks_peer: bool
    checks_prefix: bool
    peer_may_match: Callable[[Peer], bool]
    prefix_may_match: Callable[[PrefixKey], bool]


@dataclass
class DecoderStats:
    """Counts a decoder keeps; workers return them to the parent to be summed."""

    #: Records by (MRT type << 16) | subtype; see :attr:`records` for names.
    record_kinds: Counter[int] = field(default_factory=Counter)
    bgp_messages: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)
    #: NLRI of address families kept raw (VPN, flowspec, EVPN...), by "afi/safi".
    unsupported_nlri: Counter[str] = field(default_factory=Counter)
    unsignalled_addpath: int = 0
    treat_as_withdraw: int = 0
    #: UPDATEs and distinct RIB attribute blocks with malformed attributes left out.
    attribute_discard: int = 0
    #: UPDATEs whose prefix list ends inside a prefix (prefixes before it are kept).
    truncated_nlri: int = 0
    bad_records: int = 0

    @property
    def records(self) -> Counter[str]:
        """Records by ``TYPE/SUBTYPE`` name."""
        return Counter(
            {C.record_type_name(k >> 16, k & 0xFFFF): n for k, n in self.record_kinds.items()}
        )

    def merge(self, other: DecoderStats) -> None:
        """Add another decoder's counts (e.g. a worker's) to these."""
        self.record_kinds.update(other.record_kinds)
        self.bgp_messages.update(other.bgp_messages)
        self.events.update(other.events)
        self.unsupported_nlri.update(other.unsupported_nlri)
        self.unsignalled_addpath += other.unsignalled_addpath
        self.treat_as_withdraw += other.treat_as_withdraw
        self.attribute_discard += other.attribute_discard
        self.truncated_nlri += other.truncated_nlri
        self.bad_records += other.bad_records


def _inconsistent(rtype: int, subtype: int, length: int) -> str:
    """The error of a record whose fields point past its body or hold impossible values
    (Python's own words, "unpack_from requires a buffer...", say nothing to a user)."""
    name = C.record_type_name(rtype, subtype)
    return f"{name} record body of {length} bytes is too short or inconsistent"


def _no_tail(blob: bytes, asn4: bool = True) -> None:
    """Stands in for the tail lookups of :class:`RibRows` when there are no rows
    (never called)."""
    raise AssertionError("no rows to make a tail for")


class Decoder:
    """Turn MRT records into route and state events."""

    def __init__(self) -> None:
        self.stats = DecoderStats()
        #: Bytes and records of ``data`` the last :meth:`decode_rows` walked (up to
        #: the damage when it raised, or to the unfinished record with ``partial``).
        self.consumed = self.consumed_records = 0
        self.peers: list[Peer] = []
        self._peer_intern: dict[tuple[str, int, bool], Peer] = {}
        self._attr_cache: dict[bytes, tuple[PathAttributes, str, Flags]] = {}
        #: UPDATE attributes by blob, for 2-byte (False) and 4-byte (True) sessions.
        self._update_attr_cache: tuple[dict[bytes, PathAttributes], ...] = ({}, {})
        self._prefixes = PrefixCache()
        #: Early filter checks (see :meth:`set_early_filter`); None: decode everything.
        self._peer_check: Callable[[Peer], bool] | None = None
        self._prefix_check: Callable[[PrefixKey], bool] | None = None
        #: The peer check's answer per PEER_INDEX_TABLE index, and per BGP4MP peer.
        self._peer_index_ok: list[bool] | None = None
        self._peer_ok: dict[Peer, bool] = {}
        self._handlers: dict[int, Callable[[Record], list[Event]]] = {
            C.TABLE_DUMP_V2: self._table_dump_v2,
            C.BGP4MP: self._bgp4mp,
            C.BGP4MP_ET: self._bgp4mp,
            C.TABLE_DUMP: self._table_dump,
            C.BGP: self._legacy_bgp,
        }

    # -- entry point -----------------------------------------------------------------

    def decode(self, record: Record) -> list[Event]:
        """Decode one record. Unknown types are counted and yield nothing; damaged
        records raise :class:`DecodeError` located at the record."""
        self.stats.record_kinds[(record.type << 16) | record.subtype] += 1
        try:
            return self._dispatch(record)
        except DecodeError:
            self.stats.bad_records += 1
            raise

    def decode_chunk(
        self,
        data: bytes,
        first_index: int = 0,
        first_offset: int = 0,
        skipped: list[DecodeError] | None = None,
    ) -> list[Event]:
        """Decode a buffer of whole records (a :class:`~mrtfeed.decode.framing.Chunk`).

        A damaged record raises, or, when a ``skipped`` list is given, is appended to
        it and decoding goes on.
        """
        events: list[Event] = self.decode_rows(data, None, first_index, first_offset, skipped)
        return events

    def decode_rows(
        self,
        data: bytes,
        rows: RibRows | None,
        first_index: int = 0,
        first_offset: int = 0,
        skipped: list[DecodeError] | None = None,
        *,
        partial: bool = False,
    ) -> list[Any]:
        """:meth:`decode_chunk`, encoded by an output format: its unicast RIB entries
        become output rows without events in between (see :mod:`mrtfeed.decode.lines`),
        the events of other records go through ``rows.fmt.rows_for``; ``rows`` None
        gives the events.

        ``partial``: ``data`` may end inside a record, which is left for the caller
        to complete (:attr:`consumed` says where it starts). This saves a walk over
        the record headers to cut whole records first.

        The hot path of RIB files: TABLE_DUMP_V2 unicast RIB records are decoded
        inline (no call, no body copy per record), the early peer and prefix checks
        included; a record that does not fit goes through :meth:`_rib`, which words
        the error (or decodes it, should this path have been too strict). TABLE_DUMP
        (v1) records become rows the same way, when no early filter applies. With
        ``rows.updates``, plain UPDATE records become lines the same way
        (:class:`~mrtfeed.decode.update_lines.UpdateLines`).
        """
        out: list[Any] = []
        append = out.append
        #: With ``rows``: events of records off the fast path, encoded in order.
        pending: list[Event] = []

        def flush() -> int:
            """Append the rows of the pending events to ``out`` (before rows of the
            fast paths that follow them); how many."""
            assert rows is not None
            flushed = rows.fmt.rows_for(pending)
            out.extend(flushed)
            pending.clear()
            return len(flushed)

        #: Items of ``out`` that did not come from the fast path (the rest are RIB
        #: entries, counted at the end).
        other_items = 0
        #: Rows are strings ``head + prefix + tail`` (else ``row`` builds them, or
        #: there are no rows but events).
        lines = False
        row: Callable[..., Any] | None = None
        tails_get: Callable[[bytes], Any] = _no_tail
        tail: Callable[..., Any] = _no_tail  # (blob, asn4=True)
        if rows is not None:
            rows.fmt.begin()
            row = rows.fmt.rib_row
            lines = row is None
            tails_get, tail = rows.tails.get, rows.tail
            rows.stats = self.stats
        kinds = self.stats.record_kinds
        unpack = HEADER.unpack_from
        rib = self._rib
        prefix_check = self._prefix_check
        peer_ok = self._peer_index_ok
        #: Lines of plain UPDATE records without events (no early filter to apply).
        updates = (
            rows.updates
            if rows is not None and self._peer_check is None and prefix_check is None
            else None
        )
        #: TABLE_DUMP (v1) records become rows too (no early filter to apply).
        td1_layouts = (
            _TD1_LAYOUTS
            if rows is not None and self._peer_check is None and prefix_check is None
            else _NO_LAYOUTS
        )
        #: Their heads by peer (address and AS bytes), for ``td1_for`` (kind, time).
        td1_heads: dict[bytes, Any] = {}
        td1_for = (-1, -1)
        early = prefix_check is not None or peer_ok is not None
        #: Lines and every peer wanted: a one-entry record needs no entry loop.
        plain_lines = lines and peer_ok is None
        peers = self.peers
        from_bytes = _from_bytes  # big-endian by default since Python 3.11
        cache = self._attr_cache
        rib_attrs = self._rib_attrs
        entry_header, rib_start, ntoa, trailing = _RIB_ENTRY, _RIB_START, _ntoa, TRAILING_BITS
        rib_keys, v4_pads, slashes, update_keys = _RIB_UNICAST_KEYS, V4_PADS, SLASHES, UPDATE_KEYS
        #: Where the rows of a record with several entries start (none: past the end).
        mark = _NO_LIMIT
        heads: list[Any] = []
        heads_kind = heads_time = -1  # what ``heads`` were made for; -1: remake them
        #: Records counted in ``kinds`` one by one; the fast path's are counted at the
        #: end (``kinds`` is a Counter: one increment per record cost 0.05 s per RIB).
        counted = v6_fast = 0
        #: With ``partial``, a longer record is left unfinished for the caller to refuse
        #: (as the chunk splitter does), whether or not this piece holds all of it.
        max_length = MAX_RECORD_LENGTH if partial else _NO_LIMIT
        pos = 0
        end = len(data)
        index = first_index
        try:
            while pos < end:
                if end - pos < 12:
                    if partial:
                        break
                    raise TruncatedInputError(
                        "stream ends inside an MRT header",
                        offset=first_offset + pos,
                        record_index=index,
                    )
                timestamp, rtype, subtype, length = unpack(data, pos)
                start = pos + 12
                stop = start + length
                if stop > end or length > max_length:
                    if partial:
                        break
                    raise TruncatedInputError(
                        "stream ends inside an MRT record",
                        offset=first_offset + pos,
                        record_index=index,
                    )
                key = (rtype << 16) | subtype
                if key in rib_keys:
                    if timestamp != heads_time or key != heads_kind:
                        heads_kind, heads_time = key, timestamp
                        if rows is not None:
                            if pending:
                                other_items += flush()
                            heads = rows.fmt.rib_heads(peers, key, timestamp)
                    try:
                        bits = data[start + 4]
                        v4 = key == _RIB_V4_KEY
                        if bits > (32 if v4 else 128):
                            raise DecodeError("RIB prefix length exceeds its address family")
                        size = (bits + 7) >> 3
                        # One C call for the prefix, the entry count and the first entry's
                        # header (a record too short for them fails over to ``rib``).
                        raw, count, peer_index, originated, attr_length = rib_start[size](
                            data, start + 5
                        )
                        entry = start + 7 + size
                        if entry > stop:
                            raise DecodeError("RIB prefix overruns its record")
                        if early and (
                            (
                                prefix_check is not None
                                and not prefix_check(
                                    (
                                        not v4,
                                        from_bytes(raw) << ((32 if v4 else 128) - 8 * size),
                                        bits,
                                    )
                                )
                            )
                            # Most records hold one entry: a refused peer ends the record here
                            # (as in ``_rib``, when its index lies inside the record: the
                            # unpack above may have read past a damaged one).
                            or (
                                peer_ok is not None
                                and count == 1
                                and entry + 2 <= stop
                                and not peer_ok[peer_index]
                            )
                        ):
                            if not v4:
                                v6_fast += 1
                            pos = stop
                            index += 1
                            continue
                        if v4:
                            if bits & 7 and raw[-1] & trailing[bits & 7]:
                                raw = mask_prefix(raw, bits)
                            prefix = f"{ntoa(raw + v4_pads[size])}{slashes[bits]}"
                        else:
                            prefix = prefix6(raw, bits)
                            if rows is not None:
                                prefix = rows.fmt.ipv6_prefix(prefix)
                        if count == 1 and plain_lines:
                            # The common case, without the entry loop's bookkeeping.
                            blob_stop = entry + 8 + attr_length
                            if blob_stop > stop:
                                raise DecodeError("RIB entry overruns its record")
                            blob = data[entry + 8 : blob_stop]
                            piece = tails_get(blob) or tail(blob)
                            append(f"{heads[peer_index]}{prefix}{piece}")
                            if not v4:
                                v6_fast += 1
                            pos = stop
                            index += 1
                            continue
                        # Rows this record appended go if a later entry is damaged (the
                        # one-entry path above appends last, after every check).
                        mark = len(out)
                        position = 0
                        while position < count:
                            blob_stop = entry + 8 + attr_length
                            if blob_stop > stop:  # also catches a header past the record
                                raise DecodeError("RIB entry overruns its record")
                            blob = data[entry + 8 : blob_stop]
                            if peer_ok is None or peer_ok[peer_index]:
                                if lines:
                                    piece = tails_get(blob) or tail(blob)
                                    append(f"{heads[peer_index]}{prefix}{piece}")
                                elif row is None:
                                    hit = cache.get(blob) or rib_attrs(blob, True)
                                    attrs, next_hop, flags = hit
                                    event = (_RIB, index, timestamp, -1, key, peers[peer_index])
                                    fields = (prefix, None, attrs, next_hop, originated, flags)
                                    append(_new(RouteEvent, (*event, *fields)))
                                else:
                                    piece = tails_get(blob) or tail(blob)
                                    head = heads[peer_index]
                                    append(row(head, prefix, piece, originated, index, position))
                            position += 1
                            entry = blob_stop
                            if position < count:
                                peer_index, originated, attr_length = entry_header(data, entry)
                        mark = _NO_LIMIT
                        if not v4:
                            v6_fast += 1
                        pos = stop
                        index += 1
                        continue
                    except (DecodeError, struct.error, IndexError, ValueError, OSError):
                        del out[mark:]
                        mark = _NO_LIMIT
                elif (layout := td1_layouts.get(key)) is not None:
                    assert rows is not None
                    if pending:
                        other_items += flush()
                    try:
                        unpack_td1, fixed, v6, asn4 = layout
                        raw, bits, originated, peer_key, attr_length = unpack_td1(data, start)
                        blob_stop = start + fixed + attr_length
                        if blob_stop > stop or bits > (128 if v6 else 32):
                            raise DecodeError("TABLE_DUMP record does not fit")
                        if td1_for != (key, timestamp):
                            td1_for = (key, timestamp)
                            td1_heads.clear()
                        head = td1_heads.get(peer_key)
                        if head is None:
                            head = td1_heads[peer_key] = self._td1_head(
                                rows.fmt, peer_key, key, timestamp, v6, asn4
                            )
                        blob = data[start + fixed : blob_stop]
                        if asn4:
                            piece = tails_get(blob) or tail(blob)
                        else:
                            piece = rows.tails2.get(blob) or tail(blob, False)
                        if v6:
                            prefix = rows.fmt.ipv6_prefix(f"{ipv6(raw)}{slashes[bits]}")
                        else:
                            prefix = f"{ntoa(raw)}{slashes[bits]}"
                        if lines:
                            append(f"{head}{prefix}{piece}")
                        else:
                            assert row is not None
                            append(row(head, prefix, piece, originated, index, 0))
                        kinds[key] += 1
                        counted += 1
                        pos = stop
                        index += 1
                        continue
                    except (DecodeError, struct.error, IndexError, ValueError, OSError):
                        pass  # the events path decodes it, or words the error
                elif updates is not None and key in update_keys:
                    if pending:
                        other_items += flush()
                    before = len(out)
                    after, taken = updates.run(data, pos, end, max_length, out, index)
                    if taken:
                        # The record ``run`` stopped at comes next (and goes to the
                        # events path if ``run`` refuses it again).
                        other_items += len(out) - before
                        counted += taken
                        index += taken
                        pos = after
                        continue
                kinds[key] += 1
                try:
                    if key == _RIB_V4_KEY:
                        produced = rib(data[start:stop], index, timestamp, key, False, False)
                    elif key == _RIB_V6_KEY:
                        produced = rib(data[start:stop], index, timestamp, key, True, False)
                    else:
                        body = data[start:stop]
                        record = _new(
                            Record, (index, first_offset + pos, timestamp, rtype, subtype, body)
                        )
                        produced = self._dispatch(record)
                        # A PEER_INDEX_TABLE replaces the list (and the early peer answers).
                        peers, peer_ok = self.peers, self._peer_index_ok
                        early = prefix_check is not None or peer_ok is not None
                        plain_lines = lines and peer_ok is None
                    if rows is None:
                        out.extend(produced)
                        other_items += len(produced)
                    else:
                        pending.extend(produced)
                    heads_time = -1  # the next RIB record flushes ``pending`` first
                except DecodeError as exc:
                    self.stats.bad_records += 1
                    located = exc.located(offset=first_offset + pos, record_index=index)
                    if skipped is None:
                        raise located from None
                    skipped.append(located)
                except (struct.error, IndexError, ValueError, OSError):
                    self.stats.bad_records += 1
                    located = DecodeError(
                        _inconsistent(rtype, subtype, stop - start),
                        offset=first_offset + pos,
                        record_index=index,
                    )
                    if skipped is None:
                        raise located from None
                    skipped.append(located)
                counted += 1
                pos = stop
                index += 1
        finally:
            self.consumed, self.consumed_records = pos, index - first_index
            if updates is not None:
                self._count_update_lines(updates)
            fast = index - first_index - counted
            if v6_fast:
                kinds[_RIB_V6_KEY] += v6_fast
            if fast > v6_fast:
                kinds[_RIB_V4_KEY] += fast - v6_fast
        if len(out) > other_items:
            self.stats.events["rib"] += len(out) - other_items
        if pending:
            flush()
        return out

    def _td1_head(
        self, fmt: RowFormat, peer_key: bytes, mrt_kind: int, timestamp: int, v6: bool, asn4: bool
    ) -> Any:
        """The row head of a TABLE_DUMP (v1) peer: its address and AS bytes, as the
        events path reads them."""
        size = 16 if v6 else 4
        ip = ipv6(peer_key[:size]) if v6 else ipv4(peer_key[:size])
        peer = self._peer(ip, _from_bytes(peer_key[size:]), asn4)
        return fmt.rib_heads((peer,), mrt_kind, timestamp)[0]

    def _count_update_lines(self, updates: UpdateLines) -> None:
        """Add the records :class:`UpdateLines` took to the stats, as the events path
        would have counted them."""
        records, announced, withdrawn = updates.take_counts()
        if not records:
            return
        stats = self.stats
        stats.record_kinds.update(records)
        stats.bgp_messages["UPDATE"] += sum(records.values())
        if announced:
            stats.events["announce"] += announced
        if withdrawn:
            stats.events["withdraw"] += withdrawn

    def _dispatch(self, record: Record) -> list[Event]:
        handler = self._handlers.get(record.type)
        if handler is None:
            return []
        try:
            return handler(record)
        except DecodeError as exc:
            raise exc.located(offset=record.offset, record_index=record.record_index) from None
        except (struct.error, IndexError, ValueError, OSError):
            raise DecodeError(
                _inconsistent(record.type, record.subtype, len(record.body)),
                offset=record.offset,
                record_index=record.record_index,
            ) from None

    def set_early_filter(self, hook: EarlyHook | None) -> None:
        """Skip, before decoding their attributes, the RIB entries and UPDATEs whose
        peer cannot pass a filter, and the prefixes that cannot."""
        self._peer_check = hook.peer_may_match if hook is not None and hook.checks_peer else None
        self._prefix_check = (
            hook.prefix_may_match if hook is not None and hook.checks_prefix else None
        )
        self._peer_ok = {}
        self._decide_peer_index()

    def _decide_peer_index(self) -> None:
        check = self._peer_check
        self._peer_index_ok = None if check is None else [check(p) for p in self.peers]

    def _peer_allowed(self, peer: Peer) -> bool:
        """The peer check, cached (BGP4MP peers are interned, so the dict stays small)."""
        allowed = self._peer_ok.get(peer)
        if allowed is None:
            assert self._peer_check is not None
            allowed = self._peer_ok[peer] = self._peer_check(peer)
        return allowed

    def peer_state(self) -> tuple[list[Peer], list[bool] | None]:
        """The PEER_INDEX_TABLE in force and the early filter's answers for it."""
        return self.peers, self._peer_index_ok

    def restore_peer_state(self, state: tuple[list[Peer], list[bool] | None]) -> None:
        """Put back a :meth:`peer_state`: decoding a buffer again from its start needs
        the table that was in force there, not one the buffer itself installed."""
        self.peers, self._peer_index_ok = state

    def load_peer_index(self, body: bytes | None) -> None:
        """Install a PEER_INDEX_TABLE body (workers get it with their chunks); None:
        no table in force, as at the start of a stream."""
        if body is None:
            self.peers = []
            self._decide_peer_index()
            return
        self._peer_index_table(body)

    # -- helpers ---------------------------------------------------------------------

    def _peer(self, ip: str, asn: int, asn32: bool, bgp_id: str = "") -> Peer:
        key = (ip, asn, asn32)
        peer = self._peer_intern.get(key)
        if peer is None:
            peer = self._peer_intern[key] = Peer(ip, asn, asn32, bgp_id)
        return peer

    def _update_attrs(self, blob: bytes, asn4: bool) -> PathAttributes:
        """An UPDATE's attributes, cached by their bytes: UPDATEs repeat them too (21,081
        distinct blobs in the 54,107 UPDATEs of updates.20190101.0000), and output
        formats cache their text by attribute object. Raises
        :class:`MalformedAttributeError`."""
        cache = self._update_attr_cache[asn4]
        attrs = cache.get(blob)
        if attrs is None:
            attrs = decode_attributes(blob, asn4)
            if len(cache) >= _ATTR_CACHE_LIMIT:
                cache.clear()
            cache[blob] = attrs
        return attrs

    def _salvaged_update_attrs(self, blob: bytes, asn4: bool) -> tuple[PathAttributes, Flags]:
        """RFC 7606 for UPDATE attributes that do not all decode: the well-formed ones,
        and how the routes are taken. If only attributes answered by "attribute
        discard" failed, the announcements stand without them; otherwise they are
        withdrawals (treat-as-withdraw), the MP_REACH_NLRI prefixes included, and the
        MP_UNREACH_NLRI withdrawals still count. Not cached: damage is rare."""
        attrs, malformed, whole = salvage_attributes(blob, asn4)
        if whole and DISCARDED_WHEN_MALFORMED.issuperset(malformed):
            self.stats.attribute_discard += 1
            return attrs, Flags.ATTRIBUTE_DISCARD
        self.stats.treat_as_withdraw += 1
        return attrs, Flags.TREAT_AS_WITHDRAW

    def _rib_attrs(self, blob: bytes, asn4: bool) -> tuple[PathAttributes, str, Flags]:
        """:func:`rib_attributes` and the entry's flags, cached by the attribute bytes."""
        key = blob if asn4 else b"\x00" + blob
        hit = self._attr_cache.get(key)
        if hit is not None:
            return hit
        if len(self._attr_cache) >= _ATTR_CACHE_LIMIT:
            self._attr_cache.clear()
        hit = self._attr_cache[key] = rib_attributes(blob, asn4)
        if hit[2]:
            self.stats.attribute_discard += 1
        return hit

    # -- TABLE_DUMP_V2 ---------------------------------------------------------------

    def _peer_index_table(self, body: bytes) -> None:
        name_len = _U16(body, 4)[0]
        pos = 6 + name_len
        count = _U16(body, pos)[0]
        pos += 2
        peers: list[Peer] = []
        for _ in range(count):
            peer_type = body[pos]
            bgp_id = ipv4(body[pos + 1 : pos + 5])
            pos += 5
            if peer_type & 1:
                ip = ipv6(body[pos : pos + 16])
                pos += 16
            else:
                ip = ipv4(body[pos : pos + 4])
                pos += 4
            if peer_type & 2:
                asn = _U32(body, pos)[0]
                pos += 4
            else:
                asn = _U16(body, pos)[0]
                pos += 2
            peers.append(Peer(ip, asn, bool(peer_type & 2), bgp_id))
        if pos > len(body):
            raise DecodeError("PEER_INDEX_TABLE overruns its record")
        self.peers = peers
        self._decide_peer_index()

    def _table_dump_v2(self, record: Record) -> list[Event]:
        subtype = record.subtype
        if subtype == C.PEER_INDEX_TABLE:
            self._peer_index_table(record.body)
            return []
        body, index, ts = record.body, record.record_index, record.timestamp
        kind = (record.type << 16) | subtype
        if subtype in (C.RIB_IPV4_UNICAST, C.RIB_IPV4_MULTICAST):
            return self._rib(body, index, ts, kind, False, False)
        if subtype in (C.RIB_IPV6_UNICAST, C.RIB_IPV6_MULTICAST):
            return self._rib(body, index, ts, kind, True, False)
        if subtype in (C.RIB_IPV4_UNICAST_ADDPATH, C.RIB_IPV4_MULTICAST_ADDPATH):
            return self._rib(body, index, ts, kind, False, True)
        if subtype in (C.RIB_IPV6_UNICAST_ADDPATH, C.RIB_IPV6_MULTICAST_ADDPATH):
            return self._rib(body, index, ts, kind, True, True)
        if subtype in (C.RIB_GENERIC, C.RIB_GENERIC_ADDPATH):
            return self._rib_generic(record, subtype == C.RIB_GENERIC_ADDPATH)
        return []

    def _rib(
        self, body: bytes, index: int, timestamp: int, kind: int, v6: bool, addpath: bool
    ) -> list[Event]:
        bits = body[4]
        if bits > (128 if v6 else 32):
            raise DecodeError(f"RIB prefix length {bits} exceeds the address family")
        stop = 5 + ((bits + 7) >> 3)
        if stop + 2 > len(body):
            raise DecodeError("RIB prefix overruns its record")
        check = self._prefix_check
        if check is not None:
            raw = body[5:stop]
            width = 128 if v6 else 32
            if not check((v6, _from_bytes(raw, "big") << (width - 8 * len(raw)), bits)):
                return []
        peer_ok = self._peer_index_ok
        if peer_ok is None:
            prefix = prefix6(body[5:stop], bits) if v6 else prefix4(body[5:stop], bits)
            return self._rib_entries(body, index, timestamp, kind, prefix, stop, addpath, v6)
        if _U16(body, stop)[0] == 1 and stop + 4 <= len(body):
            # Most records hold one entry: a refused peer ends the record here.
            peer_index = _U16(body, stop + 2)[0]
            if peer_index < len(peer_ok) and not peer_ok[peer_index]:
                return []
        # The prefix is formatted once an entry passes the peer check.
        return self._rib_entries(body, index, timestamp, kind, None, stop, addpath, v6)

    def _rib_generic(self, record: Record, addpath: bool) -> list[Event]:
        body = record.body
        afi = _U16(body, 4)[0]
        safi = body[6]
        if (afi, safi) not in DECODED_AFI_SAFI:
            self.stats.unsupported_nlri[f"{afi}/{safi}"] += 1
            return []
        bits = body[7]
        stop = 8 + ((bits + 7) >> 3)
        parsed = self._prefixes.parse(body[7:stop], afi == AFI_IPV6, False)
        if not parsed:
            raise DecodeError("RIB_GENERIC prefix does not fit its address family")
        prefix = parsed[0][0]
        if self._prefix_check is not None and not self._prefix_check(prefix_key(prefix)):
            return []
        kind = (record.type << 16) | record.subtype
        return self._rib_entries(
            body, record.record_index, record.timestamp, kind, prefix, stop, addpath, False
        )

    def _rib_entries(
        self,
        body: bytes,
        index: int,
        timestamp: int,
        kind: int,
        prefix: str | None,
        pos: int,
        addpath: bool,
        v6: bool,
    ) -> list[Event]:
        """The entries of a RIB record. ``prefix`` None: format it from the record's
        prefix bytes (``body[4]`` bits, then the address; ``v6`` says which family)
        when the first entry passes the early peer check."""
        prefix_end = pos
        count = _U16(body, pos)[0]
        pos += 2
        peers = self.peers
        n_peers = len(peers)
        cache = self._attr_cache
        rib_attrs = self._rib_attrs
        peer_ok = self._peer_index_ok
        events: list[Event] = []
        append = events.append
        end = len(body)
        path_id: int | None = None
        for _ in range(count):
            if addpath:
                peer_index, originated, path_id, length = _RIB_ENTRY_AP(body, pos)
                pos += 12
            else:
                peer_index, originated, length = _RIB_ENTRY(body, pos)
                pos += 8
            stop = pos + length
            if stop > end:
                raise DecodeError("RIB entry attributes overrun the record")
            if peer_index >= n_peers:
                raise DecodeError(f"RIB entry names peer {peer_index} of {n_peers}")
            if peer_ok is not None:
                if not peer_ok[peer_index]:
                    pos = stop
                    continue
                if prefix is None:
                    raw, bits = body[5:prefix_end], body[4]
                    prefix = prefix6(raw, bits) if v6 else prefix4(raw, bits)
            blob = body[pos:stop]
            hit = cache.get(blob)
            attrs, next_hop, flags = rib_attrs(blob, True) if hit is None else hit
            pos = stop
            append(
                _new(
                    RouteEvent,
                    (
                        _RIB,
                        index,
                        timestamp,
                        -1,
                        kind,
                        peers[peer_index],
                        prefix,
                        path_id,
                        attrs,
                        next_hop,
                        originated,
                        flags,
                    ),
                )
            )
        self.stats.events["rib"] += len(events)
        return events

    # -- TABLE_DUMP (v1) -------------------------------------------------------------

    def _table_dump(self, record: Record) -> list[Event]:
        subtype = record.subtype
        if subtype not in (C.TD_AFI_IPV4, C.TD_AFI_IPV6, C.TD_AFI_IPV4_AS4, C.TD_AFI_IPV6_AS4):
            return []
        v6 = subtype in (C.TD_AFI_IPV6, C.TD_AFI_IPV6_AS4)
        asn4 = subtype in (C.TD_AFI_IPV4_AS4, C.TD_AFI_IPV6_AS4)
        body = record.body
        alen = 16 if v6 else 4
        pos = 4
        raw_prefix = body[pos : pos + alen]
        bits = body[pos + alen]
        pos += alen + 2  # prefix, length, status
        originated = _U32(body, pos)[0]
        pos += 4
        peer_ip = ipv6(body[pos : pos + 16]) if v6 else ipv4(body[pos : pos + 4])
        pos += alen
        if asn4:
            peer_as = _U32(body, pos)[0]
            pos += 4
        else:
            peer_as = _U16(body, pos)[0]
            pos += 2
        length = _U16(body, pos)[0]
        pos += 2
        if pos + length > len(body):
            raise DecodeError("TABLE_DUMP attributes overrun the record")
        if bits > alen * 8:
            raise DecodeError(f"TABLE_DUMP prefix length {bits} exceeds the address family")
        prefix = f"{ipv6(raw_prefix) if v6 else ipv4(raw_prefix)}/{bits}"
        peer = self._peer(peer_ip, peer_as, asn4)
        if (self._peer_check is not None and not self._peer_allowed(peer)) or (
            self._prefix_check is not None and not self._prefix_check(prefix_key(prefix))
        ):
            return []
        attrs, next_hop, flags = self._rib_attrs(body[pos : pos + length], asn4)
        self.stats.events["rib"] += 1
        return [
            RouteEvent(
                _RIB,
                record.record_index,
                record.timestamp,
                -1,
                (C.TABLE_DUMP << 16) | subtype,
                peer,
                prefix,
                None,
                attrs,
                next_hop,
                originated,
                flags,
            )
        ]

    # -- BGP4MP / BGP4MP_ET ----------------------------------------------------------

    def _bgp4mp(self, record: Record) -> list[Event]:
        _, _, _, rtype, subtype, body = record
        micro = -1
        if rtype == _BGP4MP_ET:
            micro = _U32(body, 0)[0]
            body = body[4:]
        if subtype not in _BGP4MP_MESSAGE_SUBTYPES:
            if subtype in _BGP4MP_STATE_SUBTYPES:
                return self._state_change(record, body, micro, subtype == C.STATE_CHANGE_AS4)
            return []
        asn4 = subtype in _BGP4MP_AS4_SUBTYPES
        peer_as, ifindex, afi, peer_ip, pos = _bgp4mp_head(body, asn4)
        if peer_ip is None:
            if afi == 0xFFFF and ifindex == 0xFFFF:
                # Old Zebra wrote OPENs without addresses; the marker starts 4 bytes early.
                self.stats.bgp_messages["OPEN"] += 1
                return []
            raise DecodeError(f"BGP4MP message with unknown address family {afi}")
        peer = self._peer(peer_ip, peer_as, asn4)
        kind = (rtype << 16) | subtype
        return self._bgp_message(
            record, body, pos, peer, asn4, subtype in _BGP4MP_ADDPATH_SUBTYPES, micro, kind
        )

    def _state_change(self, record: Record, body: bytes, micro: int, asn4: bool) -> list[Event]:
        kind = (record.type << 16) | record.subtype
        if not asn4 and len(body) == 8:
            # Zebra bug (bgpdump: "8-byte state change"): no ifindex, AFI or addresses.
            peer_as = _U16(body, 0)[0]
            old, new = _U16(body, 4)[0], _U16(body, 6)[0]
            peer = self._peer("0.0.0.0", peer_as, False)
        else:
            peer_as, _, afi, peer_ip, pos = _bgp4mp_head(body, asn4)
            if peer_ip is None:
                raise DecodeError(f"STATE_CHANGE with unknown address family {afi}")
            if pos + 4 > len(body):
                raise DecodeError("STATE_CHANGE shorter than its fields")
            old, new = _U16(body, pos)[0], _U16(body, pos + 2)[0]
            peer = self._peer(peer_ip, peer_as, asn4)
        self.stats.events["peer_state"] += 1
        return [
            StateEvent(_STATE, record.record_index, record.timestamp, micro, kind, peer, old, new)
        ]

    def _bgp_message(
        self,
        record: Record,
        body: bytes,
        pos: int,
        peer: Peer,
        asn4: bool,
        addpath: bool,
        micro: int,
        kind: int,
    ) -> list[Event]:
        if body[pos : pos + 16] != _MARKER:
            raise DecodeError("BGP message without its all-ones marker")
        length = _U16(body, pos + 16)[0]
        msg_type = body[pos + 18]
        end = pos + length
        if length < 19 or end > len(body):
            raise DecodeError(
                f"BGP message length {length} does not fit the record ({len(body) - pos} bytes)"
            )
        self.stats.bgp_messages[C.MSG_NAMES.get(msg_type) or f"TYPE_{msg_type}"] += 1
        if msg_type == C.MSG_UPDATE:
            return self._update(record, body[pos + 19 : end], peer, asn4, addpath, micro, kind)
        return []

    def _update(
        self,
        record: Record,
        msg: bytes,
        peer: Peer,
        asn4: bool,
        addpath: bool,
        micro: int,
        kind: int,
    ) -> list[Event]:
        """Decode an UPDATE body (after the 19-byte header) into events, in bgpdump's
        order: withdrawals (NLRI, then MP_UNREACH), then announcements."""
        if len(msg) < 4:
            raise DecodeError("UPDATE shorter than its length fields")
        wlen = _U16(msg, 0)[0]
        if 2 + wlen + 2 > len(msg):
            raise DecodeError(f"UPDATE withdrawn-routes length {wlen} overruns the message")
        withdrawn = msg[2 : 2 + wlen]
        alen = _U16(msg, 2 + wlen)[0]
        attr_start = 4 + wlen
        if attr_start + alen > len(msg):
            raise DecodeError(f"UPDATE attribute length {alen} overruns the message")
        if self._peer_check is not None and not self._peer_allowed(peer):
            return []
        nlri = msg[attr_start + alen :]
        flags = _NO_FLAGS
        attrs: PathAttributes | None = None
        withdrawing = False
        if alen:
            blob = msg[attr_start : attr_start + alen]
            try:
                attrs = self._update_attrs(blob, asn4)
            except MalformedAttributeError:
                attrs, flags = self._salvaged_update_attrs(blob, asn4)
                withdrawing = flags == Flags.TREAT_AS_WITHDRAW
        sections: list[tuple[bool, bytes, bool, str]] = []  # (is_withdraw, nlri, v6, next hop)
        if withdrawn:
            sections.append((True, withdrawn, False, ""))
        if attrs is not None:
            unreach = attrs.mp_unreach
            if unreach is not None and unreach.nlri:
                if (unreach.afi, unreach.safi) in DECODED_AFI_SAFI:
                    sections.append((True, unreach.nlri, unreach.afi == AFI_IPV6, ""))
                else:
                    self.stats.unsupported_nlri[f"{unreach.afi}/{unreach.safi}"] += 1
        if nlri:
            next_hop = (attrs.next_hop or "") if attrs is not None and not withdrawing else ""
            sections.append((withdrawing, nlri, False, next_hop))
        if attrs is not None:
            reach = attrs.mp_reach
            if reach is not None and reach.nlri:
                if (reach.afi, reach.safi) in DECODED_AFI_SAFI:
                    next_hop = "" if withdrawing else reach.next_hop
                    sections.append((withdrawing, reach.nlri, reach.afi == AFI_IPV6, next_hop))
                else:
                    self.stats.unsupported_nlri[f"{reach.afi}/{reach.safi}"] += 1
        if not sections:
            return []
        decoded, flags = self._decode_sections(sections, addpath, flags)
        index = record.record_index
        timestamp = record.timestamp
        events: list[Event] = []
        append = events.append
        counts = self.stats.events
        prefix_check = self._prefix_check
        for (is_withdraw, _, _, next_hop), prefixes in zip(sections, decoded, strict=True):
            kind_of_event, event_attrs = (_WITHDRAW, None) if is_withdraw else (_ANNOUNCE, attrs)
            before = len(events)
            for text, path_id in prefixes:
                if prefix_check is not None and not prefix_check(prefix_key(text)):
                    continue
                append(
                    _new(
                        RouteEvent,
                        (
                            kind_of_event,
                            index,
                            timestamp,
                            micro,
                            kind,
                            peer,
                            text,
                            path_id,
                            event_attrs,
                            next_hop,
                            0,
                            flags,
                        ),
                    )
                )
            counts["withdraw" if is_withdraw else "announce"] += len(events) - before
        return events

    def _decode_sections(
        self, sections: list[tuple[bool, bytes, bool, str]], addpath: bool, flags: Flags
    ) -> tuple[list[list[Prefix]], Flags]:
        """Read every prefix list with the signalled ADD-PATH mode. When that fails, or
        looks like path ids read as prefixes, and the other reading fits, take it and
        flag the events (RIPE-NCC/bgpdump#9). When neither fits, keep the prefixes
        before the damage and flag the events as from a truncated NLRI."""
        parse = self._prefixes.parse
        # The common case in one pass: every list reads with the signalled mode and
        # none looks misread (no generators: this runs for every UPDATE).
        plain: list[list[Prefix]] = []
        suspicious = False
        for _, data, v6, _ in sections:
            prefixes = parse(data, v6, addpath)
            if prefixes is None:
                break
            if not addpath and looks_misread(data):
                suspicious = True
            plain.append(prefixes)
        plain_ok = len(plain) == len(sections)
        if plain_ok and not suspicious:
            return plain, flags
        if not addpath:
            read = [parse(data, v6, True) for _, data, v6, _ in sections]
            alternative = [p for p in read if p is not None]
            # Taken only with small path ids throughout: prefixes read as path ids are
            # 2**24 or more (a prefix length in the first byte), and a damaged plain list
            # (NLRI cut inside a prefix) otherwise fits by chance in 1 to 5 % of cases.
            if len(alternative) == len(sections) and all(
                pid < SMALL_PATH_IDS for p in alternative for _, pid in p if pid is not None
            ):
                self.stats.unsignalled_addpath += 1
                return alternative, flags | Flags.UNSIGNALLED_ADDPATH
            if plain_ok:
                return plain, flags
        self.stats.truncated_nlri += 1
        salvaged = [
            self._prefixes.parse_prefix_of(data, v6, addpath) for _, data, v6, _ in sections
        ]
        return salvaged, flags | Flags.NLRI_TRUNCATED

    # -- legacy BGP (type 5) ---------------------------------------------------------

    def _legacy_bgp(self, record: Record) -> list[Event]:
        body = record.body
        subtype = record.subtype
        kind = (C.BGP << 16) | subtype
        if subtype == C.BGP_STATE_CHANGE:
            peer_as = _U16(body, 0)[0]
            peer = self._peer(ipv4(body[2:6]), peer_as, False)
            old, new = _U16(body, 6)[0], _U16(body, 8)[0]
            self.stats.events["peer_state"] += 1
            return [
                StateEvent(_STATE, record.record_index, record.timestamp, -1, kind, peer, old, new)
            ]
        name = {
            C.BGP_UPDATE: "UPDATE",
            C.BGP_OPEN: "OPEN",
            C.BGP_NOTIFY: "NOTIFICATION",
            C.BGP_KEEPALIVE: "KEEPALIVE",
        }.get(subtype)
        if name is None:
            return []
        self.stats.bgp_messages[name] += 1
        if subtype != C.BGP_UPDATE:
            return []
        peer = self._peer(ipv4(body[2:6]), _U16(body, 0)[0], False)
        return self._update(record, body[12:], peer, False, False, -1, kind)
