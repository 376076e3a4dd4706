"""Alerts on collectors gone stale: no new file for longer than expected.

Loop and un-signalled ADD-PATH alerts are raised per event inside the workers; a stale
collector is a fact about time, so the parent checks it on a timer. A series (project,
collector, kind) is stale when its next file is ``stale_after`` overdue: now is past
the newest file's time plus the series' cadence plus ``stale_after`` (so a RIS bview,
every 8 h, is not stale two hours after the last one).

Each alert is written once, with a checkpoint of its own (``<kind>.stale`` and the
newest file's time as the file key), so a restart never repeats it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from mrtfeed.archive.cadence import cadence
from mrtfeed.archive.model import Kind, Project
from mrtfeed.observe.metrics import ServiceMetrics
from mrtfeed.observe.status import SeriesStatus, ServiceStatus
from mrtfeed.sink.base import Batch, Checkpoint, OutMessage, Sink, SourceFile
from mrtfeed.state.store import StateStore

__all__ = ["ALERT_STALE", "StaleWatch"]

log = logging.getLogger(__name__)
ALERT_STALE = "stale_collector"
_LOOKBACK = timedelta(days=14)


class StaleWatch:
    def __init__(
        self,
        sink: Sink,
        status: ServiceStatus,
        metrics: ServiceMetrics,
        store: StateStore,
        *,
        alerts_topic: str,
        stale_after: timedelta,
        known_series: Callable[[], Iterable[tuple[Project, str, Kind]]] = tuple,
        owns: Callable[[str, str], bool] | None = None,
    ) -> None:
        self.sink = sink
        self.status = status
        self.metrics = metrics
        self.store = store
        self.alerts_topic = alerts_topic
        self.stale_after = stale_after
        self.known_series = known_series
        #: Scale-out: only the collectors this replica owns are watched.
        self.owns = owns

    def _seed(self, now: datetime) -> None:
        """Series done before this process started count too (from the state store)."""
        for project, collector, kind in self.known_series():
            key = (project.value, collector, kind.value)
            if key in self.status.series:
                continue
            times = self.store.done_times(project, collector, kind, now - _LOOKBACK, now)
            if times:
                self.status.series[key] = SeriesStatus(
                    last_file=f"{project.value}:{collector}:{kind.value}:"
                    + f"{times[-1]:%Y%m%dT%H%MZ}",
                    last_nominal=times[-1],
                )

    async def check(self, now: datetime | None = None) -> list[str]:
        """Raise alerts for series newly stale; returns their ``project/collector/kind``."""
        now = now or datetime.now(UTC)
        self._seed(now)
        raised: list[str] = []
        for (project, collector, kind), s in list(self.status.series.items()):
            if s.last_nominal is None or (self.owns and not self.owns(project, collector)):
                continue
            due = s.last_nominal + cadence(Project(project), Kind(kind)) + self.stale_after
            if now <= due:
                s.stale = False
                continue
            if s.stale:
                continue
            s.stale = True
            if await self._emit(project, collector, kind, s.last_nominal, now):
                raised.append(f"{project}/{collector}/{kind}")
        return raised

    async def _emit(
        self, project: str, collector: str, kind: str, last: datetime, now: datetime
    ) -> bool:
        marker = SourceFile(project, collector, f"{kind}.stale", int(last.timestamp()))
        existing = await self.sink.checkpoint(marker)
        if existing is not None and existing.done:
            return False  # raised before a restart
        age = (now - last).total_seconds()
        value = {
            "schema_version": 1,
            "event_type": "alert",
            "alert_type": ALERT_STALE,
            "alert_class": kind,
            "source": {"project": project, "collector": collector, "kind": kind},
            "last_file_time": last.isoformat(),
            "age_seconds": round(age),
            "stale_after_seconds": round(self.stale_after.total_seconds()),
            "detected_at": now.isoformat(timespec="seconds"),
        }
        message = OutMessage(
            self.alerts_topic,
            f"{collector}|{ALERT_STALE}|{kind}".encode(),
            json.dumps(value, separators=(",", ":")).encode(),
        )
        await self.sink.write(Batch(marker, [message], Checkpoint(marker.key, 0, 0, done=True)))
        await self.sink.commit()
        self.metrics.alerts.labels(ALERT_STALE).inc()
        log.warning(
            "collector %s/%s: no %s file since %s (%.1f h)",
            project,
            collector,
            kind,
            f"{last:%F %H:%M}",
            age / 3600,
        )
        return True
