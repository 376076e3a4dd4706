"""Metrics hook: the fetcher reports events, the service binds them to counters.

Kept as a protocol with a no-op default so the fetch code does not depend on
prometheus-client; the service maps these calls to the DOMAIN.md §6 names
(``mrtfeed_files_discovered_total``, ``mrtfeed_downloads_total{outcome}``,
``mrtfeed_listings_total{project,outcome}``,
``mrtfeed_files_missing_total``, ``mrtfeed_collector_last_file_timestamp_seconds``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from mrtfeed.archive.model import FileId, Kind, Project

__all__ = ["FetchMetrics", "NullMetrics"]


class FetchMetrics(Protocol):
    def collector_discovered(self, project: Project, collector: str) -> None:
        """A collector was seen for the first time by this process."""

    def file_discovered(self, file_id: FileId) -> None:
        """A file not yet done was listed for the first time by this process."""

    def download_finished(self, file_id: FileId, outcome: str, nbytes: int) -> None:
        """One download finished. ``outcome``: ok, damaged_at_source, truncated,
        corrupt, changed, not_found, rate_limited, http_error, timeout, connection."""

    def file_done(self, file_id: FileId) -> None:
        """``on_file`` returned and the file was marked done (freshness gauge)."""

    def listing_finished(self, project: Project, ok: bool) -> None:
        """An index page (archive root or a month's directory) was read, or failed."""

    def file_missing(
        self, project: Project, collector: str, kind: Kind, count: int, after: datetime
    ) -> None:
        """``count`` files are absent from a series after the file at ``after``."""

    def file_late(self, project: Project, collector: str, kind: Kind, last: datetime) -> None:
        """No file followed ``last`` although its successor is overdue."""


class NullMetrics:
    """Default hook: records nothing."""

    def collector_discovered(self, project: Project, collector: str) -> None:
        return None

    def file_discovered(self, file_id: FileId) -> None:
        return None

    def download_finished(self, file_id: FileId, outcome: str, nbytes: int) -> None:
        return None

    def file_done(self, file_id: FileId) -> None:
        return None

    def listing_finished(self, project: Project, ok: bool) -> None:
        return None

    def file_missing(
        self, project: Project, collector: str, kind: Kind, count: int, after: datetime
    ) -> None:
        return None

    def file_late(self, project: Project, collector: str, kind: Kind, last: datetime) -> None:
        return None
