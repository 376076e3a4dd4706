"""Backfill of a time range: the same pipeline as the live feed, bounded.

Exposed for the ``mrtfeed backfill --from --to`` command. Files already done
(by an earlier backfill or by the live feed, which share the state store) are
skipped; files that fail are retried for a few rounds and then reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

from mrtfeed.archive.layout import Listing
from mrtfeed.archive.model import FileId, months_between, utc
from mrtfeed.fetch.clock import Clock, SystemClock
from mrtfeed.fetch.gaps import Gap
from mrtfeed.fetch.http import HttpClient, HttpPolicy
from mrtfeed.fetch.metrics import FetchMetrics
from mrtfeed.fetch.poller import FetchConfig, Fetcher, OnFile, Stopped, unless_stopped
from mrtfeed.fetch.sources import Source
from mrtfeed.state.store import StateStore

__all__ = ["BackfillReport", "backfill", "plan_backfill"]

log = logging.getLogger(__name__)


@dataclass
class BackfillReport:
    start: datetime
    end: datetime
    rounds: int = 0
    processed: list[FileId] = field(default_factory=list)
    failed: dict[FileId, str] = field(default_factory=dict)
    #: Files not finished because the run was stopped (see ``stop``).
    postponed: list[FileId] = field(default_factory=list)
    not_ready: list[FileId] = field(default_factory=list)
    listing_errors: list[str] = field(default_factory=list)
    #: ``collectors.include`` patterns that matched no collector: nothing was done
    #: for them, so the range is not complete.
    unmatched_collectors: list[str] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    #: The range had ended when the backfill did: files of it may still come.
    range_over: bool = True
    #: The run was stopped (SIGTERM, Ctrl-C), maybe before its first round.
    stopped: bool = False

    @property
    def complete(self) -> bool:
        """The range was listed, every listed file in it is done, every listing worked,
        and the range is over (an empty listing of a range still running is not its
        end)."""
        return (
            self.rounds > 0
            and self.range_over
            and not self.failed
            and not self.postponed
            and not self.not_ready
            and not self.listing_errors
            and not self.unmatched_collectors
        )


def plan_backfill(
    sources: Sequence[Source],
    collectors: Mapping[int, Sequence[str]],
    start: datetime,
    end: datetime,
) -> list[Listing]:
    """Directories to list for [start, end); ``collectors`` maps source index → names.

    Pure, so a CLI can print the plan (``--dry-run``) without any request.
    """
    months = months_between(start, end)
    return [
        listing
        for i, source in enumerate(sources)
        for collector in collectors.get(i, ())
        for month in months
        for listing in source.layout.listings(collector, month, source.kinds)
    ]


async def backfill(
    sources: Sequence[Source],
    start: datetime,
    end: datetime,
    on_file: OnFile,
    *,
    store: StateStore,
    workdir: Path,
    client: HttpClient | None = None,
    http_policy: HttpPolicy | None = None,
    config: FetchConfig | None = None,
    clock: Clock | None = None,
    rng: random.Random | None = None,
    metrics: FetchMetrics | None = None,
    max_rounds: int = 5,
    round_interval: timedelta = timedelta(minutes=1),
    stop: asyncio.Event | None = None,
) -> BackfillReport:
    """Process every file of ``sources`` with nominal time in [start, end).

    Retired collectors are included (the range may predate their retirement).
    Files too fresh to be complete are waited for, up to ``max_rounds``
    rounds ``round_interval`` apart. Returns what was done and what was not;
    it never raises for a bad file or an unreachable archive. Once ``stop`` is set,
    no file is started and no round follows: the report names the files left
    (``postponed``), which a later run takes up.
    """
    start, end = utc(start), utc(end)
    if end <= start:
        raise ValueError(f"backfill range is empty: {start:%F %H:%M} .. {end:%F %H:%M}")
    clock = clock or SystemClock()
    rng = rng or random.Random()
    cfg = config or FetchConfig(workdir=workdir)
    cfg = replace(cfg, workdir=workdir, failure_backoff=min(cfg.failure_backoff, round_interval))
    own_client = client is None
    http = client or HttpClient(http_policy, clock=clock, rng=rng)
    report = BackfillReport(start, end)
    try:
        fetcher = Fetcher(
            sources,
            on_file,
            client=http,
            store=store,
            config=cfg,
            start=start,
            end=end,
            clock=clock,
            rng=rng,
            metrics=metrics,
            stop=stop,
        )
        for n in range(1, max_rounds + 1):
            r = await fetcher.poll_once()
            report.rounds = n
            report.processed += r.processed
            report.listing_errors = r.listing_errors
            report.unmatched_collectors = list(fetcher.discovery.unmatched)
            report.gaps += r.gaps
            report.failed = dict(r.failed)
            report.postponed = list(r.postponed)
            report.not_ready = list(r.waiting)
            if r.remaining == 0 and not r.listing_errors:
                break
            if n < max_rounds:
                with contextlib.suppress(Stopped):
                    await unless_stopped(clock.sleep(round_interval.total_seconds()), stop)
            if stop is not None and stop.is_set():
                break
    finally:
        if own_client:
            await http.close()
    report.range_over = end <= clock.now()
    report.stopped = stop is not None and stop.is_set()
    log.info(
        "backfill %s..%s: %d processed, %d failed, %d postponed, %d not ready after %d round(s)",
        f"{start:%F %H:%M}",
        f"{end:%F %H:%M}",
        len(report.processed),
        len(report.failed),
        len(report.postponed),
        len(report.not_ready),
        report.rounds,
    )
    return report
