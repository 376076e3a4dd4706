"""Prometheus metrics of the service, in one registry per service instance.

Why a registry per instance and not the global one: tests run several services in one
process, and each must show its own counts. Names follow DOMAIN.md §6 and the chart's
PrometheusRule; counts made in parser worker processes come back to the parent in
stream reports and are added here, because counters incremented inside workers would be
invisible to the scrape.

:class:`ServiceMetrics` also implements the fetcher's :class:`FetchMetrics` hook.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Mapping
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from mrtfeed import __version__
from mrtfeed.archive.model import FileId, Kind, Project

__all__ = ["ServiceMetrics"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_DELAY_BUCKETS = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600)


class ServiceMetrics:
    """Every ``mrtfeed_*`` metric, and the hooks the stages report through."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.build_info = Info("mrtfeed_build", "Version of the running mrtfeed.", registry=r)
        self.build_info.info({"version": __version__, "python": platform.python_version()})
        self.collectors_discovered = Counter(
            "mrtfeed_collectors_discovered_total",
            "Collectors seen for the first time by this process.",
            ["project"],
            registry=r,
        )
        self.files_discovered = Counter(
            "mrtfeed_files_discovered_total",
            "Archive files listed for the first time and not yet done.",
            registry=r,
        )
        self.downloads = Counter(
            "mrtfeed_downloads_total", "Downloads by outcome.", ["outcome"], registry=r
        )
        self.listings = Counter(
            "mrtfeed_listings_total",
            "Archive index pages read (ok) or failed (error): an unreachable archive or a "
            "page that no longer parses shows here before any download fails.",
            ["project", "outcome"],
            registry=r,
        )
        self.download_bytes = Counter(
            "mrtfeed_download_bytes_total", "Bytes of verified downloads.", registry=r
        )
        self.files_processed = Counter(
            "mrtfeed_files_processed_total",
            "Files handed to the pipeline, by outcome (ok, damaged, skipped, failed).",
            ["outcome"],
            registry=r,
        )
        self.files_quarantined = Counter(
            "mrtfeed_files_quarantined_total",
            "Files moved to the quarantine folder (damaged, or failing again and again).",
            registry=r,
        )
        self.files_missing = Counter(
            "mrtfeed_files_missing_total",
            "Files absent from a collector's series: gaps between files listed (an overdue "
            "file is logged, and counted once the files after it show the gap).",
            ["project", "collector", "kind"],
            registry=r,
        )
        self.records = Counter("mrtfeed_records_total", "MRT records decoded.", registry=r)
        self.records_malformed = Counter(
            "mrtfeed_records_malformed_total",
            "Records or attributes found malformed, by reason.",
            ["reason"],
            registry=r,
        )
        self.events = Counter(
            "mrtfeed_events_total", "Route events produced, by type.", ["event_type"], registry=r
        )
        self.filter_matches = Counter(
            "mrtfeed_filter_matches_total",
            "Events matched by each named filter set.",
            ["filter"],
            registry=r,
        )
        self.alerts = Counter(
            "mrtfeed_alerts_total", "Alerts emitted, by kind.", ["kind"], registry=r
        )
        self.last_file = Gauge(
            "mrtfeed_collector_last_file_timestamp_seconds",
            "Nominal time of the newest file done, per collector series.",
            ["project", "collector", "kind"],
            registry=r,
        )
        self._newest_done: dict[tuple[str, str, str], float] = {}
        self.collector_lag = Gauge(
            "mrtfeed_collector_lag_seconds",
            "Seconds from a series' newest file's interval end to its events being committed.",
            ["project", "collector", "kind"],
            registry=r,
        )
        self.pipeline_lag = Gauge(
            "mrtfeed_pipeline_lag_seconds",
            "Seconds from the last committed file's interval end to its commit.",
            registry=r,
        )
        self.file_delay = Histogram(
            "mrtfeed_file_ready_to_commit_seconds",
            "Seconds from a file's verified download to its last batch committed.",
            buckets=_DELAY_BUCKETS,
            registry=r,
        )
        self.messages_sent = Counter(
            "mrtfeed_kafka_messages_sent_total",
            "Messages written to the sink, by topic and outcome (ok, error).",
            ["topic", "outcome"],
            registry=r,
        )
        self.send_latency = Histogram(
            "mrtfeed_kafka_send_latency_seconds",
            "Seconds to commit one batch (messages plus checkpoint) to the sink.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge(
            "mrtfeed_queue_depth",
            "Items waiting or in progress between stages (files, chunks).",
            ["queue"],
            registry=r,
        )
        self.workers_busy = Gauge(
            "mrtfeed_workers_busy", "Parser worker processes busy with a chunk.", registry=r
        )
        self.workers = Gauge("mrtfeed_workers", "Parser worker processes.", registry=r)
        self.sink_ready = Gauge(
            "mrtfeed_sink_ready", "1 while the sink accepts batches.", registry=r
        )
        self.owned_collectors = Gauge(
            "mrtfeed_owned_collectors",
            "Collectors this replica works on (all of them without scale-out).",
            registry=r,
        )
        for q in ("files", "chunks"):
            self.queue_depth.labels(q).set(0)

    # -- FetchMetrics -------------------------------------------------------------

    def collector_discovered(self, project: Project, collector: str) -> None:
        self.collectors_discovered.labels(project.value).inc()

    def file_discovered(self, file_id: FileId) -> None:
        self.files_discovered.inc()

    def download_finished(self, file_id: FileId, outcome: str, nbytes: int) -> None:
        self.downloads.labels(outcome).inc()
        if nbytes:
            self.download_bytes.inc(nbytes)

    def file_done(self, file_id: FileId) -> None:
        """The newest file done only: an older one done after it (a collector held
        back by a failing file, a resumed pod) made the freshness go backwards, and
        the staleness alerts fire."""
        labels = (file_id.project.value, file_id.collector, file_id.kind.value)
        nominal = file_id.nominal.timestamp()
        if nominal > self._newest_done.get(labels, 0.0):
            self._newest_done[labels] = nominal
            self.last_file.labels(*labels).set(nominal)

    def listing_finished(self, project: Project, ok: bool) -> None:
        self.listings.labels(project.value, "ok" if ok else "error").inc()

    def file_missing(
        self, project: Project, collector: str, kind: Kind, count: int, after: datetime
    ) -> None:
        self.files_missing.labels(project.value, collector, kind.value).inc(count)

    def file_late(self, project: Project, collector: str, kind: Kind, last: datetime) -> None:
        """Not counted as missing: RIS bviews are routinely two hours late, and a file
        that never comes shows as a gap once the next one is listed (a collector that
        stops for good raises the stale-collector alert)."""

    # -- pipeline ---------------------------------------------------------------

    def stream_counts(
        self,
        *,
        records: int,
        events: Mapping[str, int],
        filter_matches: Mapping[str, int],
        alerts: Mapping[str, int],
        malformed: Mapping[str, int],
    ) -> None:
        """Add what one file produced (counted in the workers, summed in the parent)."""
        self.records.inc(records)
        for name, n in events.items():
            if n:
                self.events.labels(name).inc(n)
        for name, n in filter_matches.items():
            if n:
                self.filter_matches.labels(name).inc(n)
        for name, n in alerts.items():
            if n:
                self.alerts.labels(name).inc(n)
        for name, n in malformed.items():
            if n:
                self.records_malformed.labels(name).inc(n)

    def committed(self, file_id: FileId, lag_seconds: float, ready_to_commit: float) -> None:
        """A file's last batch is committed: freshness gauges and the delay histogram."""
        labels = (file_id.project.value, file_id.collector, file_id.kind.value)
        self.collector_lag.labels(*labels).set(lag_seconds)
        self.pipeline_lag.set(lag_seconds)
        self.file_delay.observe(ready_to_commit)

    def sent(self, topics: Mapping[str, int], outcome: str, started: float) -> None:
        """One sink write finished (``started`` from ``time.monotonic()``)."""
        for topic, n in topics.items():
            self.messages_sent.labels(topic, outcome).inc(n)
        if outcome == "ok":
            self.send_latency.observe(time.monotonic() - started)
