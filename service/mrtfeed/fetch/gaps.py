"""Gap detection: report files missing from a series, or overdue.

Route Views intervals start when the daemon starts, so names are not on a
fixed grid; gaps are found between consecutive names instead. Each gap is
reported once (log warning + metrics hook) — a monitoring signal, never a
reason to skip or block processing.
"""

from __future__ import annotations

import bisect
import itertools
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from mrtfeed.archive.cadence import PUBLICATION_DELAY, SPAN, cadence
from mrtfeed.archive.model import Kind, Project, utc
from mrtfeed.fetch.metrics import FetchMetrics, NullMetrics

__all__ = ["Gap", "GapDetector"]

log = logging.getLogger(__name__)
Series = tuple[Project, str, Kind]


@dataclass(frozen=True)
class Gap:
    project: Project
    collector: str
    kind: Kind
    after: datetime  # last file before the gap
    before: datetime | None  # first file after it; None: overdue (late)
    missing: int


class GapDetector:
    """Tracks listed nominal times per series within a sliding window."""

    def __init__(
        self,
        metrics: FetchMetrics | None = None,
        *,
        tolerance: float = 1.5,
        grace: timedelta = timedelta(minutes=3),
        window: timedelta = timedelta(days=3),
    ) -> None:
        self.metrics: FetchMetrics = metrics or NullMetrics()
        self.tolerance = tolerance
        self.grace = grace
        self.window = window
        self._times: dict[Series, list[datetime]] = {}
        self._reported: set[tuple[Series, datetime, bool]] = set()

    def observe(
        self, project: Project, collector: str, kind: Kind, nominals: Iterable[datetime]
    ) -> None:
        times = self._times.setdefault((project, collector, kind), [])
        for t in nominals:
            t = utc(t)
            i = bisect.bisect_left(times, t)
            if i == len(times) or times[i] != t:
                times.insert(i, t)

    def check(self, now: datetime, since: datetime, until: datetime | None = None) -> list[Gap]:
        """New gaps among files with nominal time in [since, until); reported once."""
        now, since = utc(now), utc(since)
        horizon = max(since, now - self.window)
        found: list[Gap] = []
        for series, times in self._times.items():
            project, collector, kind = series
            del times[: bisect.bisect_left(times, now - self.window * 2)]  # bound memory
            step = cadence(project, kind)
            lo = bisect.bisect_left(times, horizon)
            window = times[lo:] if until is None else [t for t in times[lo:] if t < until]
            for a, b in itertools.pairwise(window):
                if b - a > step * self.tolerance:
                    missing = max(1, round((b - a) / step) - 1)
                    found += self._report(Gap(project, collector, kind, a, b, missing))
            if window and until is None:
                last = window[-1]
                span, delay = SPAN[(project, kind)], PUBLICATION_DELAY[(project, kind)]
                if now > last + step + span + self.grace + delay:
                    missing = max(1, int((now - last - span) / step) - 1)
                    found += self._report(Gap(project, collector, kind, last, None, missing))
        return found

    def _report(self, gap: Gap) -> list[Gap]:
        key = ((gap.project, gap.collector, gap.kind), gap.after, gap.before is None)
        if key in self._reported:
            return []
        self._reported.add(key)
        series = f"{gap.project.value}/{gap.collector}/{gap.kind.value}"
        if gap.before is None:
            log.warning("%s: no file after %s, next one overdue", series, f"{gap.after:%F %H:%M}")
            self.metrics.file_late(gap.project, gap.collector, gap.kind, gap.after)
        else:
            log.warning(
                "%s: about %d file(s) missing between %s and %s",
                series,
                gap.missing,
                f"{gap.after:%F %H:%M}",
                f"{gap.before:%F %H:%M}",
            )
            self.metrics.file_missing(gap.project, gap.collector, gap.kind, gap.missing, gap.after)
        return [gap]
