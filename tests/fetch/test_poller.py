"""End-to-end fetcher behaviour against the loopback archive server."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from random import Random

import pytest

from mrtfeed.archive.model import FileId, Kind, Project
from mrtfeed.fetch import (
    FetchConfig,
    Fetcher,
    HttpClient,
    HttpPolicy,
    PollReport,
    Source,
    ris_source,
    routeviews_source,
)
from mrtfeed.state import MemoryStateStore, SqliteStateStore, StateStore
from tests.fetch.archive_server import (
    RIS_BVIEW,
    RIS_UPDATES,
    RV_RIBS,
    RV_UPDATES,
    TRUNCATED_BZ2,
    ArchiveServer,
    Fault,
    every,
    mrt_bytes,
    ris_path,
    routeviews_path,
)
from tests.fetch.fakeclock import FakeClock
from tests.fetch.helpers import Metrics, Recorder
from tests.service.helpers import wait_until

T0 = datetime(2026, 7, 20, 0, 0, tzinfo=UTC)
FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "archives"
JINX = "route-views.jinx"


def rv_series(server: ArchiveServer, collector: str, times: list[datetime], kind: Kind) -> None:
    samples = RV_UPDATES if kind is Kind.UPDATES else RV_RIBS
    for i, t in enumerate(times):
        server.put(routeviews_path(collector, kind, t), mrt_bytes(samples[i % len(samples)]))


def ris_series(server: ArchiveServer, collector: str, times: list[datetime], kind: Kind) -> None:
    samples = RIS_UPDATES if kind is Kind.UPDATES else RIS_BVIEW
    for i, t in enumerate(times):
        server.put(ris_path(collector, kind, t), mrt_bytes(samples[i % len(samples)]))


def fid(project: Project, collector: str, kind: Kind, t: datetime) -> FileId:
    return FileId(project, collector, kind, t)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0 + timedelta(hours=3))


@pytest.fixture
async def client(clock: FakeClock) -> AsyncIterator[HttpClient]:
    policy = HttpPolicy(read_timeout=0.3, listing_timeout=5, download_timeout=10)
    async with HttpClient(policy, clock=clock, rng=Random(1)) as c:
        yield c


class Harness:
    """Builds fetchers that share a server set, a store and a recorder."""

    def __init__(self, client: HttpClient, clock: FakeClock, tmp: Path) -> None:
        self.client = client
        self.clock = clock
        self.workdir = tmp / "work"
        self.recorder = Recorder()
        self.metrics = Metrics()
        self.store: StateStore = MemoryStateStore()

    def fetcher(
        self,
        sources: list[Source],
        start: datetime = T0,
        resume: dict[tuple[str, str], datetime] | None = None,
        **cfg: object,
    ) -> Fetcher:
        config = FetchConfig(workdir=self.workdir, **cfg)  # type: ignore[arg-type]
        return Fetcher(
            sources,
            self.recorder,
            client=self.client,
            store=self.store,
            config=config,
            start=start,
            clock=self.clock,
            rng=Random(7),
            metrics=self.metrics,
            stop=self.recorder.stop,
            resume=resume,
        )


@pytest.fixture
def h(client: HttpClient, clock: FakeClock, tmp_path: Path) -> Harness:
    return Harness(client, clock, tmp_path)


def rv(server: ArchiveServer, **kw: object) -> Source:
    return routeviews_source(server.base_url, collector_list_url=None, **kw)  # type: ignore[arg-type]


def ris(server: ArchiveServer, **kw: object) -> Source:
    return ris_source(server.base_url, collector_list_url=None, **kw)  # type: ignore[arg-type]


async def test_each_file_processed_exactly_once_across_rounds_and_restarts(
    h: Harness, rv_server: ArchiveServer, ris_server: ArchiveServer, tmp_path: Path
) -> None:
    rv_times = every(T0, T0 + timedelta(hours=2), timedelta(minutes=15))
    ris_times = every(T0, T0 + timedelta(minutes=30), timedelta(minutes=5))
    rv_series(rv_server, JINX, rv_times, Kind.UPDATES)
    rv_series(rv_server, JINX, [T0], Kind.RIBS)
    ris_series(ris_server, "rrc06", ris_times, Kind.UPDATES)
    ris_series(ris_server, "rrc06", [T0], Kind.RIBS)
    h.store = SqliteStateStore(tmp_path / "state.db")
    sources = [rv(rv_server), ris(ris_server)]

    first = await h.fetcher(sources).poll_once()
    expected = (
        {fid(Project.ROUTEVIEWS, JINX, Kind.UPDATES, t) for t in rv_times}
        | {fid(Project.ROUTEVIEWS, JINX, Kind.RIBS, T0)}
        | {fid(Project.RIS, "rrc06", Kind.UPDATES, t) for t in ris_times}
        | {fid(Project.RIS, "rrc06", Kind.RIBS, T0)}
    )
    assert set(first.processed) == expected
    assert sorted(h.recorder.calls) == sorted(expected)  # no duplicates
    # bytes handed over are the served bytes
    one = fid(Project.RIS, "rrc06", Kind.UPDATES, T0)
    assert h.recorder.digests[one] == hashlib.sha256(mrt_bytes(RIS_UPDATES[0])).hexdigest()

    h.clock.advance(minutes=5)
    again = await h.fetcher(sources).poll_once()  # a "restart": new fetcher, same store
    h.store.close()
    h.store = SqliteStateStore(tmp_path / "state.db")
    third = await h.fetcher(sources).poll_once()
    assert again.processed == [] and third.processed == []
    assert len(h.recorder.calls) == len(expected)
    for t in rv_times:
        assert rv_server.count(routeviews_path(JINX, Kind.UPDATES, t)) == 1
    assert not any(p.name.endswith(".part") for p in h.workdir.rglob("*"))
    assert not any(p.is_file() for p in h.workdir.rglob("*"))  # handed-over files removed


async def test_file_growing_between_listings_is_taken_once_when_stable(
    h: Harness, rv_server: ArchiveServer
) -> None:
    path = routeviews_path(JINX, Kind.UPDATES, T0)
    full = mrt_bytes(RV_UPDATES[0])
    rv_server.put(path, full[:1000])
    h.clock.set(T0 + timedelta(minutes=20))  # past interval end + grace, not settled
    f = h.fetcher([rv(rv_server, kinds=["updates"])])

    r1 = await f.poll_once()
    rv_server.put(path, full)  # the server finishes writing
    h.clock.advance(minutes=1)
    r2 = await f.poll_once()
    h.clock.advance(minutes=1)
    r3 = await f.poll_once()

    the_id = fid(Project.ROUTEVIEWS, JINX, Kind.UPDATES, T0)
    assert r1.processed == [] and r2.processed == [] and the_id in r2.waiting
    assert r3.processed == [the_id]
    assert h.recorder.digests[the_id] == hashlib.sha256(full).hexdigest()
    assert rv_server.count(path) == 1  # the partial body was never downloaded


async def test_ris_readiness_uses_head_content_length_across_rounds(
    h: Harness, ris_server: ArchiveServer
) -> None:
    path = ris_path("rrc06", Kind.UPDATES, T0)
    ris_server.put(path, mrt_bytes(RIS_UPDATES[0]))
    h.clock.set(T0 + timedelta(minutes=10))
    f = h.fetcher([ris(ris_server, kinds=["updates"])])
    r1 = await f.poll_once()
    h.clock.advance(minutes=1)
    r2 = await f.poll_once()
    assert r1.processed == []
    assert len(r2.processed) == 1
    assert ris_server.count(path, "HEAD") == 2 and ris_server.count(path) == 1


async def test_nothing_is_taken_before_the_grace_period(
    h: Harness, rv_server: ArchiveServer
) -> None:
    rv_series(rv_server, JINX, [T0], Kind.UPDATES)
    h.clock.set(T0 + timedelta(minutes=16))  # interval ended 1 min ago, grace is 3
    r = await h.fetcher([rv(rv_server)]).poll_once()
    assert r.processed == [] and r.waiting
    assert rv_server.count(routeviews_path(JINX, Kind.UPDATES, T0)) == 0


async def test_a_collector_goes_on_from_its_resume_point_before_the_start(
    h: Harness, rv_server: ArchiveServer
) -> None:
    """A pod with a new state folder starts at "now": what its predecessor left of a
    collector (a file half-done, the files published since its last) is older."""
    times = [T0, T0 + timedelta(minutes=15), T0 + timedelta(minutes=30)]
    rv_series(rv_server, JINX, times, Kind.UPDATES)
    rv_series(rv_server, "route-views2", times, Kind.UPDATES)
    resume = {("routeviews", JINX): times[1], ("routeviews", "gone"): T0}
    r = await h.fetcher([rv(rv_server)], start=times[2], resume=resume).poll_once()
    assert sorted((x.collector, x.nominal) for x in r.processed) == [
        (JINX, times[1]),
        (JINX, times[2]),
        ("route-views2", times[2]),
    ]


async def test_truncated_download_is_retried_within_the_round(
    h: Harness, rv_server: ArchiveServer
) -> None:
    path = routeviews_path(JINX, Kind.UPDATES, T0)
    rv_series(rv_server, JINX, [T0], Kind.UPDATES)
    rv_server.inject(path, Fault.truncate(keep=100, times=2))
    r = await h.fetcher([rv(rv_server)]).poll_once()
    assert len(r.processed) == 1
    assert rv_server.count(path) == 3
    assert h.metrics.outcomes() == ["ok"]


async def test_persistently_truncated_download_is_never_marked_done(
    h: Harness, rv_server: ArchiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    path = routeviews_path(JINX, Kind.UPDATES, T0)
    rv_series(rv_server, JINX, [T0], Kind.UPDATES)
    rv_server.inject(path, Fault.truncate(keep=100, times=-1))
    f = h.fetcher([rv(rv_server)])
    the_id = fid(Project.ROUTEVIEWS, JINX, Kind.UPDATES, T0)
    with caplog.at_level(logging.WARNING):
        r = await f.poll_once()
    assert r.processed == [] and the_id in r.failed
    assert list(r.download_errors) == [the_id] and "truncated" in r.download_errors[the_id]
    assert not h.store.is_done(the_id) and h.recorder.calls == []
    assert h.metrics.outcomes() == ["truncated"]
    assert not any(p.is_file() for p in h.workdir.rglob("*"))  # no temp file left
    warnings = [rec for rec in caplog.records if the_id.key in rec.getMessage()]
    assert warnings and all(rec.exc_info is None for rec in warnings)

    rv_server.faults.clear()  # the archive recovers
    h.clock.advance(minutes=1)
    r2 = await f.poll_once()  # still inside the per-file backoff
    assert r2.processed == [] and r2.download_errors == {}
    h.clock.advance(minutes=5)
    r3 = await f.poll_once()
    assert r3.processed == [the_id] and h.recorder.calls == [the_id]


async def test_a_stream_damaged_differently_each_time_is_downloaded_again(
    h: Harness, rv_server: ArchiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A transfer that damages the stream (a bad proxy) is retried, and the file is
    not processed until a download verifies."""
    path = routeviews_path(JINX, Kind.UPDATES, T0)
    rv_server.put(path, mrt_bytes(RV_UPDATES[1]))
    rv_server.inject(path, *(Fault.flip(100 * n) for n in range(1, 10)))
    f = h.fetcher([rv(rv_server, kinds=["updates"])])
    with caplog.at_level(logging.WARNING):
        r = await f.poll_once()
    the_id = fid(Project.ROUTEVIEWS, JINX, Kind.UPDATES, T0)
    assert the_id in r.failed and "damaged bz2 stream" in r.failed[the_id]
    assert h.metrics.outcomes() == ["corrupt"] and h.recorder.calls == []
    assert not h.store.is_done(the_id)
    assert all(rec.exc_info is None for rec in caplog.records)


async def test_a_file_damaged_on_the_archive_itself_is_processed_once(
    h: Harness, rv_server: ArchiveServer
) -> None:
    """The same damaged bytes twice: the archive's copy is damaged. It was downloaded
    again for ever (8 downloads in 200 s in a review, back-off up to an hour, a 1.5 GB
    bview included) and none of its records came out. Now it goes on, marked, for the
    decoder to keep what precedes the damage (and the service to quarantine it)."""
    path = routeviews_path(JINX, Kind.RIBS, T0)
    rv_server.put(path, mrt_bytes(TRUNCATED_BZ2))
    r = await h.fetcher([rv(rv_server, kinds=["ribs"])]).poll_once()
    the_id = fid(Project.ROUTEVIEWS, JINX, Kind.RIBS, T0)
    assert r.processed == [the_id] and rv_server.count(path) == 2
    assert h.metrics.outcomes() == ["damaged_at_source"]
    assert "end-of-stream" in (h.recorder.damage[the_id] or "")


async def test_html_error_page_served_as_gz_is_rejected(
    h: Harness, ris_server: ArchiveServer
) -> None:
    ris_server.put(ris_path("rrc06", Kind.UPDATES, T0), b"<html>Service Unavailable</html>")
    r = await h.fetcher([ris(ris_server)]).poll_once()
    assert r.processed == [] and h.metrics.outcomes() == ["corrupt"]


async def test_failing_callback_means_the_file_is_processed_again_before_the_next(
    h: Harness, rv_server: ArchiveServer
) -> None:
    """The collector's next file waits: committed first, its withdrawals would come
    before the older file's announcements of the same routes."""
    rv_series(rv_server, JINX, [T0, T0 + timedelta(minutes=15)], Kind.UPDATES)
    first = fid(Project.ROUTEVIEWS, JINX, Kind.UPDATES, T0)
    second = fid(Project.ROUTEVIEWS, JINX, Kind.UPDATES, T0 + timedelta(minutes=15))
    h.recorder.fail_once.add(first)
    f = h.fetcher([rv(rv_server)])
    r1 = await f.poll_once()
    assert first in r1.failed and not h.store.is_done(first)
    assert r1.download_errors == {}  # the callback reports its own failures
    assert r1.processed == [] and r1.waiting == [second]
    h.clock.advance(minutes=1)
    r2 = await f.poll_once()  # the first backs off: the second still waits
    assert r2.processed == [] and r2.waiting == [second]
    h.clock.advance(minutes=10)
    r3 = await f.poll_once()
    assert r3.processed == [first, second]
    assert h.recorder.calls == [first, first, second]


async def test_a_download_that_keeps_failing_holds_its_collector_back_a_few_times_only(
    h: Harness, rv_server: ArchiveServer
) -> None:
    times = [T0, T0 + timedelta(minutes=15)]
    rv_series(rv_server, JINX, times, Kind.UPDATES)
    rv_series(rv_server, "route-views2", times, Kind.UPDATES)
    rv_server.inject(routeviews_path(JINX, Kind.UPDATES, T0), Fault.truncate(keep=100, times=-1))
    first, second = (fid(Project.ROUTEVIEWS, JINX, Kind.UPDATES, t) for t in times)
    f = h.fetcher([rv(rv_server)])
    rounds = []
    for _ in range(3):
        rounds.append(await f.poll_once())
        h.clock.advance(hours=1)  # past any back-off
    assert [first in r.download_errors for r in rounds] == [True, True, True]
    assert [second in r.processed for r in rounds] == [False, False, True]
    assert {x.collector for x in rounds[0].processed} == {"route-views2"}  # not held back


async def test_detached_rounds_go_on_past_a_collector_whose_download_stalls(
    h: Harness, rv_server: ArchiveServer
) -> None:
    """The service's rounds (detach): one collector's stalled download (or 1.5 GB
    bview) held every other collector's new files until it ended."""
    rv_series(rv_server, JINX, [T0], Kind.UPDATES)
    rv_series(rv_server, "route-views2", [T0], Kind.UPDATES)
    gate = asyncio.Event()
    stalled = routeviews_path(JINX, Kind.UPDATES, T0)
    rv_server.inject(stalled, Fault.stall(gate, keep=100))
    f = h.fetcher([rv(rv_server)])
    rv2 = [
        fid(Project.ROUTEVIEWS, "route-views2", Kind.UPDATES, T0 + timedelta(minutes=m))
        for m in (0, 15)
    ]
    first = await f.poll_once(detach=True)
    assert first.processed == []  # nothing waited for
    await wait_until(
        lambda: h.recorder.calls == rv2[:1] and rv_server.count(stalled) == 1, "round 1"
    )
    rv_series(rv_server, "route-views2", [T0, rv2[1].nominal], Kind.UPDATES)
    h.clock.advance(minutes=30)
    second = await f.poll_once(detach=True)  # jinx's file is still stalled
    assert second.processed == [rv2[0]]  # reported by the next round
    assert fid(Project.ROUTEVIEWS, JINX, Kind.UPDATES, T0) in second.waiting
    await wait_until(lambda: h.recorder.calls == rv2, "route-views2's second file")
    gate.set()
    await f.drain()
    third = await f.poll_once(detach=True)
    await f.drain()
    assert third.processed == [rv2[1], fid(Project.ROUTEVIEWS, JINX, Kind.UPDATES, T0)]


async def test_a_listing_that_does_not_answer_ends_at_the_listing_timeout(
    h: Harness, rv_server: ArchiveServer
) -> None:
    """A hanging listing cost the client's 4 attempts of 300 s, every collector's round
    waiting for it."""
    rv_series(rv_server, JINX, [T0], Kind.UPDATES)
    rv_series(rv_server, "route-views2", [T0], Kind.UPDATES)
    gate = asyncio.Event()  # never opened
    rv_server.inject(f"{JINX}/bgpdata/2026.07/UPDATES/", Fault.stall(gate))
    f = h.fetcher([rv(rv_server, kinds=["updates"])], listing_timeout=timedelta(seconds=0.2))
    r = await asyncio.wait_for(f.poll_once(), 10)
    assert [x.collector for x in r.processed] == ["route-views2"]
    assert len(r.listing_errors) == 1 and "no answer within 0.2 s" in r.listing_errors[0]


async def test_a_stop_postpones_files_without_failing_or_downloading_them(
    h: Harness, rv_server: ArchiveServer
) -> None:
    """The file in progress when the service stops is postponed, not failed (no error,
    no back-off), and once the stop is set no other file is downloaded."""
    times = [T0, T0 + timedelta(minutes=15), T0 + timedelta(minutes=30)]
    rv_series(rv_server, JINX, times, Kind.UPDATES)
    files = [fid(Project.ROUTEVIEWS, JINX, Kind.UPDATES, t) for t in times]
    h.recorder.stop_in.add(files[0])
    f = h.fetcher([rv(rv_server)])
    stopped = await f.poll_once()
    assert stopped.postponed == files and stopped.failed == {} and stopped.processed == []
    assert h.recorder.calls == [files[0]]
    assert [rv_server.count(routeviews_path(JINX, Kind.UPDATES, t)) for t in times] == [1, 0, 0]
    assert not any(h.store.is_done(file) for file in files)

    h.recorder.stop_in.clear()
    h.recorder.stop.clear()  # as after a restart; the clock has not moved
    again = await f.poll_once()
    assert again.processed == files and again.postponed == []


async def test_listing_faults_are_retried_with_backoff_and_retry_after(
    h: Harness, rv_server: ArchiveServer
) -> None:
    rv_series(rv_server, JINX, [T0], Kind.UPDATES)
    listing = f"{JINX}/bgpdata/2026.07/UPDATES/"
    rv_server.inject(listing, Fault.status_code(500), Fault.too_many(30))
    r = await h.fetcher([rv(rv_server, kinds=["updates"])]).poll_once()
    assert len(r.processed) == 1 and r.listing_errors == []
    assert rv_server.count(listing) == 3
    assert len(h.clock.sleeps) == 2
    assert 1.0 <= h.clock.sleeps[0] <= 2.0  # 1 s base + jitter
    assert h.clock.sleeps[1] >= 30.0  # Retry-After honoured


async def test_persistent_listing_failure_is_reported_and_nothing_is_skipped(
    h: Harness, rv_server: ArchiveServer
) -> None:
    rv_series(rv_server, JINX, [T0], Kind.UPDATES)
    listing = f"{JINX}/bgpdata/2026.07/UPDATES/"
    rv_server.inject(listing, Fault.reset(times=-1))
    f = h.fetcher([rv(rv_server, kinds=["updates"])])
    r = await f.poll_once()
    assert r.processed == [] and len(r.listing_errors) == 1
    # counted (mrtfeed_listings_total): it showed in /status only, and no alert could
    # see an archive that stopped answering before any download failed
    assert h.metrics.listings == [(Project.ROUTEVIEWS, True), (Project.ROUTEVIEWS, False)]
    rv_server.faults.clear()
    r2 = await f.poll_once()
    assert len(r2.processed) == 1
    assert h.metrics.listings[2:] == [(Project.ROUTEVIEWS, True)]


async def test_a_stop_cancels_a_download_in_flight(h: Harness, rv_server: ArchiveServer) -> None:
    """A stalled (or 1.5 GB) download went on after the stop, only for the file to be
    refused once there; backfill sat it out. It is cancelled, its temporary file
    removed, and the file postponed."""
    rv_series(rv_server, JINX, [T0], Kind.UPDATES)
    path = routeviews_path(JINX, Kind.UPDATES, T0)
    gate = asyncio.Event()  # never opened: the body stalls after 1,000 bytes
    rv_server.inject(path, Fault.stall(gate, keep=1000))
    f = h.fetcher([rv(rv_server, kinds=["updates"])])
    poll = asyncio.ensure_future(f.poll_once())

    async def body_started() -> None:
        while rv_server.count(path) == 0:
            await asyncio.sleep(0.01)

    await asyncio.wait_for(body_started(), 10)
    h.recorder.stop.set()
    report = await asyncio.wait_for(poll, 10)
    assert report.postponed == [fid(Project.ROUTEVIEWS, JINX, Kind.UPDATES, T0)]
    assert report.failed == {} and h.recorder.calls == []
    assert not any(p.is_file() for p in h.workdir.rglob("*"))


async def test_collector_discovery_that_failed_is_retried_and_reported(
    h: Harness, rv_server: ArchiveServer
) -> None:
    """The archive's root down when the service starts: the failure is each round's
    listing error (a backfill is not complete), and discovery is tried again after a
    minute, not after the refresh interval (6 hours: no collector was followed)."""
    rv_series(rv_server, JINX, [T0], Kind.UPDATES)
    rv_server.inject("", Fault.reset(times=-1))
    f = h.fetcher([rv(rv_server, kinds=["updates"])], collector_refresh=timedelta(hours=6))
    down = await f.poll_once()
    assert down.processed == [] and len(down.listing_errors) == 1
    assert "collector discovery" in down.listing_errors[0]
    assert h.metrics.listings == [(Project.ROUTEVIEWS, False)]
    rv_server.faults.clear()
    h.clock.advance(seconds=30)
    early = await f.poll_once()  # not due yet: the failure still stands
    assert early.processed == [] and early.listing_errors == down.listing_errors
    h.clock.advance(seconds=31)
    back = await f.poll_once()
    assert [x.collector for x in back.processed] == [JINX] and back.listing_errors == []


async def test_conditional_listing_requests(h: Harness, rv_server: ArchiveServer) -> None:
    rv_series(rv_server, JINX, [T0], Kind.UPDATES)
    f = h.fetcher([rv(rv_server, kinds=["updates"])])
    await f.poll_once()
    await f.poll_once()
    listing = f"/{JINX}/bgpdata/2026.07/UPDATES/"
    reqs = [r for r in rv_server.requests if r.path == listing]
    assert "If-None-Match" not in reqs[0].headers
    assert reqs[1].headers.get("If-None-Match") and reqs[1].status == 304
    assert all(r.headers["User-Agent"].startswith("mrtfeed/") for r in rv_server.requests)


async def test_new_collector_is_picked_up_after_refresh(
    h: Harness, rv_server: ArchiveServer
) -> None:
    rv_series(rv_server, JINX, [T0], Kind.UPDATES)
    f = h.fetcher([rv(rv_server)], collector_refresh=timedelta(minutes=30))
    r1 = await f.poll_once()
    rv_series(rv_server, "route-views.sg", [T0 + timedelta(minutes=30)], Kind.UPDATES)
    h.clock.advance(minutes=10)
    r2 = await f.poll_once()  # discovery not due yet
    h.clock.advance(minutes=30)
    r3 = await f.poll_once()
    assert [x.collector for x in r1.processed] == [JINX]
    assert r2.processed == []
    assert [x.collector for x in r3.processed] == ["route-views.sg"]
    assert (Project.ROUTEVIEWS, "route-views.sg") in h.metrics.collectors


async def test_include_exclude_and_kinds(h: Harness, rv_server: ArchiveServer) -> None:
    for c in (JINX, "route-views.sg", "route-views6"):
        rv_series(rv_server, c, [T0], Kind.UPDATES)
        rv_series(rv_server, c, [T0], Kind.RIBS)
    src = rv(rv_server, include=["route-views*"], exclude=["route-views6"], kinds=["ribs"])
    r = await h.fetcher([src]).poll_once()
    assert {(x.collector, x.kind) for x in r.processed} == {
        (JINX, Kind.RIBS),
        ("route-views.sg", Kind.RIBS),
    }


async def test_month_rollover_and_closing_the_previous_month(
    h: Harness, rv_server: ArchiveServer
) -> None:
    start = datetime(2026, 7, 31, 23, 0, tzinfo=UTC)
    times = every(start, start + timedelta(hours=2), timedelta(minutes=15))
    rv_series(rv_server, JINX, times, Kind.UPDATES)
    h.clock.set(start + timedelta(minutes=50))
    f = h.fetcher([rv(rv_server, kinds=["updates"])], start=start)
    r0 = await f.poll_once()  # first sightings: wait for a stable size
    h.clock.advance(minutes=1)
    r1 = await f.poll_once()
    assert r0.processed == []
    # seen twice with the same size after their grace: 23:00, 23:15, 23:30
    assert {x.nominal for x in r1.processed} == set(times[:3])
    h.clock.set(datetime(2026, 8, 1, 3, 0, tzinfo=UTC))
    r2 = await f.poll_once()  # August files, and July's last ones
    assert {x.nominal for x in r1.processed + r2.processed} == set(times)
    july = f"/{JINX}/bgpdata/2026.07/UPDATES/"
    before = sum(1 for r in rv_server.requests if r.path == july)
    h.clock.set(datetime(2026, 8, 2, 1, 0, tzinfo=UTC))  # past the boundary window
    await f.poll_once()
    await f.poll_once()
    after = sum(1 for r in rv_server.requests if r.path == july)
    assert after == before + 1  # listed once more, then closed
    assert sorted(h.recorder.calls) == sorted(set(h.recorder.calls))


@pytest.mark.parametrize("case", ["one 404", "late upload"])
async def test_a_past_month_is_not_closed_by_a_404_nor_before_late_uploads(
    h: Harness, rv_server: ArchiveServer, case: str
) -> None:
    """July's listing answered 404 once, 26 h after July ended: the month was closed
    for good and its files not yet done were lost. A file a collector uploaded late
    (20 h after the month ended) came after the 6 h window and was never taken."""
    start = datetime(2026, 7, 31, 23, 0, tzinfo=UTC)
    july = f"{JINX}/bgpdata/2026.07/UPDATES/"
    f = h.fetcher([rv(rv_server, kinds=["updates"])], start=start)
    if case == "one 404":
        rv_series(rv_server, JINX, [start], Kind.UPDATES)
        rv_server.inject(july, Fault.status_code(404))
        h.clock.set(datetime(2026, 8, 2, 2, 0, tzinfo=UTC))
    else:
        rv_series(rv_server, JINX, [start], Kind.UPDATES)
        h.clock.set(datetime(2026, 8, 1, 6, 30, tzinfo=UTC))
        for _ in range(3):  # first sighting, stable size, done
            h.clock.advance(minutes=1)
            await f.poll_once()
        h.clock.set(datetime(2026, 8, 1, 20, 0, tzinfo=UTC))
        rv_series(rv_server, JINX, [start, start + timedelta(minutes=45)], Kind.UPDATES)
    first = await f.poll_once()
    assert first.listing_errors == []
    if case == "one 404":
        assert first.processed == []
    for _ in range(3):
        h.clock.advance(minutes=1)
        await f.poll_once()
    files = [start] if case == "one 404" else [start, start + timedelta(minutes=45)]
    assert sorted(x.nominal for x in h.recorder.calls) == files


async def test_route_views2_legacy_root_path_and_move(h: Harness, rv_server: ArchiveServer) -> None:
    old = routeviews_path("route-views2", Kind.UPDATES, T0, legacy_root=True)
    rv_server.put(old, mrt_bytes(RV_UPDATES[0]))
    f = h.fetcher([rv(rv_server)])
    r1 = await f.poll_once()
    the_id = fid(Project.ROUTEVIEWS, "route-views2", Kind.UPDATES, T0)
    assert r1.processed == [the_id]
    # the archive moves: same file under /route-views2/bgpdata/, plus a new one
    rv_server.remove(old)
    rv_server.put(routeviews_path("route-views2", Kind.UPDATES, T0), mrt_bytes(RV_UPDATES[0]))
    nxt = T0 + timedelta(minutes=15)
    rv_server.put(routeviews_path("route-views2", Kind.UPDATES, nxt), mrt_bytes(RV_UPDATES[1]))
    h.clock.advance(hours=2)
    r2 = await f.poll_once()
    assert r2.processed == [fid(Project.ROUTEVIEWS, "route-views2", Kind.UPDATES, nxt)]


async def test_downloads_are_bounded_per_host(h: Harness, rv_server: ArchiveServer) -> None:
    times = every(T0, T0 + timedelta(hours=1), timedelta(minutes=15))
    collectors = ["route-views.a", "route-views.b", "route-views.c", "route-views.d"]
    gate = asyncio.Event()
    for c in collectors:
        rv_series(rv_server, c, times[:1], Kind.UPDATES)
        rv_server.inject(routeviews_path(c, Kind.UPDATES, T0), Fault.stall(gate, keep=10))
    f = h.fetcher([rv(rv_server, kinds=["updates"])], max_parallel_files=4)
    task = asyncio.create_task(f.poll_once())
    while rv_server.inflight < 2:
        await asyncio.sleep(0)
    for _ in range(200):  # give a third request every chance to start
        await asyncio.sleep(0)
    assert rv_server.inflight == 2
    gate.set()
    r = await task
    assert len(r.processed) == 4 and rv_server.max_inflight == 2


async def test_slow_body_times_out_and_is_retried(h: Harness, rv_server: ArchiveServer) -> None:
    rv_series(rv_server, JINX, [T0], Kind.UPDATES)
    path = routeviews_path(JINX, Kind.UPDATES, T0)
    rv_server.inject(path, Fault.stall(asyncio.Event(), keep=10))  # never released
    r = await h.fetcher([rv(rv_server)]).poll_once()
    assert len(r.processed) == 1 and rv_server.count(path) == 2


async def test_collector_lists_add_and_retire_collectors(
    h: Harness, rv_server: ArchiveServer
) -> None:
    doc = json.loads((FIXTURES / "api-routeviews-guest-collector.json").read_text())
    keep = {JINX, "route-views.sg", "route-views2"}
    doc["results"] = [c for c in doc["results"] if c["name"] in keep]  # jinx is retired
    rv_server.put_json("api/guest/collector/", doc)
    for c in (JINX, "route-views.sg"):
        rv_series(rv_server, c, [T0], Kind.UPDATES)
    src = routeviews_source(
        rv_server.base_url,
        kinds=["updates"],
        collector_list_url=rv_server.base_url + "api/guest/collector/",
    )
    r = await h.fetcher([src]).poll_once()
    assert {x.collector for x in r.processed} == {"route-views.sg"}
    assert rv_server.count(f"/{JINX}/bgpdata/2026.07/UPDATES/") == 0


async def test_unreachable_collector_list_does_not_stop_discovery(
    h: Harness, rv_server: ArchiveServer
) -> None:
    rv_series(rv_server, JINX, [T0], Kind.UPDATES)
    src = routeviews_source(rv_server.base_url, collector_list_url="http://127.0.0.1:9/nothing/")
    r = await h.fetcher([src]).poll_once()
    assert [x.collector for x in r.processed] == [JINX]


async def test_gaps_and_late_files_are_reported_once(h: Harness, rv_server: ArchiveServer) -> None:
    times = every(T0, T0 + timedelta(hours=2), timedelta(minutes=15))
    del times[3]  # 00:45 never published
    rv_series(rv_server, JINX, times, Kind.UPDATES)
    h.clock.set(T0 + timedelta(hours=2, minutes=20))
    f = h.fetcher([rv(rv_server, kinds=["updates"])])
    r1 = await f.poll_once()
    assert [(g.after, g.before, g.missing) for g in r1.gaps] == [
        (T0 + timedelta(minutes=30), T0 + timedelta(hours=1), 1)
    ]
    assert h.metrics.missing == [(JINX, Kind.UPDATES, 1, T0 + timedelta(minutes=30))]
    assert h.metrics.late == []
    h.clock.advance(hours=1)  # the 02:00 file is now long overdue
    await f.poll_once()
    await f.poll_once()
    assert h.metrics.late == [(JINX, Kind.UPDATES, times[-1])]
    assert len(h.metrics.missing) == 1


async def test_run_loop_waits_with_jitter_and_stops(h: Harness, rv_server: ArchiveServer) -> None:
    rv_series(rv_server, JINX, [T0], Kind.UPDATES)
    f = h.fetcher([rv(rv_server)])
    stop = asyncio.Event()
    rounds = 0
    real_poll = f.poll_once

    async def counting_poll(*, detach: bool = False) -> PollReport:
        nonlocal rounds
        rounds += 1
        if rounds == 3:
            stop.set()
        return await real_poll(detach=detach)

    # Patching the method on the instance is the point; mypy still checks the signatures.
    f.poll_once = counting_poll  # type: ignore[method-assign]
    await asyncio.wait_for(f.run(stop), timeout=10)
    assert rounds == 3 and len(h.recorder.calls) == 1
    waits = [s for s in h.clock.sleeps if s >= 60]
    assert len(waits) == 2 and all(60 <= s <= 75 for s in waits) and waits[0] != waits[1]
