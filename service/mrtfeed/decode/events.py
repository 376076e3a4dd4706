"""The event model: one route event per (peer, prefix, path id), plus peer state changes.

Events are ``NamedTuple`` s: creating one is a single tuple allocation and encoders read
fields by position at C speed. Everything that many events share (the peer, the decoded
path attributes) is one shared object, so a RIB entry costs a tuple and two references.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from mrtfeed.decode.attributes import PathAttributes


class EventKind(IntEnum):
    """What an event says about a route (or a BGP session)."""

    RIB = 0
    ANNOUNCE = 1
    WITHDRAW = 2
    STATE = 3


class Flags(IntFlag):
    """Facts about how an event was decoded that consumers may want to act on."""

    NONE = 0
    #: ADD-PATH path identifiers found in a record whose subtype does not announce
    #: them (RIPE-NCC/bgpdump#9): decoded with path ids, flagged.
    UNSIGNALLED_ADDPATH = 1
    #: RFC 7606: an attribute was malformed, the announcement is treated as withdraw.
    TREAT_AS_WITHDRAW = 2
    #: Malformed attributes were left out, the route kept: in an UPDATE those whose
    #: malformation RFC 7606 and RFC 6793 answer by "attribute discard" (AGGREGATOR,
    #: AS4_PATH...), in a RIB entry any (it is a route the collector holds).
    ATTRIBUTE_DISCARD = 4
    #: The UPDATE's prefix list ends inside a prefix; the prefixes before it are kept.
    NLRI_TRUNCATED = 8


class Peer(NamedTuple):
    """A BGP neighbour of the collector, as the MRT record names it."""

    ip: str
    asn: int
    #: True when the session uses 4-byte ASNs (AS4 subtypes, PEER_INDEX_TABLE bit).
    asn32: bool
    #: BGP identifier (TABLE_DUMP_V2 only), "" when unknown.
    bgp_id: str = ""


class RouteEvent(NamedTuple):
    """A RIB entry, an announcement or a withdrawal of one prefix from one peer."""

    kind: EventKind
    #: Index of the MRT record in the file (provenance; groups the events of one UPDATE).
    record_index: int
    #: MRT header time in Unix seconds.
    timestamp: int
    #: Microseconds of BGP4MP_ET records, -1 for records without them.
    microseconds: int
    #: (MRT type << 16) | subtype: tells encoders the record's format (bgpdump column 1).
    mrt_kind: int
    peer: Peer
    prefix: str
    #: ADD-PATH path identifier, None when the record carries none.
    path_id: int | None
    #: Path attributes, shared by every event decoded from the same attribute bytes;
    #: None for withdrawals.
    attrs: PathAttributes | None
    #: Next hop for this prefix: the MP_REACH next hop for MP prefixes, NEXT_HOP otherwise.
    next_hop: str
    #: TABLE_DUMP(_V2) originated time, or 0.
    originated: int
    flags: Flags


class StateEvent(NamedTuple):
    """A BGP finite-state-machine transition of a peer (BGP4MP STATE_CHANGE)."""

    kind: EventKind
    record_index: int
    timestamp: int
    microseconds: int
    mrt_kind: int
    peer: Peer
    old_state: int
    new_state: int


Event = RouteEvent | StateEvent

#: RFC 4271 §8.2.2 state names (plus Quagga's Clearing/Deleted), indexed by number.
BGP_STATES = (
    "Unknown",
    "Idle",
    "Connect",
    "Active",
    "OpenSent",
    "OpenConfirm",
    "Established",
    "Clearing",
    "Deleted",
)
