"""What ``/status``, ``/readyz`` and ``/healthz`` report, kept by the running service.

A plain object the stages update as they go, so the HTTP handlers never reach into the
pipeline and a test can build one by hand.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mrtfeed import __version__
from mrtfeed.archive.model import FileId

__all__ = ["SeriesStatus", "ServiceStatus"]


@dataclass
class SeriesStatus:
    """The newest file done in one (project, collector, kind) series."""

    last_file: str = ""
    last_nominal: datetime | None = None
    committed_at: datetime | None = None
    lag_seconds: float | None = None
    stale: bool = False


@dataclass
class ServiceStatus:
    """Live state of one service instance."""

    sink_type: str = "jsonl"
    state_loaded: bool = False
    sink_ready: Callable[[], bool] = lambda: False
    #: Set when a stage died for good; ``/healthz`` then fails so the pod is restarted.
    fatal: str | None = None
    stopping: bool = False
    started: float = field(default_factory=time.monotonic)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    series: dict[tuple[str, str, str], SeriesStatus] = field(default_factory=dict)
    errors: deque[dict[str, str]] = field(default_factory=lambda: deque(maxlen=50))
    files_ok: int = 0
    files_damaged: int = 0
    files_failed: int = 0
    quarantined: int = 0
    in_progress: set[str] = field(default_factory=set)
    #: Collectors this replica works on (scale-out), None when it takes every one.
    owned: set[str] | None = None
    last_poll: datetime | None = None
    polls: int = 0

    @property
    def ready(self) -> bool:
        return self.state_loaded and not self.stopping and self.fatal is None and self.sink_ready()

    def error(self, what: str, message: str) -> None:
        self.errors.append(
            {"at": datetime.now(UTC).isoformat(timespec="seconds"), "what": what, "error": message}
        )

    def file_committed(self, file_id: FileId, lag_seconds: float) -> None:
        key = (file_id.project.value, file_id.collector, file_id.kind.value)
        s = self.series.setdefault(key, SeriesStatus())
        if s.last_nominal is None or file_id.nominal >= s.last_nominal:
            s.last_file = file_id.key
            s.last_nominal = file_id.nominal
            s.committed_at = datetime.now(UTC)
            s.lag_seconds = round(lag_seconds, 3)
            s.stale = False

    def to_json(self) -> dict[str, Any]:
        collectors: dict[str, dict[str, Any]] = {}
        for (project, collector, kind), s in sorted(self.series.items()):
            entry = collectors.setdefault(f"{project}/{collector}", {})
            entry[kind] = {
                "last_file": s.last_file,
                "last_file_time": s.last_nominal.isoformat() if s.last_nominal else None,
                "committed_at": s.committed_at.isoformat() if s.committed_at else None,
                "lag_seconds": s.lag_seconds,
                "stale": s.stale,
            }
        lags = [s.lag_seconds for s in self.series.values() if s.lag_seconds is not None]
        return {
            "version": __version__,
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "uptime_seconds": round(time.monotonic() - self.started, 1),
            "ready": self.ready,
            "sink": {"type": self.sink_type, "ready": self.sink_ready()},
            "state_loaded": self.state_loaded,
            "stopping": self.stopping,
            "fatal": self.fatal,
            "last_poll": self.last_poll.isoformat(timespec="seconds") if self.last_poll else None,
            "polls": self.polls,
            "files": {
                "ok": self.files_ok,
                "damaged": self.files_damaged,
                "failed": self.files_failed,
                "quarantined": self.quarantined,
                "in_progress": sorted(self.in_progress),
            },
            "max_lag_seconds": max(lags) if lags else None,
            "owned_collectors": None if self.owned is None else sorted(self.owned),
            "collectors": collectors,
            "errors": list(self.errors),
        }
