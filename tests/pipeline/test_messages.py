"""The workers' unit of work: filters route events to topics, alerts, early skipping."""

from __future__ import annotations

import json
from itertools import islice

import pytest

from mrtfeed.pipeline.messages import MessageWorker, StreamOptions
from mrtfeed.pipeline.reader import ChunkReader
from mrtfeed.sink.base import Message, SourceFile
from tests.mrtdata import MRT_DIR, mrt_files, reference_lines

NAME = "rrc23.updates.20220421.0200.gz"
FILE = SourceFile("ris", "rrc23", "updates", 1650502800, NAME)


def messages(options: StreamOptions) -> list[Message]:
    worker = MessageWorker(FILE, options)
    out: list[Message] = []
    for chunk in ChunkReader(str(MRT_DIR / NAME)):
        out.extend(worker.process(chunk).messages)
    return out


def test_filters_route_to_their_topics_and_early_skipping_changes_nothing() -> None:
    fields = [line.rstrip("\n").split("|") for line in reference_lines(NAME)]
    peer_asn = max({f[4] for f in fields}, key=lambda asn: sum(f[4] == asn for f in fields))
    expected = sum(1 for f in fields if f[4] == peer_asn)
    sets = (("v6", "ipv6", "t.v6"),)
    expected_v6 = sum(1 for f in fields if f[2] in ("A", "W") and ":" in f[5])
    with_alerts = messages(
        StreamOptions(events_topic="t", events_filter=f"peer-asn {peer_asn}", filter_sets=sets)
    )
    early = messages(
        StreamOptions(
            events_topic="t",
            events_filter=f"peer-asn {peer_asn}",
            filter_sets=sets,
            alert_loops=False,
            alert_unsignalled_addpath=False,
        )
    )
    events = [m for m in with_alerts if m[0] == "t"]
    assert len(events) == expected
    assert all(json.loads(m[2])["peer"]["asn"] == int(peer_asn) for m in events)
    assert len([m for m in with_alerts if m[0] == "t.v6"]) == expected_v6
    assert [m for m in early if m[0] in ("t", "t.v6")] == [
        m for m in with_alerts if m[0] in ("t", "t.v6")
    ]


def test_loop_alerts_embed_the_event_and_name_the_class() -> None:
    out = messages(StreamOptions(events_topic="t", alerts_topic="a"))
    alerts = [json.loads(m[2]) for m in out if m[0] == "a"]
    events = {json.loads(m[2])["event_id"]: json.loads(m[2]) for m in out if m[0] == "t"}
    assert alerts, "this RIS file has looped paths"
    for alert in alerts:
        assert alert["alert_type"] == "as_path_loop"
        assert alert["alert_class"] == alert["event"]["derived"]["loop"] != None  # noqa: E711
        assert events[alert["event"]["event_id"]] == alert["event"]


@pytest.mark.parametrize("name", mrt_files())
def test_rows_equal_the_event_path(name: str) -> None:
    """Without filters RIB entries and plain UPDATEs become messages without
    RouteEvents; every message, alert, count and stop position must be what the event
    path gives."""
    file = SourceFile("routeviews", "route-views.test", "ribs", 1401487200, name)
    options = StreamOptions(events_topic="t", alerts_topic="a")
    fused, events_path = MessageWorker(file, options), MessageWorker(file, options)
    assert fused.rows is not None
    events_path.rows = None
    # The first 10 chunks (640 KB of compressed input) of each file.
    for chunk in islice(ChunkReader(str(MRT_DIR / name), 1 << 16), 10):
        ours, theirs = fused.process(chunk), events_path.process(chunk)
        assert ours.messages == theirs.messages
        assert (ours.alerts, ours.events, ours.filter_matches) == (
            theirs.alerts,
            theirs.events,
            theirs.filter_matches,
        )
        assert (ours.next_offset, ours.next_record_index) == (
            theirs.next_offset,
            theirs.next_record_index,
        )
        assert (ours.error is None) == (theirs.error is None)
        if ours.error is not None and theirs.error is not None:
            where = (ours.error.message, ours.error.offset, ours.error.record_index)
            assert where == (theirs.error.message, theirs.error.offset, theirs.error.record_index)
        assert ours.stats.record_kinds == theirs.stats.record_kinds
