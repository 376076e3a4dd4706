"""Output rows (bgpdump lines, JSON events, bgpscanner lines) straight from BGP4MP
UPDATE records, without events.

An UPDATE file is mostly plain BGP4MP MESSAGE(_AS4) records holding one UPDATE each
(54,107 of the 54,514 records of updates.20190101.0000; legacy BGP UPDATE records in
the files of 1999 and 2000, taken here too), whose attribute blobs repeat
(21,081 distinct). Through events, each UPDATE costs a Record, a list of sections,
a RouteEvent per prefix and the encoder's work on them: about 18 µs, where bgpdump
needs 8.5 µs. Here a record becomes its lines from cached pieces: a head per (record
kind, time), a peer column per (address, AS), a tail per attribute blob, the texts of
a prefix list (and of each IPv6 prefix), with one string per prefix list.

JSON events (``mrtfeed parse --format json``, the service's messages) take the same
road with a row per prefix (:meth:`~mrtfeed.encode.event.EventRows.update_rows`),
bgpscanner lines with a row per prefix list
(:meth:`~mrtfeed.encode.bgpscanner.BgpscannerEncoder.update_rows`). Their blobs are
scanned the same way, but a scan for JSON may not skip the
attributes the schema shows (ORIGINATOR_ID, CLUSTER_LIST, extended communities, OTC:
blobs with them are decoded). updates.20190101.0000 as JSON lines took 1.86 s through
events, 1.27 s with blobs decoded, 1.12 s scanned (bgpdump: 0.61 s).

Only the plain case is taken: anything else (other BGP messages, attributes that do
not decode, ADD-PATH, prefix lists that do not read exactly or look like un-signalled
ADD-PATH, address families kept raw) ends a run of records, and the caller decodes
that record into events as before, which also words its errors. The lines equal those
of the events path (tests compare both on every shared file and in the fuzz tests).
Still sans-I/O: bytes in, lines out.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable
from typing import Any, Protocol

from mrtfeed.decode import constants as C
from mrtfeed.decode.addresses import prefix4_texts, prefix6
from mrtfeed.decode.attributes import (
    AFI_IPV4,
    AFI_IPV6,
    DECODED_AFI_SAFI,
    MpReach,
    MpUnreach,
    PathAttributes,
    RibBlob,
    decode_attributes,
    pathless_key,
    scan_rib_blob,
)
from mrtfeed.decode.errors import DecodeError
from mrtfeed.decode.framing import HEADER
from mrtfeed.decode.nlri import looks_misread

_U16 = struct.Struct(">H").unpack_from
_U32 = struct.Struct(">I").unpack_from
#: BGP4MP_MESSAGE(_AS4) from the peer AS to the UPDATE's withdrawn-routes length:
#: peer AS, AFI, peer address, BGP marker, message length and type, by (4-byte ASNs?)
#: then (IPv6?); and the bytes before the marker.
_FIXED = tuple(
    tuple(struct.Struct(f">{asn}2xH{size}s{size}x16sHBH").unpack_from for size in (4, 16))
    for asn in ("H2x", "I4x")
)
_BEFORE_MARKER = ((16, 40), (20, 44))
#: Legacy BGP (type 5) UPDATE: peer AS and address, local AS and address, then the
#: UPDATE without its 19-byte header, read up to its withdrawn-routes length.
_LEGACY = struct.Struct(">H4s6xH").unpack_from
#: The attribute-blob caches: by session ASN width, and for legacy BGP's lines.
_TWO_BYTE, _FOUR_BYTE, _LEGACY_BGP = 0, 1, 2
_NL = "\n"
#: No prefixes (a shared empty list, never changed).
_NO_TEXTS: list[str] = []
_MARKER = b"\xff" * 16
#: The header of an ORIGINATOR_ID (optional, 4 bytes), which route reflectors add to
#: every path: a scan that may not skip it (JSON) declines such blobs, so they go
#: straight to the decoder instead of paying for the key and the scan first (these
#: bytes elsewhere in a blob only cost it the scan).
_ORIGINATOR_ID_HEAD = b"\x80\x09\x04"
_BGP, _ET, _AS4, _UPDATE = C.BGP, C.BGP4MP_ET, C.MESSAGE_AS4, C.MSG_UPDATE
_CACHE_LIMIT = 100_000
#: Prefix lists kept: their texts outlive the per-prefix cache, and a file of
#: full-table dumps (updates.et-header.2015: 89,669 distinct lists of 6.4 prefixes on
#: average) held 58 MB more with the limit above.
_LIST_CACHE_LIMIT = 10_000
#: And the prefixes in them: lists of 1,000 prefixes (or 10,000 in an RFC 8654
#: message) made 10,000 lists hold 600 MB (a review's file of 6,000 such UPDATEs).
_LIST_PREFIX_LIMIT = 300_000
_ntoa = socket.inet_ntoa
_AF_INET6 = socket.AF_INET6
_ntop = socket.inet_ntop

#: The record kinds taken here: plain (no ADD-PATH, not LOCAL) messages, with and
#: without microseconds, and legacy BGP UPDATEs.
UPDATE_KEYS = frozenset(
    [
        *(
            (rtype << 16) | subtype
            for rtype in (C.BGP4MP, C.BGP4MP_ET)
            for subtype in (C.MESSAGE, C.MESSAGE_AS4)
        ),
        (C.BGP << 16) | C.BGP_UPDATE,
    ]
)
#: What an attribute blob contributes: the tail of its NLRI announcements, then the
#: prefix texts of its MP_UNREACH and those of its MP_REACH with their tail, if any.
_BlobLines = tuple[Any | None, list[str] | None, tuple[list[str], Any] | None]
#: A blob this path leaves to the events path (malformed, or NLRI kept raw).
_SLOW: _BlobLines = (None, None, None)
#: What the blobs of one :func:`pathless_key` share, in :data:`_BlobLines`' order: the
#: NLRI tail without an AS path, the MP_UNREACH prefix texts, and whether the MP_REACH
#: prefixes are IPv6 with their tail without an AS path (each blob reads its own).
_PathlessLines = tuple[Any | None, list[str] | None, tuple[bool, Any] | None]
#: Blobs of a key this path leaves to the events path (as :data:`_SLOW`).
_SLOW_PATHLESS: _PathlessLines = (None, None, None)


class UpdateRowWriter(Protocol):
    """Appends the rows of one UPDATE record to ``out``, for the formats other than
    bgpdump lines (JSON events, bgpscanner lines): the withdrawn prefixes (MP_UNREACH's
    included), then the NLRI announcements with their tail, then MP_REACH's (texts,
    tail), with the record's heads and peer column as the format made them."""

    def __call__(
        self,
        out: list[Any],
        record_index: int,
        heads: Any,
        peer: Any,
        withdrawn: list[str],
        nlri: list[str],
        nlri_tail: Any,
        reach: tuple[list[str], Any] | None,
    ) -> None: ...


class ScannedTails(Protocol):
    """Announcement tails from blobs as :func:`scan_rib_blob` reads them, without
    :class:`PathAttributes`: one blob per :func:`pathless_key` is scanned, with its AS
    path left out, and each blob's path is put in afterwards."""

    @property
    def scan_lines(self) -> bool:
        """The scan may skip ORIGINATOR_ID, CLUSTER_LIST, extended communities and
        OTC, which the format does not show (bgpdump lines)."""
        ...

    def scanned_tail(self, scanned: RibBlob, next_hop: str) -> Any:
        """What :meth:`path_tail` completes into :meth:`UpdateLineFormat.update_tail`,
        from a scanned blob whose AS path is left out."""
        ...

    def path_tail(self, asns: tuple[int, ...], pathless_tail: Any) -> Any:
        """:meth:`scanned_tail` of a blob whose AS path is one AS_SEQUENCE of
        ``asns``, from the tail made for the blob without it."""
        ...


class UpdateLineFormat(Protocol):
    """The pieces of an UPDATE's rows (implemented by
    :class:`~mrtfeed.encode.bgpdump.BgpdumpEncoder`,
    :class:`~mrtfeed.encode.event.EventRows` for JSON events and
    :class:`~mrtfeed.encode.bgpscanner.BgpscannerEncoder`)."""

    @property
    def update_rows(self) -> UpdateRowWriter | None:
        """Writes a record's rows from the pieces below; None: bgpdump lines, which
        :meth:`UpdateLines.run` joins itself (one string per prefix list)."""
        ...

    @property
    def scanned_tails(self) -> ScannedTails | None:
        """The format's tails from scanned blobs; None: every blob is decoded into
        :class:`PathAttributes` for :meth:`update_tail`."""
        ...

    def update_heads(self, mrt_kind: int, timestamp: int, micro: int) -> Any:
        """What a record's rows start with, per record kind and time (for lines:
        the starts of announcements and withdrawals, up to the peer)."""
        ...

    def peer_column(self, ip: str, asn: int) -> Any:
        """The peer's part of a row (for lines: its columns, ending in a separator)."""
        ...

    def update_tail(self, attrs: PathAttributes, next_hop: str) -> Any:
        """The row after the prefix of an announcement."""
        ...

    def legacy_tail(self, attrs: PathAttributes, next_hop: str) -> Any:
        """:meth:`update_tail` for a legacy BGP (type 5) UPDATE."""
        ...

    def ipv6_prefix(self, prefix: str) -> str:
        """The format's spelling of an IPv6 prefix given in RFC 5952 form."""
        ...


class UpdateLines:
    """Lines of plain UPDATE records, with the caches that make them cheap; counts
    what it took, for the decoder's stats (:meth:`take_counts`)."""

    def __init__(self, fmt: UpdateLineFormat) -> None:
        self.fmt = fmt
        #: Attribute blob -> its contribution, for 2-byte and 4-byte sessions and for
        #: legacy BGP (by ``_TWO_BYTE`` ...).
        self._blobs: tuple[dict[bytes, _BlobLines], ...] = ({}, {}, {})
        #: By :func:`pathless_key`, for 2-byte and 4-byte sessions (None where
        #: :func:`scan_rib_blob` declines such blobs).
        self._pathless: tuple[dict[bytes, _PathlessLines | None], ...] = ({}, {})
        self._peers: dict[bytes, tuple[int, Any]] = {}
        #: Tails from scanned blobs (None: every blob decodes into PathAttributes).
        self._scanner = fmt.scanned_tails
        #: IPv6 prefix bytes (length byte included) -> text.
        self._v6: dict[bytes, str] = {}
        #: A whole prefix list (withdrawn routes, NLRI, MP sections) -> its texts,
        #: for IPv4 (False) and IPv6: the same bytes read differently in each.
        self._lists: tuple[dict[bytes, list[str]], dict[bytes, list[str]]] = ({}, {})
        #: Prefixes in ``_lists`` (IPv4, IPv6).
        self._listed = [0, 0]
        self.records: dict[int, int] = dict.fromkeys(UPDATE_KEYS, 0)
        self.announced = self.withdrawn = 0

    def take_counts(self) -> tuple[dict[int, int], int, int]:
        """Records by kind, announcements and withdrawals since the last call."""
        counts = ({k: n for k, n in self.records.items() if n}, self.announced, self.withdrawn)
        self.records = dict.fromkeys(UPDATE_KEYS, 0)
        self.announced = self.withdrawn = 0
        return counts

    def run(
        self, data: bytes, pos: int, end: int, max_length: int, out: list[Any], index: int
    ) -> tuple[int, int]:
        """Append the rows of the UPDATE records from ``data[pos]`` (record ``index``)
        on to ``out``, up to the first record not taken here: another kind, not the
        plain case, or one that does not fit in ``data`` or is longer than
        ``max_length`` (the caller words those). Returns where that record starts and
        how many records were taken.

        An UPDATE file is one long run of such records: the loop lives here, not in
        the decoder, so a record costs no call once its attribute set and prefix
        lists were seen (with warm caches, the 54,107 UPDATEs of updates.20190101.0000
        took 0.20 s instead of 0.32 s with a call per record). Every read of a record
        comes before its first append, so one not taken leaves ``out`` as it was."""
        header, u16, u32 = HEADER.unpack_from, _U16, _U32
        fixed, before_marker, update_keys = _FIXED, _BEFORE_MARKER, UPDATE_KEYS
        blobs, v4_lists, peers = self._blobs, self._lists[False], self._peers
        records = self.records
        update_heads = self.fmt.update_heads
        write_rows = self.fmt.update_rows
        #: What the heads were made for: record kind, time, microseconds (-2: nothing yet).
        heads_key = heads_time = heads_micro = -2
        heads: Any = None
        announce_head = withdraw_head = ""
        taken = announced = withdrawn_count = 0
        append = out.append
        while end - pos >= 12:
            timestamp, rtype, subtype, length = header(data, pos)
            start = pos + 12
            stop = start + length
            key = (rtype << 16) | subtype
            if stop > end or length > max_length or key not in update_keys:
                break
            try:
                micro = -1
                if rtype == _BGP:
                    if length < 16:
                        break
                    peer_as, ip, wlength = _LEGACY(data, start)
                    wstart = start + 14
                    message_end = stop
                    blob_kind = _LEGACY_BGP
                else:
                    if rtype == _ET:
                        micro = u32(data, start)[0]
                        start += 4
                    # The BGP4MP head and the UPDATE's fixed part in one C call, read as
                    # IPv4 first (most sessions); the fields lie inside the record once
                    # ``message_end <= stop``.
                    asn4 = subtype == _AS4
                    peer_as, afi, ip, marker, length, msg_type, wlength = fixed[asn4][0](
                        data, start
                    )
                    if afi == AFI_IPV4:
                        start += before_marker[asn4][0]
                    elif afi == AFI_IPV6:
                        peer_as, afi, ip, marker, length, msg_type, wlength = fixed[asn4][1](
                            data, start
                        )
                        start += before_marker[asn4][1]
                    else:
                        break
                    message_end = start + length
                    if (
                        marker != _MARKER
                        or msg_type != _UPDATE
                        or length < 23
                        or message_end > stop
                    ):
                        break
                    wstart = start + 21
                    blob_kind = _FOUR_BYTE if asn4 else _TWO_BYTE
                # The UPDATE: withdrawn routes, attributes, NLRI (the first and last are
                # IPv4 prefixes whatever the session's address family).
                wend = wstart + wlength
                if wend + 2 > message_end:
                    break
                astart = wend + 2
                aend = astart + u16(data, wend)[0]
                if aend > message_end:
                    break
                withdrawn: list[str] | None = _NO_TEXTS
                if wend > wstart:
                    withdrawn = v4_lists.get(data[wstart:wend]) or self._prefixes(
                        data, wstart, wend, False
                    )
                nlri: list[str] | None = _NO_TEXTS
                if message_end > aend:
                    nlri = v4_lists.get(data[aend:message_end]) or self._prefixes(
                        data, aend, message_end, False
                    )
                if withdrawn is None or nlri is None:
                    break
                if aend > astart:
                    blob = data[astart:aend]
                    blob_lines = blobs[blob_kind].get(blob) or self._blob_lines(blob, blob_kind)
                    if blob_lines is _SLOW:
                        break
                    nlri_tail, unreach_texts, reach = blob_lines
                    if nlri and nlri_tail is None:
                        break
                elif nlri:
                    break  # announcements without attributes: the events path decides
                else:
                    nlri_tail = unreach_texts = reach = None
            except (DecodeError, struct.error, IndexError, ValueError, OSError):
                break
            # Everything read: the rows, in bgpdump's order.
            if timestamp != heads_time or key != heads_key or micro != heads_micro:
                heads_key, heads_time, heads_micro = key, timestamp, micro
                heads = update_heads(key, timestamp, micro)
                if write_rows is None:  # bgpdump lines: the two line starts
                    announce_head, withdraw_head = heads
            known = peers.get(ip)
            peer = (
                known[1] if known is not None and known[0] == peer_as else self._peer(ip, peer_as)
            )
            if unreach_texts:
                withdrawn = withdrawn + unreach_texts
            withdrawn_count += len(withdrawn)
            announced += len(nlri)
            if reach is not None:
                announced += len(reach[0])
            if write_rows is not None:
                write_rows(out, index + taken, heads, peer, withdrawn, nlri, nlri_tail, reach)
            else:
                # bgpdump lines: one string per prefix list.
                if withdrawn:
                    head = withdraw_head + peer
                    append(f"{head}{f'{_NL}{head}'.join(withdrawn)}{_NL}")
                if nlri:
                    head = announce_head + peer
                    if len(nlri) == 1:
                        append(f"{head}{nlri[0]}{nlri_tail}")
                    else:
                        append(f"{head}{f'{nlri_tail}{head}'.join(nlri)}{nlri_tail}")
                if reach is not None:
                    head = announce_head + peer
                    reach_texts, reach_tail = reach
                    append(f"{head}{f'{reach_tail}{head}'.join(reach_texts)}{reach_tail}")
            records[key] += 1
            taken += 1
            pos = stop
        self.announced += announced
        self.withdrawn += withdrawn_count
        return pos, taken

    def _prefixes(self, data: bytes, pos: int, end: int, ipv6: bool) -> list[str] | None:
        """The prefix texts of ``data[pos:end]``, or None when the list does not read
        exactly or looks like un-signalled ADD-PATH (:func:`looks_misread`).

        Cached per whole list (and IPv6 texts per prefix): peers pass the same change
        on, so lists repeat (9,804 distinct NLRI lists in the 54,107 UPDATEs of
        updates.20190101.0000)."""
        lists = self._lists[ipv6]
        section = data[pos:end]
        texts = lists.get(section)
        if texts is not None:
            return texts
        if end - pos > 1 and looks_misread(data, pos):
            return None
        texts = self._v6_texts(data, pos, end) if ipv6 else prefix4_texts(data, pos, end)
        if texts is None:
            return None
        listed = self._listed[ipv6] + len(texts)
        if len(lists) > _LIST_CACHE_LIMIT or listed > _LIST_PREFIX_LIMIT:
            lists.clear()
            listed = len(texts)
        self._listed[ipv6] = listed
        lists[section] = texts
        return texts

    def _v6_texts(self, data: bytes, pos: int, end: int) -> list[str] | None:
        """:func:`prefix4_texts` for IPv6, each text cached by its bytes (the
        format's spelling costs more than a lookup)."""
        cache = self._v6
        if len(cache) > _CACHE_LIMIT:
            cache.clear()
        texts = []
        while pos < end:
            bits = data[pos]
            after = pos + 1 + ((bits + 7) >> 3)
            if bits > 128 or after > end:
                return None
            key = data[pos:after]
            text = cache.get(key)
            if text is None:
                text = cache[key] = self.fmt.ipv6_prefix(prefix6(key[1:], bits))
            texts.append(text)
            pos = after
        return texts

    def _peer(self, ip: bytes, asn: int) -> Any:
        """The peer's column; kept per address with the AS they were made for (a
        peer's AS rarely changes, and the address alone is a cheaper key)."""
        if len(self._peers) > _CACHE_LIMIT:
            self._peers.clear()
        text = _ntoa(ip) if len(ip) == 4 else _ntop(_AF_INET6, ip)
        column = self.fmt.peer_column(text, asn)
        self._peers[ip] = (asn, column)
        return column

    def _blob_lines(self, blob: bytes, blob_kind: int) -> _BlobLines:
        cache = self._blobs[blob_kind]
        if len(cache) > _CACHE_LIMIT:
            cache.clear()
        if blob_kind == _LEGACY_BGP:
            # Legacy BGP's lines, rare, need PathAttributes.
            found = cache[blob] = self._decoded_lines(blob, False, self.fmt.legacy_tail)
            return found
        asn4 = blob_kind == _FOUR_BYTE
        scanner = self._scanner
        split = (
            None
            if scanner is None or (not scanner.scan_lines and _ORIGINATOR_ID_HEAD in blob)
            else pathless_key(blob, asn4)
        )
        if scanner is None or split is None:
            found = cache[blob] = self._decoded_lines(blob, asn4, self.fmt.update_tail)
            return found
        # The blob without its AS path and MP_REACH prefixes has likely been read
        # before (see pathless_key): then only the path's text is new.
        key, asns, nlri_at, nlri_end = split
        pathless_cache = self._pathless[blob_kind]
        if key in pathless_cache:
            pathless = pathless_cache[key]
        else:
            if len(pathless_cache) > _CACHE_LIMIT:
                pathless_cache.clear()
            # Most blobs (all but 28 of the 21,080 of updates.20190101.0000) scan
            # faster than they decode into PathAttributes. None: the scan declines
            # the blob, and every blob of this key.
            scanned = scan_rib_blob(blob, rib=False, lines=scanner.scan_lines, asn4=asn4)
            pathless = pathless_cache[key] = (
                None if scanned is None else self._pathless_lines(scanned, scanner)
            )
        if pathless is None:
            found = self._decoded_lines(blob, asn4, self.fmt.update_tail)
        elif pathless is _SLOW_PATHLESS:
            found = _SLOW
        else:
            nlri_tail, unreach_texts, reach = pathless
            with_path = scanner.path_tail
            reach_lines = None
            if reach is not None:
                reach_texts = self._prefixes(blob, nlri_at, nlri_end, reach[0])
                if reach_texts is not None:
                    reach_lines = (reach_texts, with_path(asns, reach[1]))
            found = (
                _SLOW
                if reach is not None and reach_lines is None
                else (
                    None if nlri_tail is None else with_path(asns, nlri_tail),
                    unreach_texts,
                    reach_lines,
                )
            )
        cache[blob] = found
        return found

    def _pathless_lines(self, scanned: RibBlob, scanner: ScannedTails) -> _PathlessLines:
        """What the blobs of one :func:`pathless_key` contribute, with an empty AS
        path, from one of them as :func:`scan_rib_blob` read it."""
        reach, unreach = scanned[11], scanned[12]
        if not (_plain(unreach) and _plain(reach)):
            return _SLOW_PATHLESS
        unreach_texts = self._section_texts(unreach)
        if unreach_texts is None:
            return _SLOW_PATHLESS
        tail = scanner.scanned_tail
        pathless = (scanned[0], (), *scanned[2:])
        next_hop = scanned[2]
        return (
            tail(pathless, next_hop) if reach is None or next_hop else None,
            unreach_texts,
            (reach.afi == AFI_IPV6, tail(pathless, reach.next_hop))
            if reach is not None and reach.nlri
            else None,
        )

    def _decoded_lines(
        self, blob: bytes, asn4: bool, tail: Callable[[PathAttributes, str], Any]
    ) -> _BlobLines:
        """What a blob contributes, through :func:`decode_attributes` (``_SLOW`` if
        that fails, for NLRI kept raw, or prefix lists that do not read exactly: the
        events path words or counts those)."""
        try:
            attrs = decode_attributes(blob, asn4)
        except DecodeError:
            return _SLOW
        next_hop, reach, unreach = attrs.next_hop or "", attrs.mp_reach, attrs.mp_unreach
        if not (_plain(unreach) and _plain(reach)):
            return _SLOW
        unreach_texts = self._section_texts(unreach)
        reach_texts = self._section_texts(reach)
        if unreach_texts is None or reach_texts is None:
            return _SLOW
        # A blob with MP_REACH but no NEXT_HOP is for IPv6 alone: no NLRI tail to make
        # (an UPDATE with both goes the events path).
        return (
            tail(attrs, next_hop) if reach is None or next_hop else None,
            unreach_texts,
            (reach_texts, tail(attrs, reach.next_hop))
            if reach is not None and reach_texts
            else None,
        )

    def _section_texts(self, section: MpReach | MpUnreach | None) -> list[str] | None:
        """The prefix texts of an MP_REACH or MP_UNREACH (none without one), or None
        when they do not read exactly (:meth:`_prefixes`)."""
        if section is None or not section.nlri:
            return _NO_TEXTS
        return self._prefixes(section.nlri, 0, len(section.nlri), section.afi == AFI_IPV6)


def _plain(section: MpReach | MpUnreach | None) -> bool:
    """No MP section, one without prefixes, or one of a family decoded here (the
    events path counts the others as kept raw)."""
    return section is None or not section.nlri or (section.afi, section.safi) in DECODED_AFI_SAFI
