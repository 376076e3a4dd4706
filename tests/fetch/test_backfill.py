"""Backfill of a time range through the same pipeline."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from random import Random

import pytest

from mrtfeed.archive.model import FileId, Kind, Month, Project
from mrtfeed.fetch import (
    BackfillReport,
    HttpClient,
    HttpPolicy,
    Source,
    backfill,
    plan_backfill,
    routeviews_source,
)
from mrtfeed.state import SqliteStateStore
from tests.fetch.archive_server import RV_UPDATES, ArchiveServer, every, mrt_bytes, routeviews_path
from tests.fetch.fakeclock import FakeClock
from tests.fetch.helpers import Recorder

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "archives"
START = datetime(2026, 6, 30, 22, 0, tzinfo=UTC)


async def test_backfill_covers_exactly_the_range_once(
    rv_server: ArchiveServer, tmp_path: Path
) -> None:
    times = every(START, START + timedelta(hours=4), timedelta(minutes=15))  # crosses months
    for i, t in enumerate(times):
        rv_server.put(
            routeviews_path("route-views.jinx", Kind.UPDATES, t), mrt_bytes(RV_UPDATES[i % 3])
        )
    # the official list says jinx is retired: backfill still covers it
    doc = json.loads((FIXTURES / "api-routeviews-guest-collector.json").read_text())
    doc["results"] = [c for c in doc["results"] if c["name"] == "route-views.jinx"]
    rv_server.put_json("api/", doc)
    src = routeviews_source(rv_server.base_url, collector_list_url=rv_server.base_url + "api/")
    clock = FakeClock(datetime(2026, 8, 1, tzinfo=UTC))
    store = SqliteStateStore(tmp_path / "state.db")
    rec = Recorder()
    lo, hi = START + timedelta(hours=1), START + timedelta(hours=3)
    async with HttpClient(HttpPolicy(), clock=clock, rng=Random(3)) as client:
        report = await backfill(
            [src], lo, hi, rec, store=store, workdir=tmp_path / "w", client=client, clock=clock
        )
        again = await backfill(
            [src], lo, hi, rec, store=store, workdir=tmp_path / "w", client=client, clock=clock
        )
    assert report.complete and report.rounds == 1
    assert sorted(f.nominal for f in rec.calls) == [t for t in times if lo <= t < hi]
    assert again.processed == [] and again.complete
    assert len(rec.calls) == 8


async def test_a_stopped_backfill_starts_no_other_file_and_lists_no_further_round(
    rv_server: ArchiveServer, tmp_path: Path
) -> None:
    """Stopped in its first file, the backfill starts no other file and lists no second
    round; its report names every file left, and a later run does them."""
    jinx = "route-views.jinx"
    times = every(START, START + timedelta(hours=1), timedelta(minutes=15))
    for t in times:
        rv_server.put(routeviews_path(jinx, Kind.UPDATES, t), mrt_bytes(RV_UPDATES[0]))
    src = routeviews_source(rv_server.base_url, collector_list_url=None)
    clock = FakeClock(datetime(2026, 8, 1, tzinfo=UTC))
    store = SqliteStateStore(tmp_path / "state.db")
    stopping, later = Recorder(), Recorder()
    files = [FileId(Project.ROUTEVIEWS, jinx, Kind.UPDATES, t) for t in times]
    stopping.stop_in.add(files[0])
    span = (START, START + timedelta(hours=1))
    async with HttpClient(HttpPolicy(), clock=clock, rng=Random(3)) as client:

        async def run(on_file: Recorder) -> BackfillReport:
            return await backfill(
                [src],
                *span,
                on_file,
                store=store,
                workdir=tmp_path / "w",
                client=client,
                clock=clock,
                stop=on_file.stop,
            )

        stopped = await run(stopping)
        listings_after_stop = rv_server.count(f"{jinx}/bgpdata/2026.06/UPDATES/")
        again = await run(later)
    assert stopped.rounds == 1 and listings_after_stop == 1
    assert stopped.postponed == files and stopped.failed == {} and not stopped.complete
    assert stopping.calls == [files[0]]
    assert again.processed == files and again.complete and later.calls == files


async def _one_round(src: Source, end: datetime, now: datetime, tmp_path: Path) -> BackfillReport:
    """One backfill round of [START, end) at ``now``."""
    clock = FakeClock(now)
    store = SqliteStateStore(tmp_path / "state.db")
    async with HttpClient(HttpPolicy(), clock=clock, rng=Random(3)) as client:
        return await backfill(
            [src],
            START,
            end,
            Recorder(),
            store=store,
            workdir=tmp_path / "w",
            client=client,
            clock=clock,
            max_rounds=1,
        )


async def test_a_range_not_over_is_not_complete(rv_server: ArchiveServer, tmp_path: Path) -> None:
    """Every file listed is done, but the range goes on past now: more may come. It
    said complete (and a range wholly in the future too)."""
    t = START + timedelta(hours=1)
    rv_server.put(routeviews_path("route-views.jinx", Kind.UPDATES, t), mrt_bytes(RV_UPDATES[0]))
    src = routeviews_source(rv_server.base_url, collector_list_url=None)
    report = await _one_round(src, START + timedelta(hours=4), START + timedelta(hours=3), tmp_path)
    assert len(report.processed) == 1 and report.failed == {} and report.listing_errors == []
    assert not report.range_over and not report.complete


def test_plan_backfill_lists_every_month_and_kind() -> None:
    src = routeviews_source("http://127.0.0.1:1/")
    plan = plan_backfill([src], {0: ["route-views2"]}, START, START + timedelta(days=40))
    assert [(p.month, sorted(k.value for k in p.kinds)) for p in plan] == [
        (Month(2026, 6), ["ribs"]),
        (Month(2026, 6), ["updates"]),
        (Month(2026, 7), ["ribs"]),
        (Month(2026, 7), ["updates"]),
        (Month(2026, 8), ["ribs"]),
        (Month(2026, 8), ["updates"]),
    ]
    assert plan[0].urls == (
        "http://127.0.0.1:1/route-views2/bgpdata/2026.06/RIBS/",
        "http://127.0.0.1:1/bgpdata/2026.06/RIBS/",
    )


async def test_empty_range_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="empty"):
        await backfill(
            [], START, START, Recorder(), store=SqliteStateStore(":memory:"), workdir=tmp_path
        )


async def test_an_include_pattern_matching_no_collector_is_not_complete(
    rv_server: ArchiveServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A typo in collectors.include selected nothing, and the backfill said complete
    (exit 0) without a word."""
    t = START + timedelta(hours=1)
    rv_server.put(routeviews_path("route-views.jinx", Kind.UPDATES, t), mrt_bytes(RV_UPDATES[0]))
    src = routeviews_source(
        rv_server.base_url, collector_list_url=None, include=["route-views.jinx", "route-views-sg"]
    )
    report = await _one_round(src, START + timedelta(hours=2), START + timedelta(days=3), tmp_path)
    assert len(report.processed) == 1 and report.listing_errors == []
    assert report.unmatched_collectors == ["route-views-sg"] and not report.complete
    assert "collectors.include 'route-views-sg' matches no collector" in caplog.text
