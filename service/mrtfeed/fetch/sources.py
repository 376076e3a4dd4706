"""Configured sources: an archive layout plus what to take from it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from mrtfeed.archive.collectors import CollectorFilter
from mrtfeed.archive.layout import ArchiveLayout, RisLayout, RouteViewsLayout
from mrtfeed.archive.model import Kind, Project

__all__ = [
    "RIS_COLLECTOR_LIST",
    "ROUTEVIEWS_COLLECTOR_LIST",
    "CollectorListSpec",
    "Source",
    "ris_source",
    "routeviews_source",
]

ROUTEVIEWS_COLLECTOR_LIST = "https://api.routeviews.org/guest/collector/"
RIS_COLLECTOR_LIST = "https://stat.ripe.net/data/rrc-info/data.json"
ALL_KINDS = frozenset({Kind.RIBS, Kind.UPDATES})


@dataclass(frozen=True)
class CollectorListSpec:
    """An official collector list: ``format`` is routeviews-guest,
    routeviews-meta or ris-rrc-info."""

    url: str
    format: str


@dataclass(frozen=True)
class Source:
    """One archive to follow.

    ``collectors`` pins the set (no discovery); otherwise collectors come from
    the archive root page and the official lists, refreshed periodically.
    """

    layout: ArchiveLayout
    kinds: frozenset[Kind] = ALL_KINDS
    filter: CollectorFilter = field(default_factory=CollectorFilter)
    collector_lists: tuple[CollectorListSpec, ...] = ()
    collectors: tuple[str, ...] = ()

    @property
    def project(self) -> Project:
        return self.layout.project


def _kinds(kinds: Iterable[Kind | str] | None) -> frozenset[Kind]:
    return ALL_KINDS if kinds is None else frozenset(Kind(k) for k in kinds)


def routeviews_source(
    base_url: str = "https://archive.routeviews.org/",
    *,
    mirrors: Iterable[str] = (),
    kinds: Iterable[Kind | str] | None = None,
    include: Iterable[str] = (),
    exclude: Iterable[str] = (),
    collector_list_url: str | None = ROUTEVIEWS_COLLECTOR_LIST,
    collectors: Iterable[str] = (),
) -> Source:
    lists = (
        (CollectorListSpec(collector_list_url, "routeviews-guest"),) if collector_list_url else ()
    )
    return Source(
        RouteViewsLayout(base_url, tuple(mirrors)),
        _kinds(kinds),
        CollectorFilter(tuple(include), tuple(exclude)),
        lists,
        tuple(collectors),
    )


def ris_source(
    base_url: str = "https://data.ris.ripe.net/",
    *,
    mirrors: Iterable[str] = (),
    kinds: Iterable[Kind | str] | None = None,
    include: Iterable[str] = (),
    exclude: Iterable[str] = (),
    collector_list_url: str | None = RIS_COLLECTOR_LIST,
    collectors: Iterable[str] = (),
) -> Source:
    lists = (CollectorListSpec(collector_list_url, "ris-rrc-info"),) if collector_list_url else ()
    return Source(
        RisLayout(base_url, tuple(mirrors)),
        _kinds(kinds),
        CollectorFilter(tuple(include), tuple(exclude)),
        lists,
        tuple(collectors),
    )
