"""Shared test helpers: a recording ``on_file`` and a recording metrics hook."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from mrtfeed.archive.model import FileId, Kind, Project
from mrtfeed.fetch.download import ReadyFile
from mrtfeed.fetch.poller import Postponed


@dataclass
class Recorder:
    """``on_file`` that records each hand-over (id, sha256 of the bytes seen)."""

    calls: list[FileId] = field(default_factory=list)
    digests: dict[FileId, str] = field(default_factory=dict)
    #: ReadyFile.damage of each file handed over.
    damage: dict[FileId, str | None] = field(default_factory=dict)
    fail_once: set[FileId] = field(default_factory=set)
    #: Set when a file of ``stop_in`` is handed over, which is then postponed, as the
    #: service does with the file in progress when it is told to stop.
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    stop_in: set[FileId] = field(default_factory=set)

    async def __call__(self, ready: ReadyFile) -> None:
        data = ready.path.read_bytes()
        assert len(data) == ready.size
        self.calls.append(ready.file_id)
        self.digests[ready.file_id] = hashlib.sha256(data).hexdigest()
        self.damage[ready.file_id] = ready.damage
        if ready.file_id in self.fail_once:
            self.fail_once.discard(ready.file_id)
            raise RuntimeError("decoder crashed")
        if ready.file_id in self.stop_in:
            self.stop.set()
            raise Postponed("stopping after a batch")


@dataclass
class Metrics:
    discovered: list[FileId] = field(default_factory=list)
    collectors: list[tuple[Project, str]] = field(default_factory=list)
    downloads: list[tuple[FileId, str, int]] = field(default_factory=list)
    done: list[FileId] = field(default_factory=list)
    missing: list[tuple[str, Kind, int, datetime]] = field(default_factory=list)
    late: list[tuple[str, Kind, datetime]] = field(default_factory=list)
    listings: list[tuple[Project, bool]] = field(default_factory=list)

    def collector_discovered(self, project: Project, collector: str) -> None:
        self.collectors.append((project, collector))

    def file_discovered(self, file_id: FileId) -> None:
        self.discovered.append(file_id)

    def download_finished(self, file_id: FileId, outcome: str, nbytes: int) -> None:
        self.downloads.append((file_id, outcome, nbytes))

    def file_done(self, file_id: FileId) -> None:
        self.done.append(file_id)

    def listing_finished(self, project: Project, ok: bool) -> None:
        self.listings.append((project, ok))

    def file_missing(
        self, project: Project, collector: str, kind: Kind, count: int, after: datetime
    ) -> None:
        self.missing.append((collector, kind, count, after))

    def file_late(self, project: Project, collector: str, kind: Kind, last: datetime) -> None:
        self.late.append((collector, kind, last))

    def outcomes(self) -> list[str]:
        return [o for _, o, _ in self.downloads]
