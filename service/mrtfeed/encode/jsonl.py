"""JSON lines: one object per event; the fields are documented in README.md."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from typing import Any

from mrtfeed.decode.attributes import PathAttributes, format_as_path
from mrtfeed.decode.events import BGP_STATES, Event, EventKind, Flags, RouteEvent
from mrtfeed.encode.bgpdump import community_text
from mrtfeed.encode.communities import ext_community_text

SCHEMA_VERSION = 1
_KINDS = ("rib", "announce", "withdraw", "peer_state")
_ORIGINS = ("IGP", "EGP", "INCOMPLETE")


@cache
def _flag_names(flags: Flags) -> tuple[str, ...]:
    """Lower-case names of the set flags; few distinct values, so computed once each."""
    return tuple(f.name.lower() for f in Flags if f in flags and f.name and f)


def attributes_json(attrs: PathAttributes) -> dict[str, Any]:
    """The attribute part of an event, shared by all events of one attribute set."""
    origin = attrs.origin
    out: dict[str, Any] = {
        "as_path": format_as_path(attrs.as_path),
        "as_path_segments": [
            {"type": ("set", "sequence", "confed_sequence", "confed_set")[t - 1], "asns": list(a)}
            for t, a in attrs.as_path or ()
        ],
        "origin": _ORIGINS[origin] if origin is not None and origin < 3 else None,
        "med": attrs.med,
        "local_pref": attrs.local_pref,
        "communities": [community_text(c) for c in attrs.communities],
        "ext_communities": [ext_community_text(c) for c in attrs.ext_communities],
        "large_communities": [f"{a}:{b}:{c}" for a, b, c in attrs.large_communities],
        "atomic_aggregate": attrs.atomic_aggregate,
        "aggregator": (
            {"asn": attrs.aggregator[0], "ip": attrs.aggregator[1]} if attrs.aggregator else None
        ),
        "originator_id": attrs.originator_id,
        "cluster_list": list(attrs.cluster_list),
        "otc": attrs.otc,
        "aigp": attrs.aigp,
        "as4_path_ignored": attrs.as4_ignored,
        "unknown_attributes": [
            {"flags": f, "type": t, "hex": v.hex()} for f, t, v in attrs.unknown
        ],
    }
    return out


class JsonEncoder:
    """Serialises events; the attribute part is rendered once per attribute set."""

    def __init__(self, *, source: str = "") -> None:
        self.source = source
        self._attr_json: dict[PathAttributes, str] = {}

    def _attrs(self, attrs: PathAttributes) -> str:
        text = self._attr_json.get(attrs)
        if text is None:
            if len(self._attr_json) > 100_000:
                self._attr_json.clear()
            text = self._attr_json[attrs] = json.dumps(attributes_json(attrs))[1:-1]
        return text

    def encode(self, events: Sequence[Event]) -> str:
        lines: list[str] = []
        dumps = json.dumps
        for event in events:
            peer = event.peer
            head: dict[str, Any] = {
                "schema_version": SCHEMA_VERSION,
                "event_type": _KINDS[event.kind],
                "timestamp": event.timestamp
                + (event.microseconds / 1e6 if event.microseconds >= 0 else 0),
                "peer_ip": peer.ip,
                "peer_asn": peer.asn,
                "record_index": event.record_index,
                "mrt_type": event.mrt_kind >> 16,
                "mrt_subtype": event.mrt_kind & 0xFFFF,
            }
            if isinstance(event, RouteEvent):
                head["prefix"] = event.prefix
                head["path_id"] = event.path_id
                head["flags"] = _flag_names(event.flags)
                if event.kind == EventKind.RIB:
                    head["originated"] = event.originated
                if event.attrs is not None and event.kind != EventKind.WITHDRAW:
                    head["next_hop"] = event.next_hop or None
                    lines.append(f"{dumps(head)[:-1]}, {self._attrs(event.attrs)}}}\n")
                    continue
            else:
                head["old_state"] = (
                    BGP_STATES[event.old_state] if event.old_state < 9 else str(event.old_state)
                )
                head["new_state"] = (
                    BGP_STATES[event.new_state] if event.new_state < 9 else str(event.new_state)
                )
            lines.append(dumps(head) + "\n")
        return "".join(lines)
