"""``mrtfeed run``: fetcher -> parser pool -> sink, with HTTP, alerts and graceful stop.

Stages and their bounds (memory stays bounded when the sink or the archive is slow):

* the fetcher works on at most ``queues.files`` files at once (download + stream);
* each file keeps at most ``queues.chunks`` chunks in the worker pool;
* a batch is handed to the sink only when the previous one was accepted, so a slow
  sink holds back decoding instead of filling memory.

Stopping (SIGTERM): no new file starts, files in progress stop at the next batch
boundary, the sink commits what it holds, and the process exits; after
``shutdown_timeout`` the work still running is cancelled, which is safe because only
committed batches move checkpoints.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from mrtfeed.archive.model import Kind, Project
from mrtfeed.config import Config
from mrtfeed.fetch.backfill import BackfillReport, backfill
from mrtfeed.fetch.clock import Clock, SystemClock
from mrtfeed.fetch.discovery import CollectorDiscovery
from mrtfeed.fetch.download import remove_partial_downloads
from mrtfeed.fetch.http import HttpClient
from mrtfeed.fetch.poller import FetchConfig, Fetcher, live_start
from mrtfeed.fetch.sources import Source
from mrtfeed.observe.metrics import ServiceMetrics
from mrtfeed.observe.server import HttpServer
from mrtfeed.observe.status import ServiceStatus
from mrtfeed.service.alerts import StaleWatch
from mrtfeed.service.donestate import SinkAwareStore, resume_points
from mrtfeed.service.pool import ParserPool
from mrtfeed.service.processor import FileProcessor
from mrtfeed.service.quarantine import Quarantine
from mrtfeed.service.scaleout import WorkGroup
from mrtfeed.service.sinks import (
    CommittedCheckpoints,
    MeteredSink,
    kafka_settings,
    make_sink,
    stream_options,
)
from mrtfeed.service.wiring import build_sources, fetch_config, http_policy, start_position
from mrtfeed.sink.base import Sink
from mrtfeed.state.store import SqliteStateStore, StateStore

__all__ = ["OwnedDiscovery", "Service", "ServiceOptions", "SinkUnavailable"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceOptions:
    """Knobs that are not in the config file (tests, the CLI)."""

    #: Seconds between SIGTERM and cancelling work still running.
    shutdown_timeout: float = 20.0
    #: Start the HTTP endpoints (off for one-shot commands such as backfill).
    http: bool = True
    #: Seconds between stale-collector checks (at most; shorter for a short stale_after).
    stale_check_interval: float = 60.0
    #: Seconds between attempts to start a sink that is not reachable yet.
    sink_retry: float = 5.0
    #: Seconds to keep trying before :class:`SinkUnavailable` (None: for ever, as a
    #: service waits for its broker; a one-shot backfill must end).
    sink_wait: float | None = None


class SinkUnavailable(RuntimeError):
    """The sink did not start within :attr:`ServiceOptions.sink_wait`."""


class OwnedDiscovery(CollectorDiscovery):
    """Discovery limited to the collectors this replica owns (scale-out).

    ``owns(project, collector)`` None means every collector is ours.
    """

    owns: Callable[[str, str], bool] | None = None

    def collectors(self, source: Source, *, live: bool = True) -> list[str]:
        names = super().collectors(source, live=live)
        owns = self.owns
        if owns is None:
            return names
        return [n for n in names if owns(source.project.value, n)]


class Service:
    """One running mrtfeed; :meth:`run` until ``stop`` is set."""

    def __init__(
        self,
        config: Config,
        options: ServiceOptions | None = None,
        *,
        metrics: ServiceMetrics | None = None,
        sink: Sink | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.config = config
        self.options = options or ServiceOptions()
        self.metrics = metrics or ServiceMetrics()
        self.status = ServiceStatus(sink_type=config.sink.type)
        self.clock: Clock = clock or SystemClock()
        self.state_dir = config.state.path
        self._inner_sink = sink
        self.sink: MeteredSink | None = None
        self.store: StateStore | None = None
        self.pool: ParserPool | None = None
        self.http: HttpServer | None = None
        self.client: HttpClient | None = None
        self.fetcher: Fetcher | None = None
        self.processor: FileProcessor | None = None
        self.discovery: OwnedDiscovery | None = None
        self.group: WorkGroup | None = None
        self.sources: list[Source] = build_sources(config)
        self.stop = asyncio.Event()
        #: Set once the service is set up and its loops are about to start.
        self.started = asyncio.Event()

    # -- start-up ---------------------------------------------------------------

    async def _start_http(self) -> None:
        if not self.options.http:
            return
        server = self.config.server
        self.http = HttpServer(self.metrics, self.status, server.host, server.port)
        await self.http.start()
        log.info("HTTP endpoints on %s:%d", server.host or "*", self.http.port)

    async def _start_sink(self) -> MeteredSink:
        inner = self._inner_sink or make_sink(self.config, self.state_dir)
        sink = MeteredSink(inner, self.metrics)
        self.status.sink_ready = lambda: sink.ready
        wait = self.options.sink_wait
        give_up = None if wait is None else time.monotonic() + wait
        while True:
            try:
                await sink.start()
                prepare = getattr(inner, "prepare", None)
                if prepare is not None:  # Kafka: a missing topic fails here, not mid-file
                    await prepare(self._topics())
                break
            except Exception as e:  # unreachable broker: wait, /readyz says why
                with contextlib.suppress(Exception):
                    await sink.close()
                self.status.error("sink", f"{type(e).__name__}: {e}")
                if give_up is not None and time.monotonic() >= give_up:
                    raise SinkUnavailable(
                        f"{self.config.sink.type} sink not available after {wait:g} s: "
                        f"{type(e).__name__}: {e}"
                    ) from None
                log.warning(
                    "%s sink not available (%s); retrying in %.0fs",
                    self.config.sink.type,
                    e,
                    self.options.sink_retry,
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), self.options.sink_retry)
                if self.stop.is_set():
                    raise
        return sink

    def _topics(self) -> list[str]:
        """Every topic the workers write to."""
        topics = self.config.sink.kafka.topics
        sets = [fs.topic for fs in self.config.filter_sets]
        return list(dict.fromkeys([topics.events, topics.alerts, *sets]))

    async def _set_up(self) -> bool:
        """:meth:`setup`; False when a stop ended it (while waiting for the sink)."""
        try:
            await self.setup()
        except Exception as e:
            if not self.stop.is_set():
                raise
            log.info("stopped while starting: %s", e)
            return False
        return True

    async def setup(self) -> None:
        """Everything but the fetch loop: HTTP, state, sink, pool, processor."""
        await self._start_http()
        for sub in ("downloads", "quarantine"):
            (self.state_dir / sub).mkdir(parents=True, exist_ok=True)
        removed = await asyncio.to_thread(
            remove_partial_downloads, self.state_dir / "downloads", time.time()
        )
        if removed:
            log.info("removed %d unfinished downloads of an earlier run", removed)
        sqlite = SqliteStateStore(self.state_dir / "state.sqlite")
        self.store = sqlite
        self.status.state_loaded = True
        self.sink = await self._start_sink()
        self.store = SinkAwareStore(sqlite, CommittedCheckpoints(self.sink.inner))
        quarantine = Quarantine(
            self.state_dir / "quarantine", self.config.state.quarantine_max_bytes
        )
        await asyncio.to_thread(quarantine.prune)  # the limit may have been lowered
        workers = self.config.worker_count
        self.pool = ParserPool(workers, self.metrics)
        self.processor = FileProcessor(
            self.sink,
            stream_options(self.config),
            self.pool,
            self.metrics,
            self.status,
            quarantine,
            self.stop,
            window=self.config.chunk_window,
        )
        self.client = HttpClient(http_policy(self.config), clock=self.clock)
        if self.config.scale_out.enabled:
            await self._join_group()
        log.info(
            "mrtfeed started: %s sink, %d parser worker(s), state in %s",
            self.config.sink.type,
            workers,
            self.state_dir,
        )

    # -- scale-out --------------------------------------------------------------------

    async def _join_group(self) -> None:
        assert self.processor is not None
        k = self.config.sink.kafka
        self.group = WorkGroup(
            kafka_settings(self.config).connection_options(),
            k.topics.work,
            self.config.scale_out.group_id,
            on_revoke=self._handover,
            on_assign=self._taken_over,
        )
        await self.group.start()
        self.processor.owns = self.group.owns
        self.status.owned = set()
        log.info("joined work group %s on %s", self.config.scale_out.group_id, k.topics.work)

    async def _handover(self) -> None:
        """Partitions revoked: stop their files at a batch boundary and commit."""
        deadline = asyncio.get_running_loop().time() + self.options.shutdown_timeout
        while self.status.in_progress and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        if self.status.in_progress:
            log.warning("handover: %s still in progress", sorted(self.status.in_progress))
        if self.sink is not None:
            await self.sink.commit()
        self._update_owned()

    async def _taken_over(self) -> None:
        """Partitions assigned: what earlier owners committed is what we resume from."""
        if self.sink is not None:
            await self.sink.reload_checkpoints()
        if self.fetcher is not None:
            # Files stopped by the handover wait out the fetcher's failure backoff
            # otherwise; they did not fail. (No public API for this in mrtfeed.fetch.)
            self.fetcher._failures.clear()

    def _make_fetcher(
        self,
        start: datetime,
        end: datetime | None = None,
        resume: Mapping[tuple[str, str], datetime] | None = None,
    ) -> Fetcher:
        assert self.client and self.store and self.processor
        cfg = fetch_config(self.config)
        self.discovery = self._discovery(cfg)
        return Fetcher(
            self.sources,
            self.processor,
            client=self.client,
            store=self.store,
            config=cfg,
            start=start,
            end=end,
            clock=self.clock,
            metrics=self.metrics,
            discovery=self.discovery,
            stop=self.stop,
            resume=resume,
        )

    def _discovery(self, cfg: FetchConfig) -> OwnedDiscovery:
        assert self.client is not None
        discovery = OwnedDiscovery(
            self.client,
            self.sources,
            self.clock,
            refresh_every=cfg.collector_refresh,
            metrics=self.metrics,
        )
        if self.group is not None:
            discovery.owns = self.group.owns
        return discovery

    # -- loops --------------------------------------------------------------------

    async def _fetch_loop(self, fetcher: Fetcher) -> None:
        try:
            await self._poll_rounds(fetcher)
        except asyncio.CancelledError:  # the shutdown deadline: files in progress too
            await fetcher.drain(cancel=True)
            raise
        await fetcher.drain()

    async def _poll_rounds(self, fetcher: Fetcher) -> None:
        rng = random.Random()
        poll = self.config.poll
        while not self.stop.is_set():
            try:
                report = await fetcher.poll_once(detach=True)
                self.status.polls += 1
                self.status.last_poll = datetime.now(UTC)
                for error in report.listing_errors:
                    self.status.error("listing", error)
                for fid, error in report.download_errors.items():
                    self.status.error(fid.key, error)
                self._update_owned()
            except (asyncio.CancelledError, KeyboardInterrupt):
                raise
            except Exception as e:
                log.exception("poll round failed unexpectedly; continuing")
                self.status.error("poll", f"{type(e).__name__}: {e}")
            if self.stop.is_set():
                break
            wait = poll.interval.total_seconds() * (1 + rng.uniform(0, poll.jitter))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), wait)

    def _update_owned(self) -> None:
        if self.discovery is None:
            return
        owned = {
            f"{s.project.value}/{c}" for s in self.sources for c in self.discovery.collectors(s)
        }
        self.metrics.owned_collectors.set(len(owned))
        if self.discovery.owns is not None:
            self.status.owned = owned

    def known_series(self) -> Iterable[tuple[Project, str, Kind]]:
        if self.discovery is None:
            return []
        files = self.config.files
        kinds = [k for k, on in ((Kind.RIBS, files.ribs), (Kind.UPDATES, files.updates)) if on]
        return [
            (s.project, c, k)
            for s in self.sources
            for c in self.discovery.collectors(s)
            for k in kinds
        ]

    async def _stale_loop(self) -> None:
        assert self.sink and self.store
        watch = StaleWatch(
            self.sink,
            self.status,
            self.metrics,
            self.store,
            alerts_topic=self.config.sink.kafka.topics.alerts,
            stale_after=self.config.alerts.stale_after,
            known_series=self.known_series,
            owns=self.group.owns if self.group is not None else None,
        )
        every = min(
            self.options.stale_check_interval, self.config.alerts.stale_after.total_seconds() / 4
        )
        while not self.stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), every)
            if self.stop.is_set():
                break
            try:
                await watch.check()
            except Exception as e:
                log.warning("stale-collector check failed: %s", e)
                self.status.error("alerts", f"{type(e).__name__}: {e}")

    # -- run / stop ---------------------------------------------------------------

    async def run(self) -> int:
        """Run until :attr:`stop` is set; returns the exit status."""
        try:
            if not await self._set_up():
                return 0
            assert self.store is not None and self.sink is not None
            start = live_start(self.store, start_position(self.config), self.clock.now())
            log.info("live feed from %s", f"{start:%F %H:%M}")
            self.fetcher = self._make_fetcher(
                start, resume=resume_points(self.sink.committed_checkpoints)
            )
            if self.fetcher.resume:
                log.info(
                    "%d collectors go on from their checkpoints in the sink, from %s",
                    len(self.fetcher.resume),
                    f"{min(self.fetcher.resume.values()):%F %H:%M}",
                )
            self.started.set()
            tasks = [
                asyncio.create_task(self._fetch_loop(self.fetcher), name="fetch"),
                asyncio.create_task(self._stale_loop(), name="stale"),
            ]
            stopper = asyncio.create_task(self.stop.wait(), name="stop")
            await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
            status = 0
            for task in tasks:
                if task.done() and not self.stop.is_set():
                    # A loop ended on its own: nothing would be processed any more.
                    # /healthz fails, and the exit status tells the supervisor.
                    error = task.exception() if not task.cancelled() else None
                    self.status.fatal = f"{task.get_name()} loop ended: {error!r}"
                    log.critical("%s; stopping", self.status.fatal)
                    status = 1
            self.stop.set()
            await stopper
            self.status.stopping = True
            log.info("stopping: finishing the current batches")
            await self._wind_down(tasks)
            return status
        finally:
            await self.close()

    async def _wind_down(self, tasks: list[asyncio.Task[None]]) -> None:
        """Let files in progress reach a batch boundary; cancel the rest.

        Listing and downloading hold nothing worth waiting for (a download's temporary
        file is removed when it is cancelled), so once no file is in the pipeline the
        loops are cancelled at once instead of sitting out HTTP retries.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.shutdown_timeout
        while loop.time() < deadline and self.status.in_progress:
            done, _ = await asyncio.wait(tasks, timeout=0.05)
            if len(done) == len(tasks):
                break
        for task in tasks:
            if not task.done():
                if self.status.in_progress:
                    log.warning(
                        "still busy with %s at the deadline", sorted(self.status.in_progress)
                    )
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def run_backfill(
        self, start: datetime, end: datetime, *, max_rounds: int = 5
    ) -> BackfillReport:
        """Process every file with nominal time in [start, end), then return."""
        try:
            if not await self._set_up():  # nothing of the range was listed
                return BackfillReport(start, end, stopped=True)
            assert self.store and self.processor and self.client
            self.started.set()
            return await backfill(
                self.sources,
                start,
                end,
                self.processor,
                store=self.store,
                workdir=self.state_dir / "downloads",
                client=self.client,
                config=fetch_config(self.config),
                clock=self.clock,
                metrics=self.metrics,
                max_rounds=max_rounds,
                round_interval=min(timedelta(minutes=1), self.config.poll.interval),
                stop=self.stop,
            )
        finally:
            await self.close()

    async def close(self) -> None:
        """Commit and release everything; safe to call twice."""
        self.status.stopping = True
        if self.group is not None:
            try:
                await self.group.close()
            except Exception as e:
                log.error("leaving the work group failed: %s", e)
            self.group = None
        if self.sink is not None:
            try:
                await self.sink.close()
            except Exception as e:
                log.error("closing the sink failed: %s", e)
            self.sink = None
        if self.pool is not None:
            await asyncio.to_thread(self.pool.terminate)
            self.pool = None
        if self.client is not None:
            await self.client.close()
            self.client = None
        if self.store is not None:
            self.store.close()
            self.store = None
        if self.http is not None:
            await self.http.close()
            self.http = None
        log.info("mrtfeed stopped")
