"""End to end with the embedded sink: archive servers -> `Service` -> JSON lines file.

Real parts only: two loopback archive servers (Apache and nginx styles) serving real MRT
files, the real fetcher, a real process pool and the JSON-lines sink; the expected
events come from the offline decoder (``mrtfeed parse -f json``), a separate code path.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mrtfeed.archive.model import Kind
from mrtfeed.service.app import Service
from mrtfeed.sink.base import Batch
from tests.fetch.archive_server import ArchiveServer, Fault, mrt_bytes, ris_path
from tests.service.helpers import (
    DAMAGED_TIME,
    EVENT_TYPES,
    build_tree,
    events_by_file,
    expected_by_file,
    expected_events,
    get,
    metric,
    read_jsonl,
    service_config,
    wait_all_processed,
    wait_until,
)

DAY = datetime(2024, 3, 1, tzinfo=UTC)


async def test_run_delivers_every_event_and_reports_it(tmp_path: Path) -> None:
    async with ArchiveServer("apache") as rv, ArchiveServer("nginx") as ris:
        files = build_tree(rv, ris, DAY, damaged=True)
        config = service_config(tmp_path, rv, ris, DAY)
        service = Service(config)
        task = asyncio.create_task(service.run())
        try:
            text = await wait_all_processed(service, files)
            assert service.http is not None
            base = f"http://127.0.0.1:{service.http.port}"
            assert (await get(base + "/readyz"))[0] == 200
            assert (await get(base + "/livez"))[0] == 200
            assert (await get(base + "/healthz"))[0] == 200
            _, status_text = await get(base + "/status")
        finally:
            service.stop.set()
            assert await asyncio.wait_for(task, 60) == 0

    lines = read_jsonl(tmp_path / "events.jsonl")
    got = events_by_file(lines)
    assert got == expected_by_file(files)
    ids = [e["event_id"] for e in lines if e.get("event_type") in EVENT_TYPES]
    assert len(set(ids)) == len(ids)  # no duplicates
    total = sum(got.values(), Counter())

    # /metrics counts match what landed
    for event_type, n in total.items():
        assert metric(text, "mrtfeed_events_total", event_type=event_type) == n
    assert metric(text, "mrtfeed_files_processed_total", outcome="ok") == len(files) - 1
    assert metric(text, "mrtfeed_files_processed_total", outcome="damaged") == 1
    assert metric(text, "mrtfeed_files_quarantined_total") == 1
    assert metric(text, "mrtfeed_downloads_total", outcome="ok") == len(files)
    assert metric(text, "mrtfeed_files_discovered_total") == len(files)
    assert metric(text, "mrtfeed_build_info") == 1
    assert (
        metric(
            text,
            "mrtfeed_collector_last_file_timestamp_seconds",
            project="ris",
            collector="rrc06",
            kind="updates",
        )
        == max(
            f.nominal for f in files if f.collector == "rrc06" and f.kind == "updates"
        ).timestamp()
    )
    quarantined = list((tmp_path / "state" / "quarantine").rglob("*.bz2"))
    assert [q.name for q in quarantined] == [f"updates.{DAY + DAMAGED_TIME:%Y%m%d.%H%M}.bz2"]
    doc = json.loads(status_text)
    assert set(doc["collectors"]) == {
        "routeviews/route-views.jinx",
        "routeviews/route-views2",
        "ris/rrc06",
    }
    assert doc["files"]["quarantined"] == 1 and doc["files"]["ok"] == len(files) - 1
    assert doc["collectors"]["ris/rrc06"]["ribs"]["last_file_time"] == DAY.isoformat()


async def test_a_loop_that_dies_stops_the_service_with_status_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken_loop(self: Service) -> None:
        raise RuntimeError("stale check crashed")

    monkeypatch.setattr(Service, "_stale_loop", broken_loop)
    async with ArchiveServer("apache") as rv, ArchiveServer("nginx") as ris:
        service = Service(service_config(tmp_path, rv, ris, DAY))
        assert await asyncio.wait_for(service.run(), 60) == 1
    assert service.status.fatal is not None and "stale check crashed" in service.status.fatal


async def test_a_slow_sink_holds_decoding_back(tmp_path: Path) -> None:
    """Memory stays bounded: with a sink slower than the decoder, chunks in the pool
    never exceed queues.files x queues.chunks, and nothing is lost."""
    from tests.service.fakes import MemorySink

    class SlowSink(MemorySink):
        async def write(self, batch: Batch) -> None:
            await asyncio.sleep(0.02)  # a slow broker, not a synchronisation
            await super().write(batch)

    sink = SlowSink()
    async with ArchiveServer("apache") as rv, ArchiveServer("nginx") as ris:
        t = DAY
        ris.put(ris_path("rrc01", Kind.UPDATES, t), mrt_bytes("rrc01.updates.20241001.0055.gz"))
        config = service_config(
            tmp_path,
            rv,
            ris,
            DAY,
            queues={"files": 1, "chunks": 2},
            archives={"routeviews": {"enabled": False}, "ris": {"base_url": ris.base_url}},
        )
        service = Service(config, sink=sink)
        task = asyncio.create_task(service.run())
        try:
            await wait_until(lambda: service.status.files_ok == 1, "the file processed", 180)
            assert service.pool is not None
            assert 1 <= service.pool.max_inflight <= 2
        finally:
            service.stop.set()
            assert await asyncio.wait_for(task, 60) == 0
    values = [json.loads(m[2]) for m in sink.committed]
    route = [v for v in values if v["event_type"] in EVENT_TYPES]
    assert Counter(v["event_type"] for v in route) == expected_events(
        "rrc01.updates.20241001.0055.gz"
    )


async def test_a_download_that_keeps_failing_is_named_in_status_errors(tmp_path: Path) -> None:
    """Download failures showed in metrics and logs only: /status, where an operator
    looks for what is wrong, listed none of them."""
    async with ArchiveServer("apache") as rv, ArchiveServer("nginx") as ris:
        path = ris_path("rrc01", Kind.UPDATES, DAY)
        ris.put(path, mrt_bytes("rrc01.updates.20241001.0055.gz"))
        ris.inject(path, Fault.truncate(keep=100, times=-1))
        config = service_config(
            tmp_path,
            rv,
            ris,
            DAY,
            archives={"routeviews": {"enabled": False}, "ris": {"base_url": ris.base_url}},
        )
        service = Service(config)
        task = asyncio.create_task(service.run())
        try:
            await wait_until(
                lambda: any("download failed" in e["error"] for e in service.status.errors),
                "the download failure in the status",
                detail=lambda: list(service.status.errors),
            )
            assert service.http is not None
            _, status_text = await get(f"http://127.0.0.1:{service.http.port}/status")
        finally:
            service.stop.set()
            assert await asyncio.wait_for(task, 60) == 0
    errors = json.loads(status_text)["errors"]
    assert [e["what"] for e in errors] == ["ris:rrc01:updates:20240301T0000Z"]
    assert "truncated" in errors[0]["error"]
    assert service.status.files_ok == 0
