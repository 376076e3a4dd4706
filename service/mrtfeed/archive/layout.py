"""URL layouts of Route Views and RIPE RIS, and the mapping from names to ids.

Layouts are pure: they build URLs and turn parsed index entries into
:class:`RemoteFile` values. All I/O lives in :mod:`mrtfeed.fetch`.

Route Views: ``<base>/<collector>/bgpdata/YYYY.MM/{RIBS,UPDATES}/{rib,updates}.YYYYMMDD.HHMM.bz2``.
route-views2 lived at ``<base>/bgpdata/`` until 2026 and now lives at
``<base>/route-views2/bgpdata/``; the old path remains as a symlink. We
generate the new path and fall back to the old one (older mirrors).

RIS: ``<base>/rrcNN/YYYY.MM/{bview,updates}.YYYYMMDD.HHMM.gz``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from mrtfeed.archive.model import FileId, IndexEntry, Kind, Month, Project, RemoteFile

__all__ = [
    "ArchiveLayout",
    "Listing",
    "RisLayout",
    "RouteViewsLayout",
    "parse_dump_name",
]

_NAME = re.compile(r"^(rib|bview|updates)\.(\d{8})\.(\d{4})\.(bz2|gz)$")
_KIND_OF = {"rib": Kind.RIBS, "bview": Kind.RIBS, "updates": Kind.UPDATES}


def parse_dump_name(name: str) -> tuple[Kind, datetime] | None:
    """Kind and nominal start time from an archive file name, else None.

    ``latest-bview.gz`` and similar fixed names are rejected on purpose: their
    interval is unknown, so they cannot be keyed or deduplicated.
    """
    m = _NAME.match(name)
    if m is None:
        return None
    try:
        nominal = datetime.strptime(m.group(2) + m.group(3), "%Y%m%d%H%M").replace(tzinfo=UTC)
    except ValueError:
        return None
    return _KIND_OF[m.group(1)], nominal


def _slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"


@dataclass(frozen=True)
class Listing:
    """One directory to list: URL alternatives (tried in order) and kinds in it."""

    collector: str
    month: Month
    kinds: frozenset[Kind]
    urls: tuple[str, ...]


class ArchiveLayout(Protocol):
    """What the fetcher needs to know about one archive project."""

    @property
    def project(self) -> Project: ...

    @property
    def root_url(self) -> str: ...

    def collectors_from_root(self, entries: Iterable[IndexEntry]) -> set[str]: ...

    def listings(self, collector: str, month: Month, kinds: frozenset[Kind]) -> list[Listing]: ...

    def remote_files(
        self, listing: Listing, listing_url: str, entries: Iterable[IndexEntry]
    ) -> list[RemoteFile]: ...

    def file_urls(self, file_id: FileId) -> tuple[str, ...]: ...


def _mirror(url: str, base: str, mirrors: Sequence[str]) -> tuple[str, ...]:
    if not url.startswith(base):
        return ()
    tail = url[len(base) :]
    return tuple(m + tail for m in mirrors)


def _files(
    project: Project,
    listing: Listing,
    listing_url: str,
    entries: Iterable[IndexEntry],
    base: str,
    mirrors: Sequence[str],
) -> list[RemoteFile]:
    out: list[RemoteFile] = []
    for e in entries:
        if e.is_dir:
            continue
        parsed = parse_dump_name(e.name)
        if parsed is None:
            continue
        kind, nominal = parsed
        if kind not in listing.kinds or Month.of(nominal) != listing.month:
            continue
        url = _slash(listing_url) + e.name
        fid = FileId(project, listing.collector, kind, nominal)
        out.append(RemoteFile(fid, url, e.name, e.size, e.size_exact, _mirror(url, base, mirrors)))
    return out


@dataclass(frozen=True)
class RouteViewsLayout:
    """Route Views archive layout; ``base_url`` may point at a mirror."""

    base_url: str = "https://archive.routeviews.org/"
    mirror_base_urls: tuple[str, ...] = ()
    # Collectors whose data used to live at the archive root ``/bgpdata/``.
    root_legacy_collector: str = "route-views2"
    # Root-page folders that are not collectors.
    not_collectors: frozenset[str] = field(
        default_factory=lambda: frozenset({"icons", "images", "css", "js", "tmp", "ipv6"})
    )
    project: Project = Project.ROUTEVIEWS

    @property
    def root_url(self) -> str:
        return _slash(self.base_url)

    def collector_roots(self, collector: str) -> tuple[str, ...]:
        """``bgpdata/`` folders of a collector: the current path first."""
        base = self.root_url
        primary = f"{base}{collector}/bgpdata/"
        if collector == self.root_legacy_collector:
            return (primary, f"{base}bgpdata/")
        return (primary,)

    def collectors_from_root(self, entries: Iterable[IndexEntry]) -> set[str]:
        """Collector names from the archive root page.

        Every folder is a candidate; a legacy root ``bgpdata/`` stands for
        route-views2. Candidates that have no ``bgpdata/`` simply list nothing.
        """
        out: set[str] = set()
        for e in entries:
            if not e.is_dir or e.name.startswith(".") or e.name in self.not_collectors:
                continue
            out.add(self.root_legacy_collector if e.name == "bgpdata" else e.name)
        return out

    def listings(self, collector: str, month: Month, kinds: frozenset[Kind]) -> list[Listing]:
        out = []
        for kind, folder in ((Kind.RIBS, "RIBS"), (Kind.UPDATES, "UPDATES")):
            if kind in kinds:
                roots = self.collector_roots(collector)
                urls = tuple(f"{r}{month.folder}/{folder}/" for r in roots)
                out.append(Listing(collector, month, frozenset({kind}), urls))
        return out

    def remote_files(
        self, listing: Listing, listing_url: str, entries: Iterable[IndexEntry]
    ) -> list[RemoteFile]:
        return _files(
            self.project, listing, listing_url, entries, self.root_url, self.mirror_base_urls
        )

    def file_urls(self, file_id: FileId) -> tuple[str, ...]:
        prefix, folder = ("rib", "RIBS") if file_id.kind is Kind.RIBS else ("updates", "UPDATES")
        name = f"{prefix}.{file_id.nominal:%Y%m%d.%H%M}.bz2"
        month = Month.of(file_id.nominal).folder
        urls = [f"{r}{month}/{folder}/{name}" for r in self.collector_roots(file_id.collector)]
        mirrors = [m for u in urls for m in _mirror(u, self.root_url, self.mirror_base_urls)]
        return tuple(dict.fromkeys([*urls, *mirrors]))


@dataclass(frozen=True)
class RisLayout:
    """RIPE RIS archive layout; ``base_url`` may point at a mirror."""

    base_url: str = "https://data.ris.ripe.net/"
    mirror_base_urls: tuple[str, ...] = ()
    project: Project = Project.RIS

    @property
    def root_url(self) -> str:
        return _slash(self.base_url)

    def collectors_from_root(self, entries: Iterable[IndexEntry]) -> set[str]:
        """``rrcNN/`` folders; other root folders (docs, latest) are ignored."""
        return {e.name for e in entries if e.is_dir and re.fullmatch(r"rrc\d{2,3}", e.name)}

    def listings(self, collector: str, month: Month, kinds: frozenset[Kind]) -> list[Listing]:
        url = f"{self.root_url}{collector}/{month.folder}/"
        return [Listing(collector, month, kinds, (url,))] if kinds else []

    def remote_files(
        self, listing: Listing, listing_url: str, entries: Iterable[IndexEntry]
    ) -> list[RemoteFile]:
        return _files(
            self.project, listing, listing_url, entries, self.root_url, self.mirror_base_urls
        )

    def file_urls(self, file_id: FileId) -> tuple[str, ...]:
        prefix = "bview" if file_id.kind is Kind.RIBS else "updates"
        name = f"{prefix}.{file_id.nominal:%Y%m%d.%H%M}.gz"
        url = f"{self.root_url}{file_id.collector}/{Month.of(file_id.nominal).folder}/{name}"
        return (url, *_mirror(url, self.root_url, self.mirror_base_urls))
