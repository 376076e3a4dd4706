"""stream_file with the embedded JSON-lines sink: whole files, resume after a crash,
damaged input, RIB snapshot markers, and the same bytes inline and in a pool."""

from __future__ import annotations

import bz2
import gzip
import json
import struct
from concurrent.futures import ProcessPoolExecutor
from itertools import pairwise
from pathlib import Path

import pytest

from mrtfeed.pipeline.stream import STREAM_PIECE_SIZE, StreamOptions, stream_file
from mrtfeed.sink.base import Batch, SourceFile
from mrtfeed.sink.jsonl import JsonlSink
from tests.mrtdata import MRT_DIR, reference_lines

UPDATES = "rrc23.updates.20220421.0200.gz"
RIB = "bview.20020722.2337.gz"
SMALL_READS = 16 * 1024  # many chunks, hence many batches and checkpoints


class Crash(Exception):
    """Stands for the process dying between a write and its commit."""


def source(name: str, kind: str = "updates") -> SourceFile:
    return SourceFile("ris", "rrc23", kind, 1650502800, f"https://data.ris.ripe.net/x/{name}")


async def run(
    name: str,
    out: Path,
    *,
    crash_after: int | None = None,
    executor: ProcessPoolExecutor | None = None,
    kind: str = "updates",
    path: Path | None = None,
) -> tuple[int, int]:
    """Stream a file into ``out``; returns (records this run, resumed-from record)."""
    sink = JsonlSink(str(out))
    await sink.start()
    seen = 0

    def on_batch(batch: Batch) -> None:
        nonlocal seen
        seen += 1
        if crash_after is not None and seen > crash_after:
            raise Crash

    report = await stream_file(
        path or MRT_DIR / name,
        source(name, kind),
        sink,
        StreamOptions(alert_loops=False),
        executor,
        on_batch=on_batch,
        read_size=SMALL_READS,
        commit_interval=0,
    )
    await sink.close()
    assert report.error is None
    return report.records, report.resumed_from_record


def event_lines(out: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.read_text().splitlines()]


def record_index(row: dict[str, object]) -> int:
    """The ``source.record_index`` of an event line."""
    source = row["source"]
    assert isinstance(source, dict)
    index = source["record_index"]
    assert isinstance(index, int)
    return index


async def test_every_event_of_an_updates_file_is_written_once(tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    records, _ = await run(UPDATES, out)
    rows = event_lines(out)
    assert len(rows) == len(reference_lines(UPDATES))
    assert len({row["event_id"] for row in rows}) == len(rows)
    assert records > 0


async def test_a_crash_between_write_and_commit_resumes_without_loss_or_repeat(
    tmp_path: Path,
) -> None:
    whole = tmp_path / "whole.jsonl"
    await run(UPDATES, whole)
    out = tmp_path / "events.jsonl"
    for crash_after in (3, 7, 8):
        with pytest.raises(Crash):
            await run(UPDATES, out, crash_after=crash_after)
        # What a crash leaves: lines of the uncommitted batch may be on disk or not.
    _, resumed = await run(UPDATES, out)
    assert resumed > 0
    assert out.read_bytes() == whole.read_bytes()
    # A finished file is not streamed again.
    records, _ = await run(UPDATES, out)
    assert records == 0 and out.read_bytes() == whole.read_bytes()


async def test_pool_and_inline_write_identical_bytes(tmp_path: Path) -> None:
    inline, pooled = tmp_path / "inline.jsonl", tmp_path / "pooled.jsonl"
    await run(UPDATES, inline)
    with ProcessPoolExecutor(2) as executor:
        await run(UPDATES, pooled, executor=executor)
    assert inline.read_bytes() == pooled.read_bytes()


async def test_rib_events_sit_between_snapshot_markers(tmp_path: Path) -> None:
    out = tmp_path / "rib.jsonl"
    records, _ = await run(RIB, out, kind="ribs")
    rows = event_lines(out)
    assert rows[0]["event_type"] == "snapshot_begin"
    assert rows[-1]["event_type"] == "snapshot_end"
    assert record_index(rows[-1]) == records
    assert {row["event_type"] for row in rows[1:-1]} == {"rib"}
    assert len(rows) - 2 == len(reference_lines(RIB))


async def test_damaged_file_keeps_the_events_before_the_damage(tmp_path: Path) -> None:
    data = gzip.decompress((MRT_DIR / UPDATES).read_bytes())
    broken = tmp_path / "broken.mrt"
    broken.write_bytes(data[: len(data) // 2])
    out = tmp_path / "events.jsonl"
    sink = JsonlSink(str(out))
    await sink.start()
    options = StreamOptions(alert_loops=False)
    report = await stream_file(broken, source(UPDATES), sink, options, read_size=4096)
    await sink.close()
    assert report.error is not None and report.error.offset is not None
    assert report.error.record_index == report.records
    expected = sum(1 for row in event_lines(out) if record_index(row) < report.records)
    assert expected == len(event_lines(out)) > 0
    # The bgpdump reference has exactly these events first.
    reference = [line.rstrip("\n").split("|") for line in reference_lines(UPDATES)]
    reference = reference[: len(event_lines(out))]
    assert [fields[5] for fields in reference if fields[2] in ("A", "W")] == [
        row["prefix"] for row in event_lines(out) if row["event_type"] in ("announce", "withdraw")
    ]
    # The file is finished (a restart does not retry it); the damage is the caller's
    # to report and quarantine.
    again = JsonlSink(str(out))
    await again.start()
    checkpoint = await again.checkpoint(source(UPDATES))
    await again.close()
    assert checkpoint is not None and checkpoint.done
    assert checkpoint.next_record_index == report.records


async def test_chunks_stay_bounded_whatever_the_compression_ratio(tmp_path: Path) -> None:
    """8 MB of one KEEPALIVE record repeated compresses to a few kB: each 64 kB read
    would otherwise have become one chunk of megabytes (and its messages, held until
    committed). Every checkpoint advances by at most a piece plus one record."""
    body = struct.pack(">HHHH", 65001, 65002, 0, 1) + bytes(8) + b"\xff" * 16 + b"\x00\x13\x04"
    record = struct.pack(">IHHI", 1650502800, 16, 1, len(body)) + body
    count = 8_000_000 // len(record)
    path = tmp_path / "keepalives.bz2"
    path.write_bytes(bz2.compress(record * count))
    assert path.stat().st_size < 10_000
    offsets: list[int] = [0]

    def on_batch(batch: Batch) -> None:
        offsets.append(batch.checkpoint.next_offset)

    sink = JsonlSink(str(tmp_path / "events.jsonl"))
    await sink.start()
    report = await stream_file(
        path, source("keepalives"), sink, StreamOptions(), on_batch=on_batch, commit_interval=0
    )
    await sink.close()
    assert report.error is None and report.records == count
    assert offsets[-1] == count * len(record)
    steps = [b - a for a, b in pairwise(offsets)]
    assert max(steps) <= STREAM_PIECE_SIZE + len(record)
    assert len(steps) >= 8_000_000 // (STREAM_PIECE_SIZE + len(record))
