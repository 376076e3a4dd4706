"""The JSON event schema v1: every event of real files validates, ids and keys behave.

Why real files: the schema must hold for what collectors write (AS_SETs, ADD-PATH,
state changes, IPv6, unknown attributes), not for a hand-made sample.
"""

from __future__ import annotations

import json
from collections import Counter
from importlib.resources import files
from typing import Any

import jsonschema
import pytest

from mrtfeed.decode.events import Event
from mrtfeed.encode.event import (
    SNAPSHOT_BEGIN,
    SNAPSHOT_END,
    EventEncoder,
    attributes_json,
    attributes_text,
)
from mrtfeed.pipeline.decoding import file_events
from tests.mrtdata import MRT_DIR, mrt_files, reference_lines

SCHEMA = json.loads(files("mrtfeed").joinpath("schema/event.v1.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)

FILES = [
    "185.186.nlix.mrt",  # TABLE_DUMP_V2, large communities, AS_SET
    "rrc23.updates.20220421.0200.gz",  # BGP4MP AS4, IPv6, state changes
    "updates.20071015.1505.gz",
    "bird_bgp",  # un-signalled ADD-PATH (flagged)
    "updates.et-header.2015.gz",  # BGP4MP_ET microseconds
]
#: Validating costs ~0.5 ms per object; a spread sample of big files says as much.
SAMPLE = 1000


#: Files decoded only in part: their first chunks say enough and the rest costs time.
PARTIAL = {"updates.et-header.2015.gz": 2}


def decode_file(name: str) -> list[Event]:
    return file_events(str(MRT_DIR / name), max_chunks=PARTIAL.get(name))


def encode_file(name: str, **identity: Any) -> list[tuple[bytes, dict[str, Any]]]:
    encoder = EventEncoder(**identity)
    pairs, _ = encoder.encode(decode_file(name))
    return [(key, json.loads(value)) for key, value in pairs]


@pytest.mark.parametrize("name", FILES)
def test_every_event_of_a_real_file_validates(name: str) -> None:
    rows = encode_file(name, project="ris", collector="rrc00", file_kind="updates")
    if name not in PARTIAL and name != "bird_bgp":  # bird_bgp: bgpdump#9, see conformance
        assert len(rows) == len(reference_lines(name))
    step = max(1, len(rows) // SAMPLE)
    for _, row in rows[::step]:
        VALIDATOR.validate(row)


def test_event_ids_are_unique_and_replays_repeat_them() -> None:
    name = "rrc23.updates.20220421.0200.gz"
    first = [row["event_id"] for _, row in encode_file(name, collector="rrc23")]
    again = [row["event_id"] for _, row in encode_file(name, collector="rrc23")]
    assert len(set(first)) == len(first) == len(reference_lines(name))
    assert first == again
    other = [row["event_id"] for _, row in encode_file(name, collector="rrc21")]
    assert not set(first) & set(other)


def test_ids_ignore_the_url_but_keys_name_the_route() -> None:
    name = "185.186.nlix.mrt"
    a = encode_file(name, collector="nlix", file_url="https://archive.routeviews.org/x")
    b = encode_file(name, collector="nlix", file_url="https://mirror.example/x")
    assert [r["event_id"] for _, r in a] == [r["event_id"] for _, r in b]
    key, row = a[0]
    assert key == f"nlix|{row['peer']['ip']}|{row['prefix']}|0".encode()


def test_counts_by_type_match_the_bgpdump_reference() -> None:
    name = "rrc23.updates.20220421.0200.gz"
    types = Counter(row["event_type"] for _, row in encode_file(name))
    columns = Counter(line.split("|")[2] for line in reference_lines(name))
    assert types["announce"] == columns["A"]
    assert types["withdraw"] == columns["W"]
    assert types["peer_state"] == columns["STATE"]


def test_as_sets_and_loops_are_kept_and_classified() -> None:
    rows = [row for _, row in encode_file("185.186.nlix.mrt")]
    with_set = [r for r in rows if any(isinstance(x, list) for x in r["as_path"])]
    assert with_set, "the nlix RIB has AS_SET paths"
    for row in with_set:
        assert row["origin_asns"] == sorted(set(row["as_path"][-1]))
    jinx_like = [r for r in rows if r["derived"]["loop"] is not None]
    for row in jinx_like:
        assert row["derived"]["loop"] in ("nonadjacent", "as_set")


def test_unsignalled_addpath_is_flagged() -> None:
    rows = [row for _, row in encode_file("bird_bgp")]
    routes = [r for r in rows if r["event_type"] != "peer_state"]
    flagged = [r for r in routes if "unsignalled_addpath" in r["derived"]["flags"]]
    assert flagged and all(r["path_id"] is not None for r in flagged)


def test_snapshot_markers_validate_and_bracket_the_ids() -> None:
    encoder = EventEncoder(project="routeviews", collector="route-views2", file_kind="ribs")
    begin = json.loads(encoder.snapshot_marker(SNAPSHOT_BEGIN))
    end = json.loads(encoder.snapshot_marker(SNAPSHOT_END, record_index=12))
    for marker in (begin, end):
        VALIDATOR.validate(marker)
    ids = {begin["event_id"], end["event_id"], encoder.event_id(0, 0), encoder.event_id(12, 3)}
    assert len(ids) == 4
    assert end["source"]["record_index"] == 12


@pytest.mark.parametrize("name", mrt_files())
def test_attribute_text_is_the_json_of_the_attribute_fields(name: str) -> None:
    """The hand-built attribute text equals ``json`` over :func:`attributes_json` for
    every distinct attribute set of every shared file (first chunks of the big ones)."""
    seen: set[int] = set()
    for event in file_events(str(MRT_DIR / name), max_chunks=3):
        attrs = getattr(event, "attrs", None)
        if attrs is None or id(attrs) in seen:
            continue
        seen.add(id(attrs))
        expected = json.dumps(attributes_json(attrs), separators=(",", ":"))[1:-1]
        assert attributes_text(attrs) == expected
