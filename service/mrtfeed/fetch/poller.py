"""The polling loop: list, judge readiness, download, hand over, mark done.

Exactly-once rests on three rules:

* identity is (project, collector, kind, nominal time), never the URL;
* a file is marked done only after ``on_file`` returned without error, so a
  crash or an exception mid-processing means the file is processed again;
* the start of a live feed is persisted on first run, and every month from
  it onward stays polled until all its files are done, so downtime never
  makes the feed skip files.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import defaultdict
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from mrtfeed.archive.index_page import IndexParseError, parse_index
from mrtfeed.archive.layout import Listing
from mrtfeed.archive.model import FileId, Month, RemoteFile, months_between, utc
from mrtfeed.fetch.clock import Clock, SystemClock
from mrtfeed.fetch.discovery import CollectorDiscovery
from mrtfeed.fetch.download import FileChanged, ReadyFile, download_file
from mrtfeed.fetch.gaps import Gap, GapDetector
from mrtfeed.fetch.http import FetchError, HttpClient, NotFound
from mrtfeed.fetch.metrics import FetchMetrics, NullMetrics
from mrtfeed.fetch.readiness import Readiness, ReadinessPolicy, ReadinessTracker
from mrtfeed.fetch.sources import Source
from mrtfeed.state.store import StateStore

__all__ = [
    "FetchConfig",
    "Fetcher",
    "OnFile",
    "PollReport",
    "Postponed",
    "StartPosition",
    "Stopped",
    "live_start",
    "unless_stopped",
]

log = logging.getLogger(__name__)
T = TypeVar("T")


class Postponed(Exception):
    """Raised by ``on_file`` that stopped before a file's end on purpose (the service
    is stopping, the file's collector went to another replica). The file is not done
    and has not failed either: no error, no back-off; a later round, run or replica
    takes it up."""


class Stopped(Exception):
    """Raised by :func:`unless_stopped` when the stop came first."""


async def unless_stopped(work: Coroutine[Any, Any, T], stop: asyncio.Event | None) -> T:
    """``work``'s result, unless ``stop`` is set first: then ``work`` is cancelled
    and :class:`Stopped` raised. A backfill sat out a stalled or 1.5 GB download
    after SIGTERM, only to throw the file away, and a minute's pause between rounds."""
    if stop is None:
        return await work
    task = asyncio.ensure_future(work)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:  # this coroutine cancelled: the work with it
        task.cancel()
        raise
    finally:
        stopping.cancel()
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        raise Stopped
    return task.result()


OnFile = Callable[[ReadyFile], Awaitable[None]]
_START_KEY = "fetch.live_start"


@dataclass(frozen=True)
class StartPosition:
    """Where a new live feed starts: now, N hours back, or a given time.

    Files whose interval *starts* at or after this time are taken.
    """

    at: datetime | None = None
    hours_back: float = 0.0

    @classmethod
    def now(cls) -> StartPosition:
        return cls()

    @classmethod
    def hours(cls, hours: float) -> StartPosition:
        return cls(hours_back=hours)

    @classmethod
    def timestamp(cls, at: datetime) -> StartPosition:
        return cls(at=utc(at))

    def resolve(self, now: datetime) -> datetime:
        return self.at if self.at is not None else utc(now) - timedelta(hours=self.hours_back)


def live_start(
    store: StateStore, position: StartPosition, now: datetime, *, reset: bool = False
) -> datetime:
    """The persisted start of the live feed; set from ``position`` on first run.

    Restarting with "now" must not silently skip the files published while
    the daemon was down, so an existing start wins unless ``reset``.
    """
    stored = store.get_setting(_START_KEY)
    if stored is not None and not reset:
        return utc(datetime.fromisoformat(stored))
    start = position.resolve(now)
    store.set_setting(_START_KEY, start.isoformat())
    return start


@dataclass(frozen=True)
class FetchConfig:
    workdir: Path
    poll_interval: timedelta = timedelta(seconds=60)
    poll_jitter: timedelta = timedelta(seconds=15)
    #: Keep listing the previous month this long into a new one: a collector may
    #: upload a backlog late (6 h lost the files that came after).
    boundary_window: timedelta = timedelta(hours=24)
    #: A past month whose directory is not there (404) is closed only this long after
    #: its end: one 404 (a mirror, a CDN) closed it with files not yet done.
    missing_month_window: timedelta = timedelta(days=7)
    collector_refresh: timedelta = timedelta(hours=1)
    readiness: ReadinessPolicy = field(default_factory=ReadinessPolicy)
    max_parallel_files: int = 4
    keep_files: bool = False
    failure_backoff: timedelta = timedelta(minutes=2)
    failure_backoff_max: timedelta = timedelta(hours=1)
    #: A collector's later files wait behind a failing file until it has failed this
    #: often (see :meth:`Fetcher._holds_back`).
    hold_back_failures: int = 3
    #: One index page may take this long, retries included, before the round goes on
    #: without it (a listing error): a listing hanging for the client's 4 attempts of
    #: 300 s held every collector's round for 20 minutes.
    listing_timeout: timedelta = timedelta(minutes=2)


@dataclass
class PollReport:
    round: int
    listed: int = 0
    processed: list[FileId] = field(default_factory=list)
    failed: dict[FileId, str] = field(default_factory=dict)
    #: The failures among ``failed`` that were downloads tried this round (the others
    #: are processing failures, which ``on_file`` reports itself, or back-offs).
    download_errors: dict[FileId, str] = field(default_factory=dict)
    #: Files left on purpose: stopped by ``on_file`` (:class:`Postponed`), or not
    #: started once ``stop`` was set.
    postponed: list[FileId] = field(default_factory=list)
    waiting: list[FileId] = field(default_factory=list)
    remaining: int = 0  # files in the window, listed, not done after this round
    listing_errors: list[str] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)


@dataclass
class _Scan:
    source: Source
    listing: Listing
    ok: bool
    files: list[RemoteFile]
    #: The directory was there (False: every URL answered 404).
    found: bool = True


@dataclass
class _Failure:
    count: int
    retry_at: datetime


class Fetcher:
    """Follows the configured sources; one instance per state store.

    ``end=None`` is a live feed; with ``end`` it covers [start, end) only
    (see :func:`mrtfeed.fetch.backfill.backfill`).
    """

    def __init__(
        self,
        sources: Sequence[Source],
        on_file: OnFile,
        *,
        client: HttpClient,
        store: StateStore,
        config: FetchConfig,
        start: datetime,
        end: datetime | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        metrics: FetchMetrics | None = None,
        discovery: CollectorDiscovery | None = None,
        stop: asyncio.Event | None = None,
        resume: Mapping[tuple[str, str], datetime] | None = None,
    ) -> None:
        self.sources = list(sources)
        #: Set once the service is stopping: no file is started any more, not even its
        #: download (each is reported postponed); the ones in progress finish as
        #: ``on_file`` decides.
        self.stop = stop
        self.on_file = on_file
        self.client = client
        self.store = store
        self.config = config
        self.start = utc(start)
        #: Per (project, collector), an earlier start where files are left to do (a
        #: live feed whose state folder is new; see service.donestate.resume_points).
        self.resume = {key: utc(at) for key, at in (resume or {}).items() if at < self.start}
        self.end = None if end is None else utc(end)
        self.clock: Clock = clock or SystemClock()
        self.rng = rng or random.Random()
        self.metrics: FetchMetrics = metrics or NullMetrics()
        self.discovery = discovery or CollectorDiscovery(
            client,
            self.sources,
            self.clock,
            refresh_every=config.collector_refresh,
            metrics=self.metrics,
        )
        self.readiness = ReadinessTracker(config.readiness)
        self.gaps = GapDetector(self.metrics, grace=config.readiness.grace)
        self._round = 0
        self._seen: set[FileId] = set()
        self._failures: dict[FileId, _Failure] = {}
        self._inflight: set[FileId] = set()
        self._preferred: dict[tuple[str, ...], str] = {}
        self._file_sem = asyncio.Semaphore(config.max_parallel_files)
        self._list_sem: dict[int, asyncio.Semaphore] = {}
        #: Collectors whose files go on after their round (``poll_once(detach=True)``).
        self._detached: dict[tuple[str, str], asyncio.Task[None]] = {}
        #: Reports of those that ended, for the next round's report.
        self._finished: list[PollReport] = []

    @property
    def live(self) -> bool:
        return self.end is None

    # -- planning -------------------------------------------------------------

    def _closed_key(self, source: Source, collector: str, month: Month) -> str:
        return f"fetch.closed:{source.project.value}:{collector}:{month.folder}"

    def _start_of(self, project: str, collector: str) -> datetime:
        return self.resume.get((project, collector), self.start)

    def months(self, source: Source, collector: str, now: datetime) -> list[Month]:
        """Months to list for one collector in this round."""
        stop = now if self.end is None else min(self.end, now)
        start = self._start_of(source.project.value, collector)
        months = months_between(start, max(stop, start + timedelta(seconds=1)))
        if not self.live:
            return months
        return [
            m
            for m in months
            if self.store.get_setting(self._closed_key(source, collector, m)) is None
        ]

    def _in_window(self, fid: FileId) -> bool:
        start = self._start_of(fid.project.value, fid.collector)
        return fid.nominal >= start and (self.end is None or fid.nominal < self.end)

    # -- listing --------------------------------------------------------------

    async def _scan(self, source: Source, listing: Listing, errors: list[str]) -> _Scan:
        sem = self._list_sem.setdefault(
            id(source), asyncio.Semaphore(self.client.policy.per_host_connections)
        )
        urls = list(listing.urls)
        pref = self._preferred.get(listing.urls)
        if pref in urls:
            urls.remove(pref)
            urls.insert(0, pref)
        limit = self.config.listing_timeout.total_seconds()
        async with sem:
            for url in urls:
                try:
                    page = await asyncio.wait_for(self.client.get_text(url), limit)
                    entries = parse_index(page.text)
                except NotFound:
                    continue
                except (FetchError, IndexParseError, TimeoutError) as e:
                    why = e if str(e) else f"no answer within {limit:g} s"
                    msg = f"listing {url} failed: {why}"
                    log.warning("%s", msg)
                    errors.append(msg)
                    self.metrics.listing_finished(source.project, False)
                    return _Scan(source, listing, False, [])
                self.metrics.listing_finished(source.project, True)
                self._preferred[listing.urls] = url
                return _Scan(
                    source, listing, True, source.layout.remote_files(listing, url, entries)
                )
        return _Scan(source, listing, True, [], found=False)  # no such directory (yet)

    async def _head(self, remote: RemoteFile, rnd: int) -> None:
        try:
            length = await self.client.head_length(remote.url)
        except FetchError as e:
            log.info("HEAD %s failed: %s", remote.url, e)
            return
        self.readiness.observe(remote.file_id, rnd, length, length is not None)

    # -- processing -----------------------------------------------------------

    def _fail(self, fid: FileId, now: datetime, reason: str, report: PollReport) -> None:
        prev = self._failures.get(fid)
        count = 1 if prev is None else prev.count + 1
        delay = min(
            self.config.failure_backoff_max, self.config.failure_backoff * (2 ** (count - 1))
        )
        self._failures[fid] = _Failure(count, now + delay)
        report.failed[fid] = reason

    def _backing_off(self, fid: FileId, now: datetime) -> bool:
        failure = self._failures.get(fid)
        return failure is not None and now < failure.retry_at

    def _holds_back(self, fid: FileId) -> bool:
        """Whether the collector's files after ``fid``, which failed, wait for it.

        Its events are older: committed after theirs, an announcement would come
        after the withdrawal that ended it, and a consumer keeping a table would
        keep the route. A few attempts (the back-off's first minutes) keep the
        order through a passing failure; a file that keeps failing no longer
        stops its collector (a processing failure is quarantined by then, so
        only a download failing for good lets later files go first)."""
        failure = self._failures.get(fid)
        return failure is not None and failure.count < self.config.hold_back_failures

    async def _process(self, remote: RemoteFile, now: datetime, report: PollReport) -> None:
        fid = remote.file_id
        async with self._file_sem:
            if fid in self._inflight or self.store.is_done(fid):
                return
            if self.stop is not None and self.stop.is_set():
                report.postponed.append(fid)
                return
            self._inflight.add(fid)
            try:
                await self._process_one(remote, now, report)
            finally:
                self._inflight.discard(fid)

    async def _process_one(self, remote: RemoteFile, now: datetime, report: PollReport) -> None:
        fid = remote.file_id
        expected = self.readiness.stable_size(fid) or self.readiness.latest_size(fid)
        try:
            ready = await unless_stopped(
                download_file(self.client, remote, self.config.workdir, expected_size=expected),
                self.stop,
            )
        except Stopped:  # its temporary file went with it
            log.info("download of %s stopped: the service is stopping", fid)
            report.postponed.append(fid)
            return
        except FileChanged as e:
            log.info("%s changed on the server, waiting for it to settle: %s", fid, e.reason)
            self.readiness.reset(fid)
            self.metrics.download_finished(fid, e.outcome, 0)
            report.waiting.append(fid)
            return
        except FetchError as e:
            log.warning("download of %s failed, not marked done: %s", fid, e)
            self.metrics.download_finished(fid, e.outcome, 0)
            self._fail(fid, now, f"{e.outcome}: {e}", report)
            report.download_errors[fid] = f"download failed ({e.outcome}): {e}"
            return
        outcome = "ok" if ready.damage is None else "damaged_at_source"
        self.metrics.download_finished(fid, outcome, ready.size)
        try:
            await self.on_file(ready)
        except Postponed as e:
            log.info("%s not finished, postponed: %s", fid, e)
            report.postponed.append(fid)
            return
        except Exception as e:
            log.warning(
                "processing %s failed, it will be retried: %s: %s", fid, type(e).__name__, e
            )
            self._fail(fid, now, f"on_file: {type(e).__name__}: {e}", report)
            return
        finally:
            if not self.config.keep_files:
                ready.path.unlink(missing_ok=True)
        self.store.mark_done(fid, ready.size)
        self.readiness.forget(fid)
        self._failures.pop(fid, None)
        self.metrics.file_done(fid)
        report.processed.append(fid)

    async def _series(self, files: list[RemoteFile], now: datetime, report: PollReport) -> None:
        """One collector's files, oldest first, so its events stay in order; the
        files after one that failed wait for the next round (see _holds_back)."""
        ordered = sorted(files, key=lambda r: (r.file_id.nominal, r.file_id.kind.value))
        for i, remote in enumerate(ordered):
            if self._backing_off(remote.file_id, now):
                report.failed[remote.file_id] = "backing off after an earlier failure"
            else:
                await self._process(remote, now, report)
            if self._holds_back(remote.file_id):
                report.waiting.extend(r.file_id for r in ordered[i + 1 :])
                return

    # -- one round ------------------------------------------------------------

    async def _detached_series(
        self, key: tuple[str, str], files: list[RemoteFile], now: datetime, rnd: int
    ) -> None:
        """:meth:`_series` on its own: the next rounds go on meanwhile. What it did
        reaches the report of the first round after it ends."""
        report = PollReport(rnd)
        try:
            await self._series(files, now, report)
        except Exception:
            log.exception("files of %s/%s failed unexpectedly; listed again next round", *key)
        finally:
            del self._detached[key]
            self._finished.append(report)

    def _collect_finished(self, report: PollReport) -> None:
        for done in self._finished:
            report.processed += done.processed
            report.failed.update(done.failed)
            report.download_errors.update(done.download_errors)
            report.postponed += done.postponed
        self._finished.clear()

    async def drain(self, *, cancel: bool = False) -> None:
        """Wait for the collectors whose files are still in progress (rounds with
        ``detach``); with ``stop`` set they end at a batch boundary, postponing the
        files not started. ``cancel``: cancel them first (the round was cancelled)."""
        tasks = list(self._detached.values())
        if cancel:
            for task in tasks:
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def poll_once(self, *, detach: bool = False) -> PollReport:
        """List every relevant directory once and process every ready file.

        ``detach`` (the service): each collector's files go on in a task of their own
        and the round does not wait for them, so one collector's 1.5 GB bview or
        stalled download no longer holds every other collector until it ends (a review
        saw an rrc01 updates file taken after 194 s instead of 11). Their files are
        not taken again while it runs, and the next rounds report what it did.
        """
        self._round += 1
        rnd = self._round
        report = PollReport(rnd)
        self._collect_finished(report)
        now = self.clock.now()
        await self.discovery.maybe_refresh()
        # Until a refresh works again, its failure is this round's: a backfill that
        # could not list collectors is not complete.
        report.listing_errors.extend(self.discovery.errors)

        jobs = [
            self._scan(source, listing, report.listing_errors)
            for source in self.sources
            for collector in self.discovery.collectors(source, live=self.live)
            for month in self.months(source, collector, now)
            for listing in source.layout.listings(collector, month, source.kinds)
        ]
        scans: list[_Scan] = list(await asyncio.gather(*jobs))

        pending: dict[FileId, RemoteFile] = {}
        for scan in scans:
            in_window = [f for f in scan.files if self._in_window(f.file_id)]
            report.listed += len(in_window)
            by_kind: dict[object, list[datetime]] = defaultdict(list)
            for f in in_window:
                by_kind[f.file_id.kind].append(f.file_id.nominal)
                if self.store.is_done(f.file_id):
                    continue
                pending[f.file_id] = f
                if f.file_id not in self._seen:
                    self._seen.add(f.file_id)
                    self.metrics.file_discovered(f.file_id)
                self.readiness.observe(f.file_id, rnd, f.size, f.size_exact)
            for kind in scan.listing.kinds:
                self.gaps.observe(
                    scan.source.project, scan.listing.collector, kind, by_kind.get(kind, [])
                )

        heads = [
            self._head(f, rnd)
            for fid, f in pending.items()
            if self.readiness.decide(fid, rnd, now) is Readiness.NEED_HEAD
        ]
        await asyncio.gather(*heads)

        groups: dict[tuple[str, str], list[RemoteFile]] = defaultdict(list)
        for fid, f in pending.items():
            if (fid.project.value, fid.collector) in self._detached:
                report.waiting.append(fid)  # behind its collector's files in progress
            # A file backing off stays in its series: it may hold the later ones back.
            elif (
                self._backing_off(fid, now)
                or self.readiness.decide(fid, rnd, now) is Readiness.READY
            ):
                groups[(fid.project.value, fid.collector)].append(f)
            else:
                report.waiting.append(fid)
        if detach:
            for key, files in groups.items():
                self._detached[key] = asyncio.create_task(
                    self._detached_series(key, files, now, rnd)
                )
        else:
            await asyncio.gather(*(self._series(g, now, report) for g in groups.values()))

        remaining = [fid for fid in pending if not self.store.is_done(fid)]
        report.remaining = len(remaining)
        self._close_months(scans, remaining, now)
        self._seen &= set(remaining)
        self.readiness.prune(set(remaining))
        report.gaps = self.gaps.check(now, self.start, self.end)
        log.debug(
            "poll round %d: %d listed, %d processed, %d waiting, %d failed",
            rnd,
            report.listed,
            len(report.processed),
            len(report.waiting),
            len(report.failed),
        )
        return report

    def _close_months(self, scans: list[_Scan], remaining: list[FileId], now: datetime) -> None:
        """Stop listing a past month once it is fully done (live feeds only): listed
        well ``boundary_window`` after its end with nothing left to do, its directory
        found (or still absent ``missing_month_window`` after its end)."""
        if not self.live:
            return
        open_months = {(f.project.value, f.collector, Month.of(f.nominal)) for f in remaining}
        status: dict[tuple[int, str, Month], bool] = {}
        for scan in scans:
            key = (id(scan.source), scan.listing.collector, scan.listing.month)
            month_end = scan.listing.month.end
            settled = scan.found or now >= month_end + self.config.missing_month_window
            status[key] = status.get(key, True) and scan.ok and settled
        for source in self.sources:
            for (sid, collector, month), ok in status.items():
                if sid != id(source) or not ok or now < month.end + self.config.boundary_window:
                    continue
                if (source.project.value, collector, month) in open_months:
                    continue
                self.store.set_setting(self._closed_key(source, collector, month), "1")

    # -- loop -----------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Poll until ``stop`` is set, waiting ``poll_interval`` + jitter between rounds."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            try:
                await self.poll_once()
            except (asyncio.CancelledError, KeyboardInterrupt):
                raise
            except Exception:
                log.exception("poll round failed unexpectedly; continuing")
            if stop.is_set():
                break
            jitter = self.rng.uniform(0, self.config.poll_jitter.total_seconds())
            await self._wait(self.config.poll_interval.total_seconds() + jitter, stop)

    async def _wait(self, seconds: float, stop: asyncio.Event) -> None:
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        stopper = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (sleeper, stopper):
                t.cancel()
