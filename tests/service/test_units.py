"""Unit tests of the service's stages, each alone, with an in-memory sink."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mrtfeed.archive.model import FileId, Kind, Project
from mrtfeed.config import Config
from mrtfeed.fetch.download import ReadyFile
from mrtfeed.observe.metrics import ServiceMetrics
from mrtfeed.observe.server import ALL_INTERFACES, HttpServer
from mrtfeed.observe.status import ServiceStatus
from mrtfeed.pipeline.messages import StreamOptions
from mrtfeed.service.alerts import StaleWatch
from mrtfeed.service.processor import FileProcessor, ShutdownRequested, source_file
from mrtfeed.service.quarantine import Quarantine
from mrtfeed.service.sinks import MeteredSink
from mrtfeed.sink.base import AbortedWithOthers, Batch, Checkpoint, OutMessage, SourceFile
from mrtfeed.state.store import MemoryStateStore
from tests.fetch.archive_server import TRUNCATED_BZ2, mrt_bytes
from tests.mrtdata import reference_lines
from tests.service.fakes import MemorySink
from tests.service.helpers import damaged_updates, get, metric

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def ready_file(tmp: Path, data: bytes, minute: int = 0) -> ReadyFile:
    fid = FileId(
        Project.ROUTEVIEWS, "route-views.jinx", Kind.UPDATES, T0 + timedelta(minutes=minute)
    )
    name = f"updates.{fid.nominal:%Y%m%d.%H%M}.bz2"
    path = tmp / "downloads" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return ReadyFile(
        fid, path, f"http://x/{name}", name, len(data), hashlib.sha256(data).hexdigest(), "bz2"
    )


def processor(
    tmp: Path, sink: MemorySink, stop: asyncio.Event | None = None
) -> tuple[FileProcessor, ServiceMetrics, ServiceStatus]:
    metrics = ServiceMetrics()
    status = ServiceStatus()
    proc = FileProcessor(
        MeteredSink(sink, metrics),
        StreamOptions(),
        None,  # inline decoding: the pool is exercised end to end
        metrics,
        status,
        Quarantine(tmp / "quarantine", max_bytes=2**30),
        stop or asyncio.Event(),
        max_failures=2,
    )
    return proc, metrics, status


def registry_text(metrics: ServiceMetrics) -> str:
    from prometheus_client import generate_latest

    return generate_latest(metrics.registry).decode()


async def test_good_file_is_committed_and_counted(tmp_path: Path) -> None:
    sink = MemorySink()
    proc, metrics, status = processor(tmp_path, sink)
    ready = ready_file(tmp_path, mrt_bytes("updates.bz2"))
    await proc(ready)
    text = registry_text(metrics)
    events = [json.loads(m[2]) for m in sink.committed]
    assert events and sink.checkpoints[proc.reports[-1].file_key].done
    assert metric(text, "mrtfeed_events_total") == len(events)
    assert metric(text, "mrtfeed_files_processed_total", outcome="ok") == 1
    assert metric(text, "mrtfeed_kafka_messages_sent_total", outcome="ok") == len(events)
    assert status.files_ok == 1 and not status.in_progress
    # a second hand-over of the same file (e.g. the state store was lost) adds nothing
    await proc(ready)
    assert len(sink.committed) == len(events)
    assert metric(registry_text(metrics), "mrtfeed_files_processed_total", outcome="skipped") == 1


async def test_damaged_file_is_quarantined_and_the_service_goes_on(tmp_path: Path) -> None:
    sink = MemorySink()
    proc, metrics, status = processor(tmp_path, sink)
    ready = ready_file(tmp_path, damaged_updates())
    await proc(ready)  # returns: the fetcher marks it done
    moved = tmp_path / "quarantine" / "routeviews" / "route-views.jinx" / ready.name
    assert moved.exists() and not ready.path.exists()
    note = json.loads(moved.with_name(moved.name + ".json").read_text())
    assert note["file"] == ready.file_id.key and "record 10" in note["reason"]
    assert status.files_damaged == 1 and status.quarantined == 1
    assert status.errors[-1]["what"] == ready.file_id.key
    text = registry_text(metrics)
    assert metric(text, "mrtfeed_files_quarantined_total") == 1
    assert metric(text, "mrtfeed_records_malformed_total", reason="bad_record") == 1


def test_quarantine_keeps_its_newest_files_within_its_size(tmp_path: Path) -> None:
    """Before, it grew without bound on the state volume, beside the downloads."""
    quarantine = Quarantine(tmp_path / "quarantine", max_bytes=250)
    moved = [quarantine.put(ready_file(tmp_path, bytes(100), minute=m), "bad") for m in range(3)]
    assert [p.exists() for p in moved] == [False, True, True]
    assert not moved[0].with_name(moved[0].name + ".json").exists()
    assert moved[1].with_name(moved[1].name + ".json").exists()
    # the file just quarantined stays, whatever its size, for the operator it alerts
    huge = quarantine.put(ready_file(tmp_path, bytes(300), minute=3), "bad")
    assert huge.exists() and not any(p.exists() for p in moved)
    # a lowered limit applies at the next start
    assert Quarantine(tmp_path / "quarantine", max_bytes=0).prune() == [huge]


async def test_a_file_damaged_on_the_archive_keeps_its_records_and_is_quarantined(
    tmp_path: Path,
) -> None:
    """The fetcher hands over a file whose own copy on the archive is cut (the same
    bytes twice): its records before the cut are committed, then it is quarantined."""
    sink = MemorySink()
    proc, _, status = processor(tmp_path, sink)
    ready = ready_file(tmp_path, mrt_bytes(TRUNCATED_BZ2))
    await proc(ready)
    assert len(sink.committed) == len(reference_lines(TRUNCATED_BZ2))
    assert status.files_damaged == 1 and status.quarantined == 1
    moved = tmp_path / "quarantine" / "routeviews" / "route-views.jinx" / ready.name
    assert "stream ends" in json.loads(moved.with_name(moved.name + ".json").read_text())["reason"]


async def test_failing_file_is_retried_then_quarantined(tmp_path: Path) -> None:
    sink = MemorySink(fail_writes=2)
    proc, metrics, status = processor(tmp_path, sink)
    ready = ready_file(tmp_path, mrt_bytes("updates.bz2"))
    with pytest.raises(ConnectionError):
        await proc(ready)  # first failure: re-raised, the fetcher retries later
    assert ready.path.exists()
    await proc(ready)  # second failure (max_failures=2): quarantined, no exception
    assert not ready.path.exists()
    assert status.quarantined == 1 and status.files_failed == 2
    assert metric(registry_text(metrics), "mrtfeed_files_processed_total", outcome="failed") == 2


async def test_sink_down_is_not_blamed_on_the_file(tmp_path: Path) -> None:
    sink = MemorySink(fail_writes=5)
    proc, _, status = processor(tmp_path, sink)
    ready = ready_file(tmp_path, mrt_bytes("updates.bz2"))
    sink._ready = False
    for _ in range(4):
        with pytest.raises(ConnectionError):
            await proc(ready)
    assert status.quarantined == 0 and ready.path.exists()


async def test_a_file_whose_last_batch_was_lost_with_another_files_commit_restarts(
    tmp_path: Path,
) -> None:
    """Another file's failed commit aborted the Kafka transaction holding this file's
    last batch; this file's own commit then returned, and the file counted as done
    with its last events lost. Not its fault either: it is never quarantined for it."""
    sink = MemorySink(lose_commits=3)
    proc, _, status = processor(tmp_path, sink)  # max_failures=2
    ready = ready_file(tmp_path, mrt_bytes("updates.bz2"))
    for _ in range(3):
        with pytest.raises(AbortedWithOthers):
            await proc(ready)
    await proc(ready)
    assert status.quarantined == 0 and status.files_ok == 1
    key = source_file(ready).key
    assert sink.checkpoints[key].done

    once = MemorySink()
    proc_once, _, _ = processor(tmp_path / "once", once)
    await proc_once(ready_file(tmp_path / "once", mrt_bytes("updates.bz2")))
    assert sink.committed == once.committed  # every event once, none lost


async def test_stop_ends_a_file_at_a_batch_boundary(tmp_path: Path) -> None:
    sink = MemorySink()
    stop = asyncio.Event()
    proc, _, _ = processor(tmp_path, sink, stop)
    stop.set()
    with pytest.raises(ShutdownRequested):
        await proc(ready_file(tmp_path, mrt_bytes("updates.bz2")))
    assert sink.committed == []


async def test_stale_collector_alert_once_and_not_after_restart() -> None:
    sink = MemorySink()
    status = ServiceStatus()
    metrics = ServiceMetrics()
    store = MemoryStateStore()
    fid = FileId(Project.RIS, "rrc00", Kind.UPDATES, T0)
    store.mark_done(fid)

    def watch(status: ServiceStatus) -> StaleWatch:
        return StaleWatch(
            MeteredSink(sink, metrics),
            status,
            metrics,
            store,
            alerts_topic="alerts",
            stale_after=timedelta(hours=1),
            known_series=lambda: [(Project.RIS, "rrc00", Kind.UPDATES)],
        )

    w = watch(status)
    # the newest file is seeded from the state store; 5 min cadence + 1 h
    assert await w.check(T0 + timedelta(minutes=64)) == []
    assert await w.check(T0 + timedelta(minutes=66)) == ["ris/rrc00/updates"]
    assert await w.check(T0 + timedelta(minutes=90)) == []  # raised once
    (alert,) = [json.loads(m[2]) for m in sink.committed]
    assert alert["alert_type"] == "stale_collector"
    assert alert["source"] == {"project": "ris", "collector": "rrc00", "kind": "updates"}
    assert alert["last_file_time"] == T0.isoformat()
    assert status.to_json()["collectors"]["ris/rrc00"]["updates"]["stale"] is True
    # a restarted service (new status) finds the alert's checkpoint and stays quiet
    assert await watch(ServiceStatus()).check(T0 + timedelta(minutes=95)) == []
    assert len(sink.committed) == 1
    assert metric(registry_text(metrics), "mrtfeed_alerts_total", kind="stale_collector") == 1
    # a new file clears it; going stale again raises a new alert
    status.file_committed(FileId(Project.RIS, "rrc00", Kind.UPDATES, T0 + timedelta(hours=2)), 60)
    assert await w.check(T0 + timedelta(hours=2, minutes=10)) == []
    assert await w.check(T0 + timedelta(hours=3, minutes=10)) == ["ris/rrc00/updates"]


def test_the_freshness_gauge_never_goes_back() -> None:
    metrics = ServiceMetrics()
    for minutes in (15, 0):  # the older file done last (held back, or resumed)
        metrics.file_done(
            FileId(Project.RIS, "rrc00", Kind.UPDATES, T0 + timedelta(minutes=minutes))
        )
    gauge = "mrtfeed_collector_last_file_timestamp_seconds"
    text = registry_text(metrics)
    assert (
        metric(text, gauge, project="ris", collector="rrc00", kind="updates")
        == (T0 + timedelta(minutes=15)).timestamp()
    )


async def test_http_endpoints_follow_the_status() -> None:
    metrics = ServiceMetrics()
    status = ServiceStatus(sink_type="kafka")
    sink_up = False
    status.sink_ready = lambda: sink_up
    server = HttpServer(metrics, status, "127.0.0.1", 0)
    await server.start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        assert await get(base + "/livez") == (200, "ok\n")
        assert await get(base + "/readyz") == (
            503,
            "not ready: state not loaded, kafka sink not ready\n",
        )
        status.state_loaded = True
        sink_up = True
        code, text = await get(base + "/metrics")  # follows the sink without /readyz
        assert code == 200 and metric(text, "mrtfeed_sink_ready") == 1
        assert (await get(base + "/readyz"))[0] == 200
        assert 'mrtfeed_build_info{python="' in text
        for name in ("mrtfeed_queue_depth", "mrtfeed_workers_busy", "mrtfeed_pipeline_lag_seconds"):
            assert name in text
        status.file_committed(FileId(Project.RIS, "rrc00", Kind.RIBS, T0), 42.0)
        code, body = await get(base + "/status")
        doc = json.loads(body)
        assert doc["ready"] is True
        assert doc["collectors"]["ris/rrc00"]["ribs"]["lag_seconds"] == 42.0
        sink_up = False
        assert metric((await get(base + "/metrics"))[1], "mrtfeed_sink_ready") == 0
        sink_up = True
        status.fatal = "fetch loop died"
        assert (await get(base + "/healthz"))[0] == 503
        assert (await get(base + "/livez"))[0] == 200
        assert (await get(base + "/readyz"))[0] == 503
    finally:
        await server.close()


async def test_http_endpoints_listen_on_ipv4_and_ipv6_by_default() -> None:
    """The default host serves IPv4-only and IPv6-only probes on one port (before, 0.0.0.0
    left IPv6-only clusters' probes failing)."""
    assert Config().server.host == ALL_INTERFACES
    server = HttpServer(ServiceMetrics(), ServiceStatus(), ALL_INTERFACES, 0)
    await server.start()
    try:
        assert await get(f"http://127.0.0.1:{server.port}/livez") == (200, "ok\n")
        assert await get(f"http://[::1]:{server.port}/livez") == (200, "ok\n")
    finally:
        await server.close()


async def test_metered_sink_serialises_commits_with_writes() -> None:
    """A batch written while a commit is in progress is neither lost nor doubled."""

    class SlowCommitSink(MemorySink):
        gate = asyncio.Event()

        async def commit(self) -> None:
            taken = self.pending
            await self.gate.wait()  # like the JSON-lines sink's thread hand-off
            for batch in taken:
                self.committed.extend(batch.messages)
            self.pending = [b for b in self.pending if b not in taken]

    inner = SlowCommitSink()
    sink = MeteredSink(inner, ServiceMetrics())
    f = SourceFile("ris", "rrc00", "updates", 0)

    def batch(i: int) -> Batch:
        return Batch(f, [OutMessage("t", b"k", b"%d" % i)], Checkpoint(f.key, i, i))

    await sink.write(batch(1))
    committing = asyncio.create_task(sink.commit())
    writing = asyncio.create_task(sink.write(batch(2)))
    await asyncio.sleep(0)
    assert not writing.done()  # held back until the commit is over
    SlowCommitSink.gate.set()
    await committing
    await writing
    await sink.commit()
    assert [m[2] for m in inner.committed] == [b"1", b"2"]


async def test_a_cancelled_write_still_writes_the_whole_batch() -> None:
    class SlowWriteSink(MemorySink):
        gate = asyncio.Event()

        async def write(self, batch: Batch) -> None:
            self.pending.append(Batch(batch.file, batch.messages[:1], batch.checkpoint))
            await self.gate.wait()  # like a full Kafka batch waiting for its partition
            self.pending[-1] = batch

    inner = SlowWriteSink()
    sink = MeteredSink(inner, ServiceMetrics())
    f = SourceFile("ris", "rrc00", "updates", 0)
    batch = Batch(
        f, [OutMessage("t", b"k", b"1"), OutMessage("t", b"k", b"2")], Checkpoint(f.key, 9, 9)
    )
    writer = asyncio.create_task(sink.write(batch))
    await asyncio.sleep(0)
    writer.cancel()  # the stop deadline
    with pytest.raises(asyncio.CancelledError):
        await writer
    closing = asyncio.create_task(sink.close())
    await asyncio.sleep(0)
    assert not closing.done()  # close waits for the write to finish
    SlowWriteSink.gate.set()
    await closing
    assert [m[2] for m in inner.committed] == [b"1", b"2"]
    assert inner.checkpoints[f.key].next_record_index == 9


def test_done_in_the_sink_counts_as_done_for_the_fetcher() -> None:
    """A file another replica (or a lost state folder's past) finished is not fetched."""
    from mrtfeed.service.donestate import SinkAwareStore, sink_key
    from mrtfeed.service.sinks import CommittedCheckpoints

    sink = MemorySink()
    store = SinkAwareStore(MemoryStateStore(), CommittedCheckpoints(sink))
    fid = FileId(Project.RIS, "rrc00", Kind.UPDATES, T0)
    key = sink_key(fid)
    assert key == SourceFile("ris", "rrc00", "updates", int(T0.timestamp())).key
    assert not store.is_done(fid)
    sink.checkpoints = {key: Checkpoint(key, 10, 3, done=False)}  # a reload replaces the dict
    assert not store.is_done(fid)  # half-done: fetched and resumed
    sink.checkpoints = {key: Checkpoint(key, 10, 3, done=True)}
    assert store.is_done(fid)
    store.mark_done(fid)
    assert store.store.is_done(fid)


def test_resume_points_are_the_newest_file_done_or_the_oldest_left_half_done() -> None:
    from mrtfeed.service.donestate import resume_points

    def at(minutes: int) -> int:
        return int((T0 + timedelta(minutes=minutes)).timestamp())

    done = [("ris/rrc00/updates", 0), ("ris/rrc00/updates", 5), ("ris/rrc01/ribs", 0)]
    half = [("ris/rrc01/updates", 10), ("ris/rrc01/updates", 5), ("ris/rrc00/updates", 10)]
    checkpoints = {
        f"{series}/{at(m)}": Checkpoint(f"{series}/{at(m)}", 1, 1, done=is_done)
        for pairs, is_done in ((done, True), (half, False))
        for series, m in pairs
    }
    checkpoints["ris/rrc02/updates.stale/123"] = Checkpoint("x", 0, 0, done=True)  # an alert's
    assert resume_points(checkpoints) == {
        ("ris", "rrc00"): T0 + timedelta(minutes=5),
        ("ris", "rrc01"): T0,
    }


CHART_METRICS = (
    "mrtfeed_files_discovered_total",
    "mrtfeed_files_processed_total",
    "mrtfeed_downloads_total",
    "mrtfeed_events_total",
    "mrtfeed_records_total",
    "mrtfeed_records_malformed_total",
    "mrtfeed_filter_matches_total",
    "mrtfeed_files_quarantined_total",
    "mrtfeed_collector_last_file_timestamp_seconds",
    "mrtfeed_pipeline_lag_seconds",
    "mrtfeed_files_missing_total",
    "mrtfeed_kafka_messages_sent_total",
    "mrtfeed_kafka_send_latency_seconds_count",
    "mrtfeed_queue_depth",
    "mrtfeed_workers_busy",
    "mrtfeed_build_info",
    "mrtfeed_alerts_total",
)


def test_every_metric_the_chart_uses_is_exposed_under_its_name() -> None:
    """The chart's PrometheusRule and dashboard query these exact names and labels."""
    from prometheus_client.parser import text_string_to_metric_families

    m = ServiceMetrics()
    fid = FileId(Project.RIS, "rrc00", Kind.UPDATES, T0)
    m.file_discovered(fid)
    m.download_finished(fid, "ok", 100)
    m.file_done(fid)
    m.file_missing(Project.RIS, "rrc00", Kind.UPDATES, 2, T0)
    m.files_processed.labels("ok").inc()
    m.files_quarantined.inc()
    m.stream_counts(
        records=5,
        events={"announce": 3},
        filter_matches={"loops": 1},
        alerts={"as_path_loop": 1},
        malformed={"bad_record": 1},
    )
    m.committed(fid, 30.0, 2.0)
    m.sent({"mrtfeed.events.v1": 3}, "ok", 0.0)
    labels: dict[str, set[tuple[tuple[str, str], ...]]] = {}
    for family in text_string_to_metric_families(registry_text(m)):
        for s in family.samples:
            labels.setdefault(s.name, set()).add(tuple(sorted(s.labels.items())))
    missing = [name for name in CHART_METRICS if name not in labels]
    assert missing == []
    assert (("collector", "rrc00"), ("kind", "updates"), ("project", "ris")) in labels[
        "mrtfeed_collector_last_file_timestamp_seconds"
    ]
    assert (("outcome", "ok"), ("topic", "mrtfeed.events.v1")) in labels[
        "mrtfeed_kafka_messages_sent_total"
    ]
    assert {q for (q,) in labels["mrtfeed_queue_depth"]} == {
        ("queue", "files"),
        ("queue", "chunks"),
    }
