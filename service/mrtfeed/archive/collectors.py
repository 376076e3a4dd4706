"""Pure parsers for the official collector lists, and the include/exclude filter.

Hard-coded collector lists are the most reported broker failure: Route Views
adds collectors several times a year. These lists complement (never replace)
the folders found on the archive root pages, and tell us which collectors are
retired so the live poller stops asking for their current month.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mrtfeed.archive.model import Project

__all__ = [
    "CollectorFilter",
    "CollectorInfo",
    "CollectorListError",
    "parse_ris_rrc_info",
    "parse_routeviews_guest",
    "parse_routeviews_meta",
]


class CollectorListError(ValueError):
    """A collector-list document does not have the expected shape."""


@dataclass(frozen=True)
class CollectorInfo:
    """A collector named by an official list; ``active`` is False once retired."""

    project: Project
    name: str
    active: bool


def _obj(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise CollectorListError(f"{what}: expected an object")
    return value


def parse_routeviews_guest(doc: Any) -> tuple[list[CollectorInfo], str | None]:
    """``api.routeviews.org/guest/collector/`` page → (collectors, next page URL)."""
    body = _obj(doc, "routeviews guest list")
    results = body.get("results")
    if not isinstance(results, list):
        raise CollectorListError("routeviews guest list: 'results' is not a list")
    out = []
    for item in results:
        row = _obj(item, "routeviews guest list entry")
        name = row.get("name")
        if not isinstance(name, str) or not name:
            continue
        out.append(CollectorInfo(Project.ROUTEVIEWS, name, row.get("removed") in (None, "")))
    nxt = body.get("next")
    return out, nxt if isinstance(nxt, str) and nxt else None


def parse_routeviews_meta(doc: Any) -> list[CollectorInfo]:
    """``api.routeviews.org/meta/collectors`` → collectors (all listed are live)."""
    data = _obj(_obj(doc, "routeviews meta").get("data"), "routeviews meta 'data'")
    collectors = _obj(data.get("collectors"), "routeviews meta 'collectors'")
    return [CollectorInfo(Project.ROUTEVIEWS, str(n), True) for n in collectors]


def parse_ris_rrc_info(doc: Any) -> list[CollectorInfo]:
    """RIPEstat ``rrc-info`` → collectors; archive folders are lower-case."""
    data = _obj(_obj(doc, "ripestat rrc-info").get("data"), "ripestat rrc-info 'data'")
    rrcs = data.get("rrcs")
    if not isinstance(rrcs, list):
        raise CollectorListError("ripestat rrc-info: 'rrcs' is not a list")
    out = []
    for item in rrcs:
        row = _obj(item, "ripestat rrc")
        name = row.get("name")
        if not isinstance(name, str) or not name:
            continue
        out.append(CollectorInfo(Project.RIS, name.lower(), not row.get("deactivated_on")))
    return out


@dataclass(frozen=True)
class CollectorFilter:
    """Include/exclude by shell-style patterns (``route-views.*``, ``rrc0?``).

    An empty include list means "everything"; exclude always wins.
    """

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def allows(self, name: str) -> bool:
        if any(fnmatch.fnmatchcase(name, p) for p in self.exclude):
            return False
        return not self.include or any(fnmatch.fnmatchcase(name, p) for p in self.include)

    def apply(self, names: Iterable[str]) -> set[str]:
        return {n for n in names if self.allows(n)}
