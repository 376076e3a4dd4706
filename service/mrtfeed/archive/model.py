"""Value types shared by the archive layouts, the fetcher and the state store.

A file is identified by *what it is* — (project, collector, kind, nominal time) —
and never by where it was found. The same dump can be reachable under several
URLs (mirrors, route-views2 before and after its 2026 move), and it must still be
processed exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum


class Project(StrEnum):
    """Archive operator; values are used in state keys and metric labels."""

    ROUTEVIEWS = "routeviews"
    RIS = "ris"


class Kind(StrEnum):
    """Dump kind. RIS ``bview`` files are RIB dumps, so they share ``ribs``."""

    RIBS = "ribs"
    UPDATES = "updates"


def utc(dt: datetime) -> datetime:
    """Normalise to an aware UTC datetime; naive values are taken as UTC.

    Archive names are UTC, and mixing naive and aware datetimes raises at
    comparison time deep inside the poller, so every boundary normalises.
    """
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


@dataclass(frozen=True, order=True)
class FileId:
    """Identity of one archive file, independent of its URL."""

    project: Project
    collector: str
    kind: Kind
    nominal: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "nominal", utc(self.nominal))

    @property
    def key(self) -> str:
        """Stable text key used by the state store (minute resolution, UTC)."""
        stamp = self.nominal.strftime("%Y%m%dT%H%MZ")
        return f"{self.project.value}:{self.collector}:{self.kind.value}:{stamp}"

    @classmethod
    def from_key(cls, key: str) -> FileId:
        """Inverse of :attr:`key`; raises ValueError on a malformed key."""
        project, collector, kind, stamp = key.rsplit(":", 3)
        nominal = datetime.strptime(stamp, "%Y%m%dT%H%MZ").replace(tzinfo=UTC)
        return cls(Project(project), collector, Kind(kind), nominal)

    def __str__(self) -> str:
        return self.key


@dataclass(frozen=True)
class IndexEntry:
    """One row of a directory index page, as the server described it.

    ``size`` is in bytes; ``size_exact`` is False when the page only showed a
    human-readable size such as ``4M``, which cannot prove a file is complete.
    """

    name: str
    is_dir: bool
    size: int | None
    size_exact: bool
    modified: datetime | None


@dataclass(frozen=True)
class RemoteFile:
    """A file seen in a listing: its identity plus where and how big it was."""

    file_id: FileId
    url: str
    name: str
    size: int | None = None
    size_exact: bool = False
    mirrors: tuple[str, ...] = field(default=())

    @property
    def urls(self) -> tuple[str, ...]:
        """Primary URL first, then mirror alternatives."""
        return (self.url, *(u for u in self.mirrors if u != self.url))


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month; archives are partitioned by ``YYYY.MM`` folders."""

    year: int
    month: int

    @classmethod
    def of(cls, dt: datetime) -> Month:
        dt = utc(dt)
        return cls(dt.year, dt.month)

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=UTC)

    def next(self) -> Month:
        if self.month == 12:
            return Month(self.year + 1, 1)
        return Month(self.year, self.month + 1)

    def prev(self) -> Month:
        if self.month == 1:
            return Month(self.year - 1, 12)
        return Month(self.year, self.month - 1)

    @property
    def end(self) -> datetime:
        return self.next().start

    @property
    def folder(self) -> str:
        return f"{self.year:04d}.{self.month:02d}"

    def __str__(self) -> str:
        return self.folder


def months_between(start: datetime, end: datetime) -> list[Month]:
    """Every month touching the half-open range [start, end)."""
    start, end = utc(start), utc(end)
    if end <= start:
        return []
    out = [Month.of(start)]
    last = Month.of(end - timedelta(microseconds=1))
    while out[-1] != last:
        out.append(out[-1].next())
    return out
