"""Decide when a listed file is complete enough to download.

Servers list files while they are still being written. A file is taken only
when (1) a grace period has passed since its interval ended, and (2) its exact
size was seen unchanged in two different poll rounds — from the index (Route
Views shows exact bytes) or from HEAD ``Content-Length`` (RIS shows ``4M``).
Files long past their interval (backfill, restarts) need a single sighting;
the download-time stream check still guards them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum

from mrtfeed.archive.cadence import interval_end
from mrtfeed.archive.model import FileId

__all__ = ["Readiness", "ReadinessPolicy", "ReadinessTracker"]


class Readiness(Enum):
    WAIT_GRACE = "wait_grace"
    NEED_HEAD = "need_head"
    WAIT_STABLE = "wait_stable"
    READY = "ready"


@dataclass(frozen=True)
class ReadinessPolicy:
    grace: timedelta = timedelta(minutes=3)
    settled_after: timedelta = timedelta(hours=1)
    use_head: bool = True


@dataclass
class _Seen:
    sizes: dict[int, int] = field(default_factory=dict)  # round -> exact size


class ReadinessTracker:
    """Remembers exact-size sightings per file across poll rounds."""

    def __init__(self, policy: ReadinessPolicy | None = None) -> None:
        self.policy = policy or ReadinessPolicy()
        self._seen: dict[FileId, _Seen] = {}

    def observe(self, file_id: FileId, round_no: int, size: int | None, exact: bool) -> None:
        """Record a size from a listing (if exact) or from HEAD."""
        if size is None or not exact:
            self._seen.setdefault(file_id, _Seen())
            return
        self._seen.setdefault(file_id, _Seen()).sizes[round_no] = size

    def stable_size(self, file_id: FileId) -> int | None:
        """The size seen in the two latest rounds, when they agree."""
        seen = self._seen.get(file_id)
        if seen is None or len(seen.sizes) < 2:
            return None
        last, prev = sorted(seen.sizes)[-1:-3:-1]
        size = seen.sizes[last]
        return size if seen.sizes[prev] == size else None

    def latest_size(self, file_id: FileId) -> int | None:
        seen = self._seen.get(file_id)
        if seen is None or not seen.sizes:
            return None
        return seen.sizes[max(seen.sizes)]

    def decide(self, file_id: FileId, round_no: int, now: datetime) -> Readiness:
        end = interval_end(file_id)
        if now < end + self.policy.grace:
            return Readiness.WAIT_GRACE
        if now >= end + self.policy.settled_after:
            return Readiness.READY
        if self.stable_size(file_id) is not None:
            return Readiness.READY
        seen = self._seen.get(file_id)
        if self.policy.use_head and (seen is None or round_no not in seen.sizes):
            return Readiness.NEED_HEAD
        return Readiness.WAIT_STABLE

    def forget(self, file_id: FileId) -> None:
        self._seen.pop(file_id, None)

    def reset(self, file_id: FileId) -> None:
        """Drop sightings after the server's copy changed under us."""
        self._seen[file_id] = _Seen()

    def prune(self, keep: set[FileId]) -> None:
        for fid in [f for f in self._seen if f not in keep]:
            del self._seen[fid]
