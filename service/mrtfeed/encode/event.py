"""The versioned JSON event schema (``schema/event.v1.json``), with keys and event ids.

One encoder serves ``mrtfeed parse --format json``, the worker pool and every sink, so
a consumer sees the same object whichever way it was produced. Values are assembled
from pieces rendered once: the per-file source block, the per-peer block and the
per-attribute-set block (shared by thousands of RIB entries), so a RIB entry costs a
few string joins and one hash.

Event ids are a hash of (project, collector, file kind, file time, record index, index
of the event in its record): a replay of the same file yields the same ids, which is
what lets consumers and the exactly-once tests recognise duplicates. The file URL is
deliberately not part of it (route-views2 moved in 2026; mirrors differ).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from hashlib import blake2b
from typing import Any

from mrtfeed.decode.attributes import PathAttributes, RibBlob, path_length, scan_rib_blob
from mrtfeed.decode.constants import record_type_name
from mrtfeed.decode.events import BGP_STATES, Event, EventKind, Flags, Peer, StateEvent
from mrtfeed.encode.bgpdump import community_text
from mrtfeed.encode.communities import ext_community_text, large_community_text
from mrtfeed.filter.loops import AS_SEQUENCE, loop_class

SCHEMA_VERSION = 1
CONTENT_TYPE = "application/json"
EVENT_TYPES = ("rib", "announce", "withdraw", "peer_state")
SNAPSHOT_BEGIN = "snapshot_begin"
SNAPSHOT_END = "snapshot_end"
_ORIGINS = ("IGP", "EGP", "INCOMPLETE")
#: The ``origin`` field's JSON for each ORIGIN byte (unknown values are null).
_ORIGIN_JSON = (*(f'"{name}"' for name in _ORIGINS), *["null"] * 253)
_SEGMENT_TYPES = ("set", "sequence", "confed_sequence", "confed_set")
#: Entries per cache of pieces (see the decoder's limit of the same name, which it
#: follows: the pieces are made per attribute set).
_ATTR_CACHE_LIMIT = 25_000
#: Event ids end in ``(record index << 16) | place in record`` as 12 hex digits:
#: ``hex(ID_BASE | number)[3:]`` writes them (drops the "0x1") at a third of the cost
#: of ``"%012x"`` (measured). Larger numbers (never seen) are written in full.
ID_BASE = 1 << 48
#: One prefix list of an UPDATE, for :meth:`EventRows.prefix_rows`: (prefix texts,
#: their event ids after the file's hash, the value from the id to the prefix, the
#: value after the prefix, loop class).
PrefixList = tuple[list[str], list[str], str, str, str | None]


def origin_asns(attrs: PathAttributes) -> list[int]:
    """The origin AS(es): the last ASN of the path, or every member of a final AS_SET."""
    segments = attrs.as_path
    if not segments:
        return []
    seg_type, asns = segments[-1]
    if not asns:
        return []
    if seg_type in (1, 4):  # AS_SET, AS_CONFED_SET: any member may be the origin
        return sorted(set(asns))
    return [asns[-1]]


def _as_path_json(segments: tuple[tuple[int, tuple[int, ...]], ...] | None) -> list[Any]:
    """ASNs in order; an AS_SET is a nested list (as RIS Live does), confederation
    segments are objects, so sets and confederations survive without a second field."""
    out: list[Any] = []
    for seg_type, asns in segments or ():
        if seg_type == 2:
            out.extend(asns)
        elif seg_type == 1:
            out.append(list(asns))
        else:
            name = _SEGMENT_TYPES[seg_type - 1] if 1 <= seg_type <= 4 else str(seg_type)
            out.append({name: list(asns)})
    return out


def attributes_json(attrs: PathAttributes) -> dict[str, Any]:
    """The attribute fields of a route event (everything that one attribute set decides),
    as the readable definition of what :func:`attributes_text` writes.

    The path, origin and community lists are always present; the other attributes
    only when the UPDATE carries them, which keeps a typical event near 600 bytes.
    """
    origin = attrs.origin
    out: dict[str, Any] = {
        "as_path": _as_path_json(attrs.as_path),
        "origin_asns": origin_asns(attrs),
        "origin": _ORIGINS[origin] if origin is not None and origin < 3 else None,
        "communities": [community_text(c) for c in attrs.communities],
        "ext_communities": [ext_community_text(c) for c in attrs.ext_communities],
        "large_communities": [large_community_text(c) for c in attrs.large_communities],
    }
    optional: dict[str, Any] = {
        "med": attrs.med,
        "local_pref": attrs.local_pref,
        "aggregator": (
            {"asn": attrs.aggregator[0], "ip": attrs.aggregator[1]} if attrs.aggregator else None
        ),
        "atomic_aggregate": attrs.atomic_aggregate or None,
        "originator_id": attrs.originator_id,
        "cluster_list": list(attrs.cluster_list) or None,
        "otc": attrs.otc,
        "aigp": attrs.aigp,
        "as4_path_ignored": attrs.as4_ignored or None,
        "unknown_attributes": [{"flags": f, "type": t, "hex": v.hex()} for f, t, v in attrs.unknown]
        or None,
    }
    out.update((name, value) for name, value in optional.items() if value is not None)
    out["attribute_types"] = list(attrs.present)
    return out


def _numbers(values: Iterable[int]) -> str:
    return f"[{','.join(map(str, values))}]"


def _strings(values: Iterable[str]) -> str:
    """A JSON list of strings that need no escaping (addresses, community forms, hex)."""
    text = '","'.join(values)
    return f'["{text}"]' if text else "[]"


def _as_path_text(segments: tuple[tuple[int, tuple[int, ...]], ...] | None) -> str:
    parts: list[str] = []
    for seg_type, asns in segments or ():
        if seg_type == 2:
            parts.extend(map(str, asns))
        elif seg_type == 1:
            parts.append(_numbers(asns))
        else:
            name = _SEGMENT_TYPES[seg_type - 1] if 1 <= seg_type <= 4 else str(seg_type)
            parts.append(f'{{"{name}":{_numbers(asns)}}}')
    return f"[{','.join(parts)}]"


def attributes_text(attrs: PathAttributes) -> str:
    """:func:`attributes_json` as compact JSON text, without the braces, built directly:
    every distinct attribute set of a RIB goes through here (80,000 in the jinx RIB, in
    each worker that meets them), and this takes 4 us where ``json`` over the dict takes
    6 (measured). Tests check that both give the same text on every attribute set of the shared
    files."""
    parts = _common_fields(
        _as_path_text(attrs.as_path),
        _numbers(origin_asns(attrs)),
        attrs.origin,
        _strings(map(community_text, attrs.communities)),
        _strings(map(ext_community_text, attrs.ext_communities)),
        _strings(map(large_community_text, attrs.large_communities)),
        attrs.med,
        attrs.local_pref,
        attrs.aggregator,
        attrs.atomic_aggregate,
    )
    if attrs.originator_id is not None:
        parts.append(f'"originator_id":"{attrs.originator_id}"')
    if attrs.cluster_list:
        parts.append(f'"cluster_list":{_strings(attrs.cluster_list)}')
    if attrs.otc is not None:
        parts.append(f'"otc":{attrs.otc}')
    if attrs.aigp is not None:
        parts.append(f'"aigp":{attrs.aigp}')
    if attrs.as4_ignored:
        parts.append('"as4_path_ignored":true')
    if attrs.unknown:
        unknown = ",".join(
            f'{{"flags":{f},"type":{t},"hex":"{v.hex()}"}}' for f, t, v in attrs.unknown
        )
        parts.append(f'"unknown_attributes":[{unknown}]')
    parts.append(f'"attribute_types":{_numbers(attrs.present)}')
    return ",".join(parts)


def _common_fields(
    as_path: str,
    origins: str,
    origin: int | None,
    communities: str,
    ext_communities: str,
    large_communities: str,
    med: int | None,
    local_pref: int | None,
    aggregator: tuple[int, str] | None,
    atomic_aggregate: bool,
) -> list[str]:
    """The attribute fields every route event may have, in schema order, from their
    JSON texts and values (the rarer ones and ``attribute_types`` follow)."""
    parts = [
        f'"as_path":{as_path}',
        f'"origin_asns":{origins}',
        f'"origin":{"null" if origin is None else _ORIGIN_JSON[origin]}',
        f'"communities":{communities}',
        f'"ext_communities":{ext_communities}',
        f'"large_communities":{large_communities}',
    ]
    if med is not None:
        parts.append(f'"med":{med}')
    if local_pref is not None:
        parts.append(f'"local_pref":{local_pref}')
    if aggregator:
        parts.append(f'"aggregator":{{"asn":{aggregator[0]},"ip":"{aggregator[1]}"}}')
    if atomic_aggregate:
        parts.append('"atomic_aggregate":true')
    return parts


def _derived(loop: str | None, length: int) -> str:
    """The start of the ``derived`` block (the flags close it)."""
    return f'"derived":{{"loop":{_json_str(loop) if loop else "null"},"as_path_len":{length},'


def _sequence_derived(asns: tuple[int, ...]) -> tuple[str, str | None]:
    """(start of the derived block, loop class) of an AS path of one AS_SEQUENCE."""
    # A path without a repeated ASN has no loop (nearly all): skip the classifier.
    loop = loop_class(((AS_SEQUENCE, asns),)) if len(set(asns)) < len(asns) else None
    return _derived(loop, len(asns)), loop


def _attr_parts(attrs: PathAttributes) -> tuple[str, str, str | None]:
    """(attribute fields, start of the derived block, loop class) of an attribute set."""
    loop = loop_class(attrs.as_path)
    length = path_length(attrs.as_path) if attrs.as_path else 0
    return attributes_text(attrs), _derived(loop, length), loop


def _state_name(state: int) -> str:
    return BGP_STATES[state] if 0 <= state < len(BGP_STATES) else str(state)


def _json_str(text: str) -> str:
    return json.dumps(text)


class EventEncoder:
    """Encodes the events of one file into (key, value, loop class) triples.

    ``project``, ``collector``, ``file_kind`` and ``file_timestamp`` identify the
    file in event ids and keys. For ``mrtfeed parse`` of a local file they are
    empty/zero, and ``file_url`` (the path as given) identifies it instead: every
    local file had the same ids, and the events of several files in one run shared
    them (a consumer keyed on ids lost events).
    """

    def __init__(
        self,
        *,
        project: str = "",
        collector: str = "",
        file_kind: str = "",
        file_timestamp: int = 0,
        file_url: str = "",
    ) -> None:
        self.collector = collector
        self._id_prefix = f"{project}|{collector}|{file_kind}|{file_timestamp}|" + (
            "" if project or collector else file_url
        )
        self._key_prefix = f"{collector}|"
        self._source_head = (
            f'"source":{{"project":{_json_str(project)},"collector":{_json_str(collector)},'
            f'"file_url":{_json_str(file_url)},"file_kind":{_json_str(file_kind)},'
            f'"file_timestamp":{file_timestamp},'
        )
        self._file_timestamp = file_timestamp
        self._mrt: dict[int, str] = {}
        self._peers: dict[Peer, str] = {}
        self._attrs: dict[PathAttributes, tuple[str, str, str | None]] = {}
        self._flags: dict[int, str] = {}
        #: The communities field by communities (:meth:`rib_blob_body`).
        self._community_texts: dict[tuple[int, ...], str] = {}
        #: Value text from the end of the event id to the prefix, and around the
        #: originated time, by what decides them (see :meth:`encode`).
        self._heads: dict[tuple[int, int, int, Peer], str] = {}
        self._bodies: dict[
            tuple[int, PathAttributes | None, str, int], tuple[str, str, str | None]
        ] = {}
        self._file_hash = blake2b(self._id_prefix.encode(), digest_size=4).hexdigest()
        self._value_start = f'{{"schema_version":1,"event_id":"{self._file_hash}'
        #: Loop classes of the events listed by the last :meth:`encode`, in its order.
        self.loop_classes: list[str] = []

    # -- cached pieces -------------------------------------------------------------

    def _mrt_text(self, mrt_kind: int) -> str:
        text = self._mrt.get(mrt_kind)
        if text is None:
            name = record_type_name(mrt_kind >> 16, mrt_kind & 0xFFFF)
            text = self._mrt[mrt_kind] = f',"mrt_type":"{name}"}}'
        return text

    def _peer_text(self, peer: Peer) -> str:
        text = self._peers.get(peer)
        if text is None:
            text = self._peers[peer] = (
                f'"peer":{{"ip":"{peer.ip}","asn":{peer.asn},'
                f'"bgp_id":{_json_str(peer.bgp_id) if peer.bgp_id else "null"}}}'
            )
        return text

    def _attr_text(self, attrs: PathAttributes) -> tuple[str, str, str | None]:
        """:func:`_attr_parts`, cached by attribute set."""
        cached = self._attrs.get(attrs)
        if cached is None:
            if len(self._attrs) >= _ATTR_CACHE_LIMIT:
                self._attrs.clear()
            cached = self._attrs[attrs] = _attr_parts(attrs)
        return cached

    def rib_blob_body(self, blob: bytes, asn4: bool = True) -> tuple[str, str, str | None] | None:
        """:meth:`_route_body` of a RIB entry straight from its attribute blob, when
        :func:`scan_rib_blob` reads it (nearly always): each distinct blob of a RIB
        goes through here, in each worker that meets it, at half the cost of decoding
        :class:`PathAttributes` first. None: the blob needs the full decoder."""
        scanned = scan_rib_blob(blob, asn4=asn4)
        if scanned is None:
            return None
        asns, next_hop, mp_next_hop = scanned[1:4]
        parts = self._scanned_fields(scanned, _numbers(asns), f"[{asns[-1]}]")
        derived, loop = _sequence_derived(asns)
        flag_json = self._flags.get(Flags.NONE) or self._flag_text(Flags.NONE)
        fields = (",".join(parts), derived, loop)
        return self._body(EventKind.RIB, fields, mp_next_hop or next_hop, flag_json)

    def _scanned_fields(self, scanned: RibBlob, as_path: str, origins: str) -> list[str]:
        """The attribute fields of a scanned blob (:func:`scan_rib_blob`), from the
        texts of its AS path and origin ASes."""
        origin, _, _, _, med, local_pref, atomic, aggregator, comms, large = scanned[:10]
        parts = _common_fields(
            as_path,
            origins,
            origin,
            self._community_texts.get(comms) or self._communities_json(comms),
            "[]",
            _strings(map(large_community_text, large)),
            med,
            local_pref,
            aggregator,
            atomic,
        )
        parts.append(f'"attribute_types":{_numbers(scanned[10])}')
        return parts

    def _communities_json(self, communities: tuple[int, ...]) -> str:
        """The communities field's value, cached (sets of communities repeat)."""
        texts = self._community_texts
        if len(texts) >= _ATTR_CACHE_LIMIT:
            texts.clear()
        text = texts[communities] = _strings(map(community_text, communities))
        return text

    def _flag_text(self, flags: int) -> str:
        text = self._flags.get(flags)
        if text is None:
            names = [f.name.lower() for f in Flags if f & flags and f.name]
            text = self._flags[flags] = f'"flags":{json.dumps(names)}}}'
        return text

    # -- events --------------------------------------------------------------------

    def event_id(self, record_index: int, elem_index: int) -> str:
        """The id of the ``elem_index``-th event of a record: 20 hex digits.

        The first 8 hash the file's identity, the rest are the record index and the
        event's place in the record, so ids are unique, fixed-width and sort in file
        order; no per-event hashing is needed.
        """
        return f"{self._file_hash}{(record_index << 16) | elem_index:012x}"

    def _route_head(self, kind: int, timestamp: int, micro: int, peer: Peer) -> str:
        """From the end of the event id to the opening quote of the prefix."""
        time = f"{timestamp}.{micro:06d}" if micro >= 0 else str(timestamp)
        peer_json = self._peers.get(peer) or self._peer_text(peer)
        return f'","event_type":"{EVENT_TYPES[kind]}","timestamp":{time},{peer_json},"prefix":"'

    def _route_body(
        self,
        kind: int,
        attrs: PathAttributes | None,
        next_hop: str,
        flags: int,
        *,
        cache: bool = True,
    ) -> tuple[str, str, str | None]:
        """The value's text around the originated time (RIB entries only), and the
        loop class; shared by every event with these attributes and flags. ``cache``
        False: the attribute set is used once (its caller caches the result)."""
        flag_json = self._flags.get(flags) or self._flag_text(flags)
        if attrs is None or kind == EventKind.WITHDRAW:
            return f'"derived":{{"loop":null,"as_path_len":0,{flag_json}', "", None
        parts = (self._attrs.get(attrs) or self._attr_text(attrs)) if cache else _attr_parts(attrs)
        return self._body(kind, parts, next_hop, flag_json)

    @staticmethod
    def _body(
        kind: int, parts: tuple[str, str, str | None], next_hop: str, flag_json: str
    ) -> tuple[str, str, str | None]:
        """:meth:`_route_body` of an announcement or RIB entry from its attribute
        set's (fields, derived block start, loop class)."""
        fields, derived, loop = parts
        hop = f'"{next_hop}"' if next_hop else "null"
        if kind == EventKind.RIB:
            return f'"next_hop":{hop},{fields},"originated":', f",{derived}{flag_json}", loop
        return f'"next_hop":{hop},{fields},{derived}{flag_json}', "", loop

    def encode(self, events: Iterable[Event]) -> tuple[list[tuple[bytes, bytes]], list[int]]:
        """(key, value) per event in order, and the positions of events whose AS path
        loops with their loop classes in :attr:`loops`.

        Every piece shared by many events (the text up to the prefix per peer and
        record time, the text after it per attribute set) is built once; an event
        then costs one formatted id and two f-strings.
        """
        out: list[tuple[bytes, bytes]] = []
        append = out.append
        loops: list[int] = []
        loop_classes = self.loop_classes = []
        for cache in (self._heads, self._bodies):
            if len(cache) >= _ATTR_CACHE_LIMIT:
                cache.clear()
        file_hash = self._file_hash
        id_base = ID_BASE
        key_prefix = self._key_prefix
        source_head = self._source_head
        heads = self._heads
        route_head = self._route_head
        bodies = self._bodies
        route_body = self._route_body
        mrt_cache = self._mrt
        mrt_text = self._mrt_text
        rib = EventKind.RIB
        last_record = -1
        elem = 0
        for position, event in enumerate(events):
            if isinstance(event, StateEvent):
                last_record, elem = self._state_event(event, last_record, elem, append)
                continue
            (
                kind,
                record_index,
                timestamp,
                micro,
                mrt_kind,
                peer,
                prefix,
                path_id,
                attrs,
                next_hop,
                originated,
                flags,
            ) = event
            if record_index == last_record:
                elem += 1
            else:
                last_record = record_index
                elem = 0
            head_key = (kind, timestamp, micro, peer)
            head = heads.get(head_key)
            if head is None:
                head = heads[head_key] = route_head(kind, timestamp, micro, peer)
            body_key = (kind, attrs, next_hop, flags)
            body = bodies.get(body_key)
            if body is None:
                body = bodies[body_key] = route_body(kind, attrs, next_hop, flags)
            before, after, loop = body
            if loop is not None:
                loops.append(position)
                loop_classes.append(loop)
            # See ID_BASE.
            number = (record_index << 16) | elem
            event_id = hex(id_base | number)[3:] if number < id_base else f"{number:x}"
            mrt = mrt_cache.get(mrt_kind) or mrt_text(mrt_kind)
            middle = f"{before}{originated}{after}" if kind == rib else before
            append(
                (
                    f"{key_prefix}{peer.ip}|{prefix}|{path_id or 0}".encode(),
                    (
                        f'{{"schema_version":1,"event_id":"{file_hash}{event_id}{head}{prefix}",'
                        f'"path_id":{"null" if path_id is None else path_id},{middle},'
                        f'{source_head}"record_index":{record_index}{mrt}}}'
                    ).encode(),
                )
            )
        return out, loops

    def _state_event(
        self,
        change: StateEvent,
        last_record: int,
        elem: int,
        append: Callable[[tuple[bytes, bytes]], None],
    ) -> tuple[int, int]:
        """Encode a peer state change; returns the (record, place in record) counters."""
        record_index = change.record_index
        elem = elem + 1 if record_index == last_record else 0
        event_id = f"{self._file_hash}{(record_index << 16) | elem:012x}"
        micro = change.microseconds
        timestamp = f"{change.timestamp}.{micro:06d}" if micro >= 0 else change.timestamp
        peer = change.peer
        peer_json = self._peers.get(peer) or self._peer_text(peer)
        mrt = self._mrt.get(change.mrt_kind) or self._mrt_text(change.mrt_kind)
        append(
            (
                f"{self._key_prefix}{peer.ip}".encode(),
                (
                    f'{{"schema_version":1,"event_id":"{event_id}",'
                    f'"event_type":"peer_state","timestamp":{timestamp},'
                    f"{peer_json},"
                    f'"old_state":"{_state_name(change.old_state)}",'
                    f'"new_state":"{_state_name(change.new_state)}",'
                    f'{self._source_head}"record_index":{record_index}{mrt}}}'
                ).encode(),
            )
        )
        return record_index, elem

    def snapshot_marker(self, marker: str, *, record_index: int | None = None) -> bytes:
        """A ``snapshot_begin``/``snapshot_end`` marker for a RIB file.

        Consumers of a compacted RIB topic use the pair to tell a complete table from a
        partial one; the sink writes each marker to every partition.
        """
        # Record index ffffffff never occurs (a 4 GiB file of 12-byte headers at most).
        event_id = f"{self._file_hash}ffffffff{'ffff' if marker == SNAPSHOT_END else 'fffe'}"
        index = "null" if record_index is None else str(record_index)
        return (
            f'{{"schema_version":1,"event_id":"{event_id}","event_type":"{marker}",'
            f'"timestamp":{self._file_timestamp},{self._source_head}"record_index":{index},'
            f'"mrt_type":null}}}}'
        ).encode()

    def marker_key(self) -> bytes:
        return f"{self._key_prefix}snapshot".encode()


def _bool(value: int) -> str:
    return "true" if value else "false"


class EventRows(EventEncoder):
    """The schema-v1 encoder as the base of a :class:`~mrtfeed.decode.lines.RowFormat`:
    the value of a RIB entry from cached pieces, without a RouteEvent (the text
    :meth:`EventEncoder.encode` gives, followed by :attr:`line_end`). Sink messages
    (:class:`~mrtfeed.pipeline.messages.MessageRows`) and JSON lines
    (:class:`~mrtfeed.encode.jsonl.JsonRows`) differ in what they wrap it in."""

    #: Text after each value (a JSON line's newline).
    line_end = ""

    def rib_heads(
        self, peers: Sequence[Peer], mrt_kind: int, timestamp: int
    ) -> list[tuple[str, str, str]]:
        """(key up to the prefix, value from the event id to the prefix, value end)."""
        end = f"{self._mrt.get(mrt_kind) or self._mrt_text(mrt_kind)}}}{self.line_end}"
        return [
            (f"{self._key_prefix}{p.ip}|", self._route_head(EventKind.RIB, timestamp, -1, p), end)
            for p in peers
        ]

    def rib_tail(
        self, attrs: PathAttributes, next_hop: str, flags: Flags = Flags.NONE
    ) -> tuple[str, str, str | None]:
        # Called once per distinct blob (RibRows caches the tail): no attribute cache.
        return self._with_source(
            self._route_body(EventKind.RIB, attrs, next_hop, flags, cache=False)
        )

    def rib_blob_tail(self, blob: bytes, asn4: bool = True) -> tuple[str, str, str | None] | None:
        body = self.rib_blob_body(blob, asn4)
        return None if body is None else self._with_source(body)

    def _with_source(self, body: tuple[str, str, str | None]) -> tuple[str, str, str | None]:
        """A RIB tail: the route body, its text after the originated time running on
        to the record index (the source block is the same for the whole file)."""
        before, after, loop = body
        return before, f'{after},{self._source_head}"record_index":', loop

    def ipv6_prefix(self, prefix: str) -> str:
        return prefix

    def rib_value(
        self,
        head: tuple[str, str, str],
        prefix: str,
        tail: tuple[str, str, str | None],
        originated: int,
        record_index: int,
        position: int,
    ) -> str:
        """The value of a RIB entry (with :attr:`line_end`), from its head and tail."""
        _, value_head, end = head
        before, after, _ = tail
        number = (record_index << 16) | position
        event_id = hex(ID_BASE | number)[3:] if number < ID_BASE else f"{number:x}"
        return (
            f"{self._value_start}{event_id}{value_head}{prefix}"
            f'","path_id":null,{before}{originated}{after}{record_index}{end}'
        )

    # -- plain UPDATE records without events (mrtfeed.decode.update_lines) ------------

    @property
    def scanned_tails(self) -> EventRows:
        return self

    #: The blob scan may not skip attributes: the schema shows ORIGINATOR_ID,
    #: CLUSTER_LIST, extended communities and OTC (blobs with them are decoded).
    scan_lines = False

    def scanned_tail(self, scanned: RibBlob, next_hop: str) -> tuple[str, str]:
        """An announcement's value from the path id to the source block, from a blob
        as :func:`scan_rib_blob` reads it, but for the AS path (:meth:`path_tail`
        puts it in): (up to the path, from after the origin ASes to the derived
        block)."""
        parts = self._scanned_fields(scanned, "", "")[2:]  # without path and origin ASes
        hop = f'"{next_hop}"' if next_hop else "null"
        return f'"next_hop":{hop},', f",{','.join(parts)},"

    def path_tail(
        self, asns: tuple[int, ...], pathless_tail: tuple[str, str]
    ) -> tuple[str, str | None]:
        """(value from the path id to the source block, loop class) of an announcement
        whose AS path is one AS_SEQUENCE of ``asns``, from :meth:`scanned_tail`."""
        head, rest = pathless_tail
        derived, loop = _sequence_derived(asns)
        origins = f"[{asns[-1]}]" if asns else "[]"
        flag_json = self._flags.get(Flags.NONE) or self._flag_text(Flags.NONE)
        text = f'{head}"as_path":{_numbers(asns)},"origin_asns":{origins}{rest}{derived}{flag_json}'
        return text, loop

    def update_heads(self, mrt_kind: int, timestamp: int, micro: int) -> tuple[str, str, str, str]:
        """(announcement head, withdrawal head, value end, withdrawal tail): the value
        from the end of the event id to the peer, from the record index on, and a
        withdrawal's from the path id to the source block."""
        time = f"{timestamp}.{micro:06d}" if micro >= 0 else str(timestamp)
        mrt = self._mrt.get(mrt_kind) or self._mrt_text(mrt_kind)
        return (
            f'","event_type":"announce","timestamp":{time},',
            f'","event_type":"withdraw","timestamp":{time},',
            f"{mrt}}}{self.line_end}",
            self._route_body(EventKind.WITHDRAW, None, "", Flags.NONE)[0],
        )

    def peer_column(self, ip: str, asn: int) -> tuple[str, str]:
        """(key up to the prefix, value from the peer to the prefix) of a BGP4MP peer
        (which has no BGP identifier)."""
        return (
            f"{self._key_prefix}{ip}|",
            f'"peer":{{"ip":"{ip}","asn":{asn},"bgp_id":null}},"prefix":"',
        )

    def update_tail(self, attrs: PathAttributes, next_hop: str) -> tuple[str, str | None]:
        """(value from the path id to the source block, loop class) of an announcement;
        made once per distinct blob, hence not cached by attribute set."""
        before, _, loop = self._route_body(
            EventKind.ANNOUNCE, attrs, next_hop, Flags.NONE, cache=False
        )
        return before, loop

    legacy_tail = update_tail

    def update_rows(
        self,
        out: list[Any],
        record_index: int,
        heads: tuple[str, str, str, str],
        peer: tuple[str, str],
        withdrawn: list[str],
        nlri: list[str],
        nlri_tail: tuple[str, str | None] | None,
        reach: tuple[list[str], tuple[str, str | None]] | None,
    ) -> None:
        """The rows of a plain UPDATE record (see
        :class:`~mrtfeed.decode.update_lines.UpdateRowWriter`), a prefix list at a
        time through :meth:`prefix_rows`: a prefix's value is ``value_start + id +
        before + prefix + after``, the bytes :meth:`encode` gives for its event."""
        announce, withdraw, end, withdraw_tail = heads
        key_head, peer_value = peer
        value_end = f',{self._source_head}"record_index":{record_index}{end}'
        lists: list[tuple[list[str], str, tuple[str, str | None]]] = []
        if withdrawn:
            lists.append((withdrawn, withdraw, (withdraw_tail, None)))
        if nlri:
            assert nlri_tail is not None
            lists.append((nlri, announce, nlri_tail))
        if reach is not None:
            lists.append((reach[0], announce, reach[1]))
        number = record_index << 16
        for texts, head, (tail, loop) in lists:
            ids = event_ids(number, len(texts))
            before = f"{head}{peer_value}"
            after = f'","path_id":null,{tail}{value_end}'
            self.prefix_rows(out, key_head, (texts, ids, before, after, loop))
            number += len(texts)

    def prefix_rows(self, out: list[Any], key_head: str, prefixes: PrefixList) -> None:
        """Append the rows of one prefix list of an UPDATE (:meth:`update_rows`):
        each subclass wraps the values its own way."""
        raise NotImplementedError


def event_ids(first: int, count: int) -> list[str]:
    """The last 12 hex digits of ``count`` event ids from number ``first`` on (see
    :data:`ID_BASE`; larger numbers written in full, as :meth:`EventEncoder.encode`
    does)."""
    stop = first + count
    if stop <= ID_BASE:
        return [hex(ID_BASE | number)[3:] for number in range(first, stop)]
    return [
        hex(ID_BASE | number)[3:] if number < ID_BASE else f"{number:x}"
        for number in range(first, stop)
    ]
