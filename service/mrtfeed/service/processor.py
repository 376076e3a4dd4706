"""The fetcher's ``on_file``: stream one downloaded file through the pool into the sink.

Failure policy (a service never dies on one bad file):

* damaged content (the decoder stops at a bad record): the events before it are
  committed, the file is quarantined and counted, and it is done;
* an unexpected error: retried by the fetcher with backoff; after ``max_failures``
  the file is quarantined and the service goes on. Not counted: the sink is down, or
  the file's batches were lost with another file's failed commit
  (:class:`~mrtfeed.sink.base.AbortedWithOthers`): neither is the file's fault;
* a requested shutdown stops the file at a batch boundary; what is committed stays, and
  the next run resumes from the checkpoint.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

from mrtfeed.archive.cadence import interval_end
from mrtfeed.archive.model import FileId
from mrtfeed.fetch.download import ReadyFile
from mrtfeed.fetch.poller import Postponed
from mrtfeed.observe.metrics import ServiceMetrics
from mrtfeed.observe.status import ServiceStatus
from mrtfeed.pipeline.messages import StreamOptions
from mrtfeed.pipeline.stream import StreamReport, stream_file
from mrtfeed.service.pool import BrokenProcessPool, ParserPool
from mrtfeed.service.quarantine import Quarantine
from mrtfeed.sink.base import AbortedWithOthers, Batch, Sink, SourceFile

__all__ = ["FileProcessor", "NotOwned", "ShutdownRequested", "source_file"]

log = logging.getLogger(__name__)


class ShutdownRequested(Postponed):
    """Raised at a batch boundary once the service is stopping; the file is not done."""


class NotOwned(ShutdownRequested):
    """The file's collector went to another replica (scale-out); it resumes there."""


def source_file(ready: ReadyFile) -> SourceFile:
    fid = ready.file_id
    return SourceFile(
        fid.project.value, fid.collector, fid.kind.value, int(fid.nominal.timestamp()), ready.url
    )


class FileProcessor:
    """Callable ``on_file`` for :class:`mrtfeed.fetch.Fetcher` and backfill."""

    def __init__(
        self,
        sink: Sink,
        options: StreamOptions,
        pool: ParserPool | None,
        metrics: ServiceMetrics,
        status: ServiceStatus,
        quarantine: Quarantine,
        stop: asyncio.Event,
        *,
        window: int = 4,
        max_failures: int = 3,
    ) -> None:
        self.sink = sink
        self.options = options
        self.pool = pool
        self.metrics = metrics
        self.status = status
        self.quarantine = quarantine
        self.stop = stop
        self.window = window
        self.max_failures = max_failures
        #: Scale-out: ``owns(project, collector)``; None when every collector is ours.
        self.owns: Callable[[str, str], bool] | None = None
        self._failures: Counter[FileId] = Counter()
        self._files = 0
        self.reports: list[StreamReport] = []  # the last few, for tests and backfill

    def _on_batch(self, batch: Batch) -> None:
        if self.stop.is_set():
            raise ShutdownRequested(f"stopping after a batch of {batch.file.key}")
        owns = self.owns
        if owns is not None and not owns(batch.file.project, batch.file.collector):
            raise NotOwned(f"{batch.file.collector} handed over after a batch of {batch.file.key}")

    def _depth(self, delta: int) -> None:
        self._files += delta
        self.metrics.queue_depth.labels("files").set(self._files)

    async def __call__(self, ready: ReadyFile) -> None:
        fid = ready.file_id
        if self.stop.is_set():
            raise ShutdownRequested(f"not starting {fid.key}: stopping")
        if self.owns is not None and not self.owns(fid.project.value, fid.collector):
            raise NotOwned(f"not starting {fid.key}: {fid.collector} is not ours now")
        started = time.monotonic()
        self.status.in_progress.add(fid.key)
        self._depth(+1)
        try:
            report = await stream_file(
                ready.path,
                source_file(ready),
                self.sink,
                self.options,
                self.pool,
                on_batch=self._on_batch,
                window=self.window,
            )
        except ShutdownRequested:
            raise
        except Exception as e:
            self._failed(ready, e)
            return
        finally:
            self.status.in_progress.discard(fid.key)
            self._depth(-1)
        self._failures.pop(fid, None)
        self._done(ready, report, time.monotonic() - started)

    def _failed(self, ready: ReadyFile, e: Exception) -> None:
        """Re-raise (the fetcher retries) unless the file failed too often."""
        fid = ready.file_id
        if isinstance(e, BrokenProcessPool) and self.pool is not None:
            self.pool.renew()
        message = f"{type(e).__name__}: {e}"
        self.metrics.files_processed.labels("failed").inc()
        self.status.files_failed += 1
        self.status.error(fid.key, message)
        if not self.sink.ready:
            blameless: str | None = "the sink is not ready"
        elif isinstance(e, AbortedWithOthers):
            blameless = "not its fault"
        else:
            blameless = None
        if blameless is not None:  # retried, not counted towards quarantine
            log.warning("%s not processed, %s: %s", fid.key, blameless, message)
            raise e
        self._failures[fid] += 1
        n = self._failures[fid]
        if n < self.max_failures:
            log.warning("%s failed (%d/%d), will retry: %s", fid.key, n, self.max_failures, message)
            raise e
        del self._failures[fid]
        log.error("%s failed %d times, quarantining it: %s", fid.key, n, message)
        self._quarantine(ready, f"failed {n} times; last error {message}")

    def _quarantine(self, ready: ReadyFile, reason: str) -> None:
        try:
            self.quarantine.put(ready, reason)
        except OSError as e:
            log.error("cannot quarantine %s: %s", ready.file_id.key, e)
            self.status.error(ready.file_id.key, f"quarantine failed: {e}")
            return
        self.metrics.files_quarantined.inc()
        self.status.quarantined += 1

    def _done(self, ready: ReadyFile, report: StreamReport, seconds: float) -> None:
        fid = ready.file_id
        stats = report.decoder_stats
        self.metrics.stream_counts(
            records=report.records,
            events=report.events,
            filter_matches=report.filter_matches,
            alerts=report.alerts,
            malformed={
                "bad_record": report.bad_records,
                "treat_as_withdraw": stats.treat_as_withdraw,
                "attribute_discard": stats.attribute_discard,
                "nlri_truncated": stats.truncated_nlri,
            },
        )
        self.reports = [*self.reports[-31:], report]
        if report.already_done:
            self.metrics.files_processed.labels("skipped").inc()
            return
        lag = (datetime.now(UTC) - interval_end(fid)).total_seconds()
        self.metrics.committed(fid, lag, seconds)
        self.status.file_committed(fid, lag)
        if report.error is not None:
            where = report.error.describe(ready.name)
            self.metrics.files_processed.labels("damaged").inc()
            self.status.files_damaged += 1
            self.status.error(fid.key, where)
            log.warning("%s is damaged; events before the damage are committed: %s", fid, where)
            self._quarantine(ready, where)
            return
        self.metrics.files_processed.labels("ok").inc()
        self.status.files_ok += 1
        log.info(
            "%s: %d records, %d events, %d messages in %.1fs%s",
            fid.key,
            report.records,
            sum(report.events.values()),
            report.messages,
            seconds,
            f" (resumed at record {report.resumed_from_record})"
            if report.resumed_from_record
            else "",
        )
