"""BGP path attributes (RFC 4271 and friends), decoded once per distinct byte string.

In a RIB most entries repeat an attribute blob seen before (84 % on a Route Views RIB),
so :class:`mrtfeed.decode.decoder.Decoder` caches :class:`PathAttributes` by their
bytes and events share the object. Unknown attributes are kept as raw bytes.
"""

from __future__ import annotations

import socket
import struct
from typing import NamedTuple

from mrtfeed.decode.addresses import ipv4, ipv6
from mrtfeed.decode.errors import DecodeError
from mrtfeed.decode.events import Flags

ORIGIN = 1
AS_PATH = 2
NEXT_HOP = 3
MULTI_EXIT_DISC = 4
LOCAL_PREF = 5
ATOMIC_AGGREGATE = 6
AGGREGATOR = 7
COMMUNITIES = 8
ORIGINATOR_ID = 9
CLUSTER_LIST = 10
MP_REACH_NLRI = 14
MP_UNREACH_NLRI = 15
EXTENDED_COMMUNITIES = 16
AS4_PATH = 17
AS4_AGGREGATOR = 18
AIGP = 26
LARGE_COMMUNITIES = 32
OTC = 35

AS_SET = 1
AS_SEQUENCE = 2
AS_CONFED_SEQUENCE = 3
AS_CONFED_SET = 4
_CONFED_TYPES = (AS_CONFED_SEQUENCE, AS_CONFED_SET)
AS_TRANS = 23456

AFI_IPV4 = 1
AFI_IPV6 = 2
SAFI_UNICAST = 1
SAFI_MULTICAST = 2
#: RFC 2858's "unicast and multicast", dropped by RFC 4760 but written by old speakers
#: (bgpdump prints its routes too).
SAFI_UNICAST_MULTICAST = 3
#: The MP_REACH/MP_UNREACH families whose prefixes are decoded; the NLRI of the others
#: (VPN, flowspec, EVPN...) is kept raw and counted.
DECODED_AFI_SAFI = frozenset(
    (afi, safi)
    for afi in (AFI_IPV4, AFI_IPV6)
    for safi in (SAFI_UNICAST, SAFI_MULTICAST, SAFI_UNICAST_MULTICAST)
)

_FLAG_EXTENDED_LENGTH = 0x10
#: Attributes whose malformation discards only them, the route stays (RFC 7606 §7.6
#: ATOMIC_AGGREGATE, §7.7 AGGREGATOR; RFC 6793 §6 AS4_PATH, AS4_AGGREGATOR). Any other
#: makes an UPDATE's routes withdrawals (RFC 7606 §2, "treat-as-withdraw").
DISCARDED_WHEN_MALFORMED = frozenset({ATOMIC_AGGREGATE, AGGREGATOR, AS4_PATH, AS4_AGGREGATOR})

_U16 = struct.Struct(">H").unpack_from
_U32 = struct.Struct(">I").unpack_from
_U64 = struct.Struct(">Q").unpack_from
_MP_HEAD = struct.Struct(">HBB").unpack_from

_structs: dict[tuple[int, int], struct.Struct] = {}


def _unpack_ints(data: bytes, offset: int, count: int, width: int) -> tuple[int, ...]:
    """Unpack ``count`` big-endian integers of ``width`` bytes (2 or 4) in one C call."""
    key = (count, width)
    fmt = _structs.get(key)
    if fmt is None:
        fmt = _structs[key] = struct.Struct(f">{count}{'I' if width == 4 else 'H'}")
    return fmt.unpack_from(data, offset)


class MalformedAttributeError(DecodeError):
    """An attribute's bytes do not match its type (RFC 7606: treat-as-withdraw, or
    attribute discard for :data:`DISCARDED_WHEN_MALFORMED`)."""


Segment = tuple[int, tuple[int, ...]]


class MpReach(NamedTuple):
    """MP_REACH_NLRI (RFC 4760); ``nlri`` stays raw: its decoding depends on ADD-PATH."""

    afi: int
    safi: int
    next_hop: str
    next_hop_local: str | None
    nlri: bytes


class MpUnreach(NamedTuple):
    """MP_UNREACH_NLRI (RFC 4760); ``nlri`` stays raw, as for :class:`MpReach`."""

    afi: int
    safi: int
    nlri: bytes


class PathAttributes:
    """Decoded path attributes of one route; immutable once built, shared by events."""

    __slots__ = (
        "aggregator",
        "aigp",
        "as4_ignored",
        "as_path",
        "atomic_aggregate",
        "cluster_list",
        "communities",
        "ext_communities",
        "large_communities",
        "local_pref",
        "med",
        "mp_reach",
        "mp_unreach",
        "next_hop",
        "origin",
        "originator_id",
        "otc",
        "present",
        "unknown",
    )

    def __init__(self) -> None:
        self.origin: int | None = None
        #: AS path segments (type, ASNs), AS4_PATH already merged in (RFC 6793 §4.2.3).
        self.as_path: tuple[Segment, ...] | None = None
        self.next_hop: str | None = None
        self.med: int | None = None
        self.local_pref: int | None = None
        self.atomic_aggregate = False
        #: (ASN, router id); AS4_AGGREGATOR merged in.
        self.aggregator: tuple[int, str] | None = None
        #: Standard communities as 32-bit values (high 16 bits: ASN).
        self.communities: tuple[int, ...] = ()
        #: Extended communities, 8 raw bytes each (RFC 4360).
        self.ext_communities: tuple[bytes, ...] = ()
        #: Large communities (global admin, local 1, local 2) (RFC 8092).
        self.large_communities: tuple[tuple[int, int, int], ...] = ()
        self.originator_id: str | None = None
        self.cluster_list: tuple[str, ...] = ()
        #: Only-to-Customer ASN (RFC 9234).
        self.otc: int | None = None
        #: Accumulated IGP metric (RFC 7311).
        self.aigp: int | None = None
        self.mp_reach: MpReach | None = None
        self.mp_unreach: MpUnreach | None = None
        #: Unknown or unsupported attributes as (flags, type code, raw value).
        self.unknown: tuple[tuple[int, int, bytes], ...] = ()
        #: Type codes in the order they appear (for "attribute present" filters).
        self.present: tuple[int, ...] = ()
        #: True when an AS4_PATH was present but RFC 6793 says to ignore it.
        self.as4_ignored = False


def _as_path_segments(value: bytes, width: int) -> tuple[Segment, ...]:
    """The segments of an AS_PATH (or AS4_PATH) value with ``width``-byte ASNs; raises
    :class:`MalformedAttributeError`."""
    segments: list[Segment] = []
    pos = 0
    end = len(value)
    while pos < end:
        if end - pos < 2:
            raise MalformedAttributeError("AS path segment header truncated")
        seg_type = value[pos]
        count = value[pos + 1]
        if seg_type not in (AS_SET, AS_SEQUENCE, AS_CONFED_SEQUENCE, AS_CONFED_SET):
            raise MalformedAttributeError(f"unknown AS path segment type {seg_type}")
        seg_end = pos + 2 + count * width
        if seg_end > end:
            raise MalformedAttributeError("AS path segment overruns its attribute")
        segments.append((seg_type, _unpack_ints(value, pos + 2, count, width)))
        pos = seg_end
    return tuple(segments)


def path_length(segments: tuple[Segment, ...]) -> int:
    """RFC 4271 path length as RFC 6793 counts it for the merge: a set counts one,
    confederation segments count zero."""
    total = 0
    for seg_type, asns in segments:
        if seg_type == AS_SEQUENCE:
            total += len(asns)
        elif seg_type == AS_SET:
            total += 1
    return total


def merge_as4_path(
    as_path: tuple[Segment, ...], as4_path: tuple[Segment, ...]
) -> tuple[Segment, ...]:
    """RFC 6793 §4.2.3: keep the leading ASNs of AS_PATH, then append AS4_PATH.

    Confederation segments count no ASNs; one is kept when it leads the path or
    follows a segment kept whole (the RFC's "adjacent to a path segment that is
    prepended"), even when no ASN of AS_PATH is kept: ``(7) 1 2 23456`` with AS4_PATH
    ``1 2 200000`` is ``(7) 1 2 200000``."""
    keep = path_length(as_path) - path_length(as4_path)
    merged: list[Segment] = []
    for seg_type, asns in as_path:
        if seg_type == AS_SEQUENCE:
            if keep <= 0:
                break
            take = asns[:keep]
            merged.append((seg_type, take))
            keep -= len(take)
            if len(take) < len(asns):
                break  # cut inside: what follows is not next to a kept segment
        elif seg_type == AS_SET:
            if keep <= 0:
                break
            merged.append((seg_type, asns))
            keep -= 1
        else:
            merged.append((seg_type, asns))
    merged.extend(as4_path)
    return tuple(merged)


def _next_hop(value: bytes, offset: int, length: int) -> tuple[str, str | None]:
    """Decode an MP next hop: IPv4, IPv6, IPv6 + link-local, or the VPN forms with an RD."""
    nh = value[offset : offset + length]
    if length == 4:
        return ipv4(nh), None
    if length == 16:
        return ipv6(nh), None
    if length == 32:
        return ipv6(nh[:16]), ipv6(nh[16:])
    if length == 12:  # RD + IPv4 (RFC 4364)
        return ipv4(nh[8:]), None
    if length == 24:  # RD + IPv6 (RFC 4659)
        return ipv6(nh[8:]), None
    if length == 48:  # RD + IPv6, RD + link-local
        return ipv6(nh[8:24]), ipv6(nh[32:])
    raise MalformedAttributeError(f"MP next hop of unsupported length {length}")


def _mp_reach(value: bytes, abbreviated_ok: bool) -> MpReach:
    if abbreviated_ok and value and value[0] != 0:
        # RFC 6396 §4.3.4: TABLE_DUMP_V2 keeps only next-hop length and next hop.
        length = value[0]
        if 1 + length > len(value):
            raise MalformedAttributeError("MP_REACH next hop overruns its attribute")
        nh, local = _next_hop(value, 1, length)
        return MpReach(AFI_IPV6 if length >= 16 else AFI_IPV4, SAFI_UNICAST, nh, local, b"")
    if len(value) < 5:
        raise MalformedAttributeError("MP_REACH_NLRI shorter than its fixed fields")
    afi, safi, length = _MP_HEAD(value, 0)
    nlri_at = 4 + length + 1  # next hop, then the reserved (ex-SNPA) octet
    if nlri_at > len(value):
        raise MalformedAttributeError("MP_REACH next hop overruns its attribute")
    if length == 0:
        nh, local = "", None
    else:
        nh, local = _next_hop(value, 4, length)
    return MpReach(afi, safi, nh, local, value[nlri_at:])


def decode_attributes(blob: bytes, asn4: bool, *, rib: bool = False) -> PathAttributes:
    """Decode an attribute block. ``asn4``: AS_PATH/AGGREGATOR carry 4-byte ASNs;
    ``rib``: the TABLE_DUMP_V2 abbreviated MP_REACH_NLRI form is allowed.

    Raises :class:`MalformedAttributeError` when an attribute does not fit its bytes.
    """
    attrs = PathAttributes()
    width = 4 if asn4 else 2
    present: list[int] = []
    unknown: list[tuple[int, int, bytes]] = []
    as4_path: tuple[Segment, ...] | None = None
    as4_aggregator: tuple[int, str] | None = None
    pos = 0
    end = len(blob)
    while pos < end:
        if end - pos < 3:
            raise MalformedAttributeError("attribute header truncated")
        flags = blob[pos]
        code = blob[pos + 1]
        if flags & _FLAG_EXTENDED_LENGTH:
            if end - pos < 4:
                raise MalformedAttributeError("attribute header truncated")
            length = (blob[pos + 2] << 8) | blob[pos + 3]
            pos += 4
        else:
            length = blob[pos + 2]
            pos += 3
        if pos + length > end:
            raise MalformedAttributeError(
                f"attribute {code} of {length} bytes overruns the attribute block"
            )
        value = blob[pos : pos + length]
        pos += length
        if code in present:
            # RFC 7606 §3(g): keep the first, discard repeats.
            continue
        present.append(code)
        if code == AS_PATH:
            attrs.as_path = _as_path_segments(value, width)
        elif code == ORIGIN:
            if length != 1:
                raise MalformedAttributeError(f"ORIGIN of length {length}")
            attrs.origin = value[0]
        elif code == NEXT_HOP:
            if length != 4:
                raise MalformedAttributeError(f"NEXT_HOP of length {length}")
            attrs.next_hop = ipv4(value)
        elif code == MULTI_EXIT_DISC:
            if length != 4:
                raise MalformedAttributeError(f"MULTI_EXIT_DISC of length {length}")
            attrs.med = _U32(value)[0]
        elif code == LOCAL_PREF:
            if length != 4:
                raise MalformedAttributeError(f"LOCAL_PREF of length {length}")
            attrs.local_pref = _U32(value)[0]
        elif code == COMMUNITIES:
            if length % 4:
                raise MalformedAttributeError(f"COMMUNITIES of length {length}")
            attrs.communities = _unpack_ints(value, 0, length >> 2, 4)
        elif code == MP_REACH_NLRI:
            attrs.mp_reach = _mp_reach(value, rib)
        elif code == MP_UNREACH_NLRI:
            if length < 3:
                raise MalformedAttributeError("MP_UNREACH_NLRI shorter than its fixed fields")
            afi, safi = _U16(value)[0], value[2]
            attrs.mp_unreach = MpUnreach(afi, safi, value[3:])
        elif code == ATOMIC_AGGREGATE:
            attrs.atomic_aggregate = True
        elif code == AGGREGATOR:
            # The length says which ASN size was used, whatever the record subtype
            # claims (OpenBGPD writes 4-byte aggregators into TABLE_DUMP v1).
            if length == 8:
                attrs.aggregator = (_U32(value)[0], ipv4(value[4:]))
            elif length == 6:
                attrs.aggregator = (_U16(value)[0], ipv4(value[2:]))
            else:
                raise MalformedAttributeError(f"AGGREGATOR of length {length}")
        elif code == LARGE_COMMUNITIES:
            if length % 12:
                raise MalformedAttributeError(f"LARGE_COMMUNITIES of length {length}")
            flat = _unpack_ints(value, 0, length >> 2, 4)
            attrs.large_communities = tuple(
                (flat[i], flat[i + 1], flat[i + 2]) for i in range(0, len(flat), 3)
            )
        elif code == EXTENDED_COMMUNITIES:
            if length % 8:
                raise MalformedAttributeError(f"EXTENDED_COMMUNITIES of length {length}")
            attrs.ext_communities = tuple(value[i : i + 8] for i in range(0, length, 8))
        elif code == ORIGINATOR_ID:
            if length != 4:
                raise MalformedAttributeError(f"ORIGINATOR_ID of length {length}")
            attrs.originator_id = ipv4(value)
        elif code == CLUSTER_LIST:
            if length % 4:
                raise MalformedAttributeError(f"CLUSTER_LIST of length {length}")
            attrs.cluster_list = tuple(ipv4(value[i : i + 4]) for i in range(0, length, 4))
        elif code == AS4_PATH:
            as4_path = _as_path_segments(value, 4)
        elif code == AS4_AGGREGATOR:
            if length != 8:
                raise MalformedAttributeError(f"AS4_AGGREGATOR of length {length}")
            as4_aggregator = (_U32(value)[0], ipv4(value[4:]))
        elif code == OTC:
            if length != 4:
                raise MalformedAttributeError(f"OTC of length {length}")
            attrs.otc = _U32(value)[0]
        elif code == AIGP:
            # TLV type 1 (AIGP metric), length 11, value 8 bytes (RFC 7311 §3).
            if length >= 11 and value[0] == 1:
                attrs.aigp = _U64(value, 3)[0]
            else:
                unknown.append((flags, code, value))
        else:
            unknown.append((flags, code, value))
    attrs.present = tuple(present)
    if unknown:
        attrs.unknown = tuple(unknown)
    if not asn4 and (as4_path is not None or as4_aggregator is not None):
        _merge_as4(attrs, as4_path, as4_aggregator)
    return attrs


class Salvaged(NamedTuple):
    """What :func:`salvage_attributes` kept of an attribute block."""

    attrs: PathAttributes
    #: Type codes of the malformed attributes left out.
    malformed: tuple[int, ...]
    #: False when an attribute overran the block or a header was cut: what followed
    #: it is unknown.
    whole: bool


def salvage_attributes(blob: bytes, asn4: bool, *, rib: bool = False) -> Salvaged:
    """The well-formed attributes of a block :func:`decode_attributes` refused.

    RFC 7606 keeps an UPDATE's MP_UNREACH_NLRI withdrawals, and its MP_REACH_NLRI
    prefixes as withdrawals, when another attribute is malformed; a RIB entry keeps its
    route. So each attribute is tried alone, and the block is decoded again without the
    ones that failed (the AS4 merge and the rules for repeats then apply as usual).
    """
    kept: list[bytes] = []
    malformed: list[int] = []
    whole = True
    pos = 0
    end = len(blob)
    while pos < end:
        head = 4 if blob[pos] & _FLAG_EXTENDED_LENGTH else 3
        if end - pos < head:
            whole = False
            break
        length = _U16(blob, pos + 2)[0] if head == 4 else blob[pos + 2]
        stop = pos + head + length
        piece = blob[pos:stop]
        if stop > end:
            malformed.append(piece[1])
            whole = False
            break
        try:
            decode_attributes(piece, asn4, rib=rib)
        except MalformedAttributeError:
            malformed.append(piece[1])
        else:
            kept.append(piece)
        pos = stop
    return Salvaged(decode_attributes(b"".join(kept), asn4, rib=rib), tuple(malformed), whole)


def rib_attributes(blob: bytes, asn4: bool) -> tuple[PathAttributes, str, Flags]:
    """The attributes of a RIB entry, the next hop bgpdump reports for them (the
    MP_REACH next hop when there is one), and the entry's flags: ATTRIBUTE_DISCARD when
    malformed attributes were left out (the entry stays: a route the collector holds)."""
    try:
        attrs = decode_attributes(blob, asn4, rib=True)
        flags = Flags.NONE
    except MalformedAttributeError:
        attrs = salvage_attributes(blob, asn4, rib=True).attrs
        flags = Flags.ATTRIBUTE_DISCARD
    mp = attrs.mp_reach
    next_hop = mp.next_hop if mp is not None and mp.next_hop else (attrs.next_hop or "")
    return attrs, next_hop, flags


#: A RIB entry's attributes as :func:`scan_rib_blob` finds them: ORIGIN (None if
#: absent), the ASNs of the one AS_SEQUENCE, NEXT_HOP and the MP_REACH next hop as text
#: ("" if absent), MED and LOCAL_PREF (None if absent), ATOMIC_AGGREGATE, AGGREGATOR
#: (ASN, router id), the standard and the large communities, the type codes in order;
#: then, in an UPDATE, MP_REACH_NLRI and MP_UNREACH_NLRI (None if absent).
RibBlob = tuple[
    int | None,
    tuple[int, ...],
    str,
    str,
    int | None,
    int | None,
    bool,
    tuple[int, str] | None,
    tuple[int, ...],
    tuple[tuple[int, int, int], ...],
    tuple[int, ...],
    MpReach | None,
    MpUnreach | None,
]
#: Unpackers of 0 to 255 four-byte ASNs (an AS path segment's count is one byte), and
#: of two-byte ones.
_ASN_SEQUENCES = [struct.Struct(f">{count}I").unpack_from for count in range(256)]
_ASN16_SEQUENCES = [struct.Struct(f">{count}H").unpack_from for count in range(256)]
_ipv4 = socket.inet_ntoa
#: The common layout's fixed bytes (see :func:`scan_rib_blob`): ORIGIN's header, AS_PATH's
#: header before its length (extended length), and by ASN count: the AS_PATH length and
#: the one AS_SEQUENCE segment's header; NEXT_HOP's header.
_ORIGIN_HEAD = bytes((0x40, ORIGIN, 1))
_AS_PATH_HEAD = bytes((0x40 | _FLAG_EXTENDED_LENGTH, AS_PATH))
_SEQUENCE_HEADS = [(2 + 4 * n).to_bytes(2, "big") + bytes((AS_SEQUENCE, n)) for n in range(256)]
_NEXT_HOP_HEAD = bytes((0x40, NEXT_HOP, 4))
_ORIGIN_PATH_NEXT_HOP = (ORIGIN, AS_PATH, NEXT_HOP)


def scan_rib_blob(
    blob: bytes, *, rib: bool = True, lines: bool = False, asn4: bool = True
) -> RibBlob | None:
    """The attributes of a TABLE_DUMP_V2 RIB entry (4-byte ASNs) in the shape RIBs are
    made of, without :class:`PathAttributes`: ORIGIN, an AS_PATH of one AS_SEQUENCE,
    NEXT_HOP, MED, LOCAL_PREF, ATOMIC_AGGREGATE, AGGREGATOR, COMMUNITIES,
    LARGE_COMMUNITIES and MP_REACH_NLRI with an IPv6 next hop (abbreviated, or in
    full form), each once. With ``rib`` False, the attributes of an UPDATE, with MP_REACH_NLRI (full
    form, its prefixes raw) and MP_UNREACH_NLRI. ``asn4`` False: an AS path of 2-byte
    ASNs (TABLE_DUMP v1, BGP4MP MESSAGE); AS4_PATH and AS4_AGGREGATOR, which such
    blobs may carry, are left to the full decoder and its RFC 6793 merge.

    ``lines``: also take ORIGINATOR_ID, CLUSTER_LIST (RFC 4456),
    EXTENDED_COMMUNITIES and OTC (RFC 9234), checked but not returned, for the line
    formats, which do not show them (bgpdump, bgpscanner). Route reflectors add the
    first two to every path, and their values make nearly every blob distinct (89,642
    of the 89,679 UPDATEs of updates.et-header.2015); OTC is on 2,352 of the 48,162
    distinct blobs of rrc01.updates.20241001.0055.

    None for anything else (another attribute or path shape, a repeat, a length that
    does not fit): :func:`rib_attributes` then decodes it or words the error. Output
    formats build a RIB entry's text from this for each distinct blob (one for every
    six entries of a RIB), at half the cost of decoding :class:`PathAttributes`.
    """
    end = len(blob)
    count = blob[9] if end > 9 and asn4 else 0
    if (
        count
        and end == 17 + 4 * count
        and blob[6:10] == _SEQUENCE_HEADS[count]
        and blob[:3] == _ORIGIN_HEAD
        and blob[4:6] == _AS_PATH_HEAD
        and blob[-7:-4] == _NEXT_HOP_HEAD
    ):
        # Most RIB blobs (68,365 of the jinx RIB's 79,874) are exactly ORIGIN, an
        # AS_PATH of one AS_SEQUENCE and NEXT_HOP, as Quagga and BIRD write them:
        # recognised by their layout in a few comparisons.
        return (
            blob[3],
            _ASN_SEQUENCES[count](blob, 10),
            _ipv4(blob[-4:]),
            "",
            None,
            None,
            False,
            None,
            (),
            (),
            _ORIGIN_PATH_NEXT_HOP,
            None,
            None,
        )
    origin = med = local_pref = None
    asns: tuple[int, ...] = ()
    communities: tuple[int, ...] = ()
    large: tuple[tuple[int, int, int], ...] = ()
    aggregator = None
    next_hop = mp_next_hop = ""
    atomic = False
    reach: MpReach | None = None
    unreach: MpUnreach | None = None
    present: list[int] = []
    seen = 0
    pos = 0
    width, sequences = (4, _ASN_SEQUENCES) if asn4 else (2, _ASN16_SEQUENCES)
    while pos < end:
        if end - pos < 3:
            return None
        code = blob[pos + 1]
        if blob[pos] & _FLAG_EXTENDED_LENGTH:
            if end - pos < 4:
                return None
            length = (blob[pos + 2] << 8) | blob[pos + 3]
            pos += 4
        else:
            length = blob[pos + 2]
            pos += 3
        stop = pos + length
        if stop > end or (seen >> code) & 1:
            return None
        seen |= 1 << code
        present.append(code)
        if code == AS_PATH:
            if (
                length < 2 + width
                or length != width * blob[pos + 1] + 2
                or blob[pos] != AS_SEQUENCE
            ):
                return None
            asns = sequences[blob[pos + 1]](blob, pos + 2)
        elif code == NEXT_HOP:
            if length != 4:
                return None
            next_hop = _ipv4(blob[pos:stop])
        elif code == ORIGIN:
            if length != 1:
                return None
            origin = blob[pos]
        elif code == AGGREGATOR:
            if length == 8:
                aggregator = (_U32(blob, pos)[0], _ipv4(blob[pos + 4 : stop]))
            elif length == 6:
                aggregator = (_U16(blob, pos)[0], _ipv4(blob[pos + 2 : stop]))
            else:
                return None
        elif code == ATOMIC_AGGREGATE:
            atomic = True
        elif code == LOCAL_PREF:
            if length != 4:
                return None
            local_pref = _U32(blob, pos)[0]
        elif code == MULTI_EXIT_DISC:
            if length != 4:
                return None
            med = _U32(blob, pos)[0]
        elif code == COMMUNITIES:
            if length & 3:
                return None
            communities = _unpack_ints(blob, pos, length >> 2, 4)
        elif code == MP_REACH_NLRI:
            if rib:
                hop_length = blob[pos] if length else 0
                if hop_length:
                    # RFC 6396 §4.3.4's abbreviated form, with an IPv6 next hop (and
                    # perhaps a link-local one, which the formats do not show).
                    if hop_length not in (16, 32) or hop_length >= length:
                        return None
                    mp_next_hop = ipv6(blob[pos + 1 : pos + 17])
                else:
                    # The full form, which some collectors wrote all the same (Quagga
                    # on route-views6 in 2015: AFI, SAFI, next hop, the entry's prefix).
                    hop_length = blob[pos + 3] if length >= 5 else 0
                    if hop_length not in (16, 32) or 5 + hop_length > length:
                        return None
                    mp_next_hop = ipv6(blob[pos + 4 : pos + 20])
            else:
                try:
                    reach = _mp_reach(blob[pos:stop], False)
                except MalformedAttributeError:
                    return None
        elif code == MP_UNREACH_NLRI:
            if rib or length < 3:
                return None
            unreach = MpUnreach(_U16(blob, pos)[0], blob[pos + 2], blob[pos + 3 : stop])
        elif code == LARGE_COMMUNITIES:
            if not length or length % 12:
                return None
            flat = _unpack_ints(blob, pos, length >> 2, 4)
            large = tuple(zip(flat[::3], flat[1::3], flat[2::3], strict=True))
        elif code in (ORIGINATOR_ID, OTC):
            if not lines or length != 4:
                return None
        elif code == CLUSTER_LIST:
            if not lines or not length or length & 3:
                return None
        elif code == EXTENDED_COMMUNITIES:
            if not lines or not length or length & 7:
                return None
        else:
            return None
        pos = stop
    if not asns and rib:
        return None  # an UPDATE that only withdraws (MP_UNREACH_NLRI) has no path
    return (
        origin,
        asns,
        next_hop,
        mp_next_hop,
        med,
        local_pref,
        atomic,
        aggregator,
        communities,
        large,
        tuple(present),
        reach,
        unreach,
    )


def pathless_key(blob: bytes, asn4: bool = True) -> tuple[bytes, tuple[int, ...], int, int] | None:
    """``blob`` without its AS_PATH and its MP_REACH_NLRI prefixes, the AS path's ASNs
    (none without AS_PATH), and where those prefixes lie (an empty range without
    MP_REACH_NLRI). None where :func:`scan_rib_blob` would decline ``blob`` for what is
    checked here: the attribute headers up to the AS_PATH fit (all of them, if the
    blob may hold MP_REACH_NLRI), the AS path is one AS_SEQUENCE, MP_REACH_NLRI's next
    hop fits, neither comes twice (as far as the walk goes).

    An UPDATE file repeats everything but the path and the prefixes: of the 21,080
    distinct blobs of updates.20190101.0000, 6,746 keys remain once both are cut out
    (19,888 of rrc01.updates.20241001.0055's 48,162; 16,267 of
    updates.et-header.2015's 89,641), so :class:`~mrtfeed.decode.update_lines.UpdateLines`
    scans one blob per key and adds the path and the prefixes of each.

    The key reads back into the same attributes (MP_REACH_NLRI keeps its length and
    next-hop length, so where the cut was is known): equal keys mean equal attributes
    but for the path and the prefixes, and the scan accepts all blobs of a key or none.
    The header walk is :func:`scan_rib_blob`'s, inline: a call per attribute would
    cost about as much as the walk. Without a byte 14 anywhere there is no
    MP_REACH_NLRI, and the walk ends at the AS_PATH (the second attribute, mostly, of
    the eight a route reflector's blobs hold in updates.et-header.2015): what follows
    is part of the key as it is, so blobs of one key still get one verdict.
    """
    end = len(blob)
    pos = path_at = path_end = nlri_at = nlri_end = 0
    asns: tuple[int, ...] = ()
    no_mp_reach = MP_REACH_NLRI not in blob
    while pos < end:
        if end - pos < 3:
            return None
        code = blob[pos + 1]
        if blob[pos] & _FLAG_EXTENDED_LENGTH:
            if end - pos < 4:
                return None
            body = pos + 4
            length = (blob[pos + 2] << 8) | blob[pos + 3]
        else:
            body = pos + 3
            length = blob[pos + 2]
        stop = body + length
        if stop > end:
            return None
        if code == AS_PATH:
            width, sequences = (4, _ASN_SEQUENCES) if asn4 else (2, _ASN16_SEQUENCES)
            if (
                path_end
                or length < 2 + width
                or length != width * blob[body + 1] + 2
                or blob[body] != AS_SEQUENCE
            ):
                return None
            asns = sequences[blob[body + 1]](blob, body + 2)
            path_at, path_end = pos, stop
            if no_mp_reach:
                break
        elif code == MP_REACH_NLRI:
            # AFI, SAFI, next-hop length, next hop, a reserved byte, the prefixes.
            if nlri_end or length < 5 or body + 5 + blob[body + 3] > stop:
                return None
            nlri_at, nlri_end = body + 5 + blob[body + 3], stop
        pos = stop
    if nlri_at == nlri_end:
        key = blob[:path_at] + blob[path_end:]
    elif nlri_at < path_at:
        key = blob[:nlri_at] + blob[nlri_end:path_at] + blob[path_end:]
    else:
        key = blob[:path_at] + blob[path_end:nlri_at] + blob[nlri_end:]
    return key, asns, nlri_at, nlri_end


def _merge_as4(
    attrs: PathAttributes,
    as4_path: tuple[Segment, ...] | None,
    as4_aggregator: tuple[int, str] | None,
) -> None:
    """RFC 6793 §4.2.3, for sessions with 2-byte ASNs only.

    Confederation segments in AS4_PATH, which RFC 6793 §6 forbids, are discarded
    before the merge, as a NEW speaker must: they neither count nor appear."""
    if as4_aggregator is not None and attrs.aggregator is not None:
        if attrs.aggregator[0] != AS_TRANS:
            # The aggregating speaker was 2-byte only: AS4_* are stale, ignore both.
            attrs.as4_ignored = as4_path is not None
            return
        attrs.aggregator = as4_aggregator
    if as4_path is None or attrs.as_path is None:
        return
    as4_path = tuple(seg for seg in as4_path if seg[0] not in _CONFED_TYPES)
    if path_length(attrs.as_path) < path_length(as4_path):
        attrs.as4_ignored = True
        return
    attrs.as_path = merge_as4_path(attrs.as_path, as4_path)


def format_as_path(segments: tuple[Segment, ...] | None) -> str:
    """The conventional text form: ``1 2 {3,4} (5 6) [7,8]``, as bgpdump prints it.

    As in bgpdump, a space follows a segment only if it holds an ASN: segments of
    length 0 (seen from broken speakers) give ``{}7``, not ``{} 7``.
    """
    if not segments:
        return ""
    parts: list[str] = []
    spaced = False
    for seg_type, asns in segments:
        if spaced:
            parts.append(" ")
        if seg_type == AS_SEQUENCE:
            parts.append(" ".join(map(str, asns)))
        elif seg_type == AS_SET:
            parts.append("{" + ",".join(map(str, asns)) + "}")
        elif seg_type == AS_CONFED_SEQUENCE:
            parts.append("(" + " ".join(map(str, asns)) + ")")
        else:
            parts.append("[" + ",".join(map(str, asns)) + "]")
        spaced = bool(asns)
    return "".join(parts)
