"""Collector discovery from archive root pages and official collector lists.

The root page is authoritative for *what exists*; the official lists add
collectors the root may not show yet and mark retired ones, which the live
poller then skips (backfill still considers them). Either source may be
unreachable: the last good answer is kept and the failure is logged, so a
hosted-list outage never stops the feed.
"""

from __future__ import annotations

import fnmatch
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from mrtfeed.archive.collectors import (
    CollectorInfo,
    CollectorListError,
    parse_ris_rrc_info,
    parse_routeviews_guest,
    parse_routeviews_meta,
)
from mrtfeed.archive.index_page import IndexParseError, parse_index
from mrtfeed.fetch.clock import Clock
from mrtfeed.fetch.http import FetchError, HttpClient
from mrtfeed.fetch.metrics import FetchMetrics, NullMetrics
from mrtfeed.fetch.sources import CollectorListSpec, Source

__all__ = ["CollectorDiscovery", "CollectorSet"]

log = logging.getLogger(__name__)
_MAX_PAGES = 20
#: The first retry of a failed collector listing; later ones double (see ``refresh``).
_RETRY_FIRST = timedelta(minutes=1)


@dataclass
class CollectorSet:
    """What is known about one source's collectors."""

    from_root: set[str] = field(default_factory=set)
    listed_active: set[str] = field(default_factory=set)
    listed_retired: set[str] = field(default_factory=set)

    def all(self) -> set[str]:
        return self.from_root | self.listed_active | self.listed_retired

    def live(self) -> set[str]:
        return (self.from_root | self.listed_active) - self.listed_retired


class CollectorDiscovery:
    def __init__(
        self,
        client: HttpClient,
        sources: Sequence[Source],
        clock: Clock,
        *,
        refresh_every: timedelta = timedelta(hours=1),
        metrics: FetchMetrics | None = None,
    ) -> None:
        self.client = client
        self.sources = list(sources)
        self.clock = clock
        self.refresh_every = refresh_every
        self.metrics: FetchMetrics = metrics or NullMetrics()
        self._sets: dict[int, CollectorSet] = {i: CollectorSet() for i in range(len(sources))}
        self._known: set[tuple[str, str]] = set()
        #: When the next refresh is due (None: at once).
        self._due: datetime | None = None
        #: Refreshes failed in a row (any listing of one), for the retry delay.
        self._failures = 0
        #: What failed in the last refresh; the poller reports them as listing errors.
        self.errors: list[str] = []
        #: ``collectors.include`` patterns that matched no collector of any source in
        #: the last refresh that listed them all (a typo: ``rrc9``, ``route-views-sg``).
        self.unmatched: list[str] = []

    def _index(self, source: Source) -> int:
        return next(i for i, s in enumerate(self.sources) if s is source)

    def collectors(self, source: Source, *, live: bool = True) -> list[str]:
        """Filtered, sorted collector names of ``source``."""
        if source.collectors:
            names = set(source.collectors)
        else:
            cs = self._sets[self._index(source)]
            names = cs.live() if live else cs.all()
        return sorted(source.filter.apply(names))

    async def maybe_refresh(self) -> None:
        if self._due is None or self.clock.now() >= self._due:
            await self.refresh()

    async def refresh(self) -> None:
        """List the collectors again. A failed listing is retried after a minute,
        doubling up to ``refresh_every``: it had waited ``refresh_every`` (6 hours in
        the service), following no collector at all when the archive was down at
        start-up."""
        now = self.clock.now()
        self.errors = []
        await self._refresh_sources()
        if not self.errors:
            self._check_include_patterns()
        if self.errors:
            self._failures += 1
            delay = min(self.refresh_every, _RETRY_FIRST * 2 ** (self._failures - 1))
        else:
            self._failures = 0
            delay = self.refresh_every
        self._due = now + delay

    async def _refresh_sources(self) -> None:
        for i, source in enumerate(self.sources):
            if source.collectors:
                names = set(source.collectors)
            else:
                cs = self._sets[i]
                await self._refresh_root(source, cs)
                for spec in source.collector_lists:
                    await self._refresh_list(spec, cs)
                names = cs.live()
            for name in sorted(source.filter.apply(names)):
                if (source.project.value, name) not in self._known:
                    self._known.add((source.project.value, name))
                    log.info("collector %s/%s discovered", source.project.value, name)
                    self.metrics.collector_discovered(source.project, name)

    def _check_include_patterns(self) -> None:
        """Warn once about each include pattern that matches no collector, retired ones
        included: it selected nothing, silently (a backfill said "complete")."""
        names: set[str] = set()
        for i, source in enumerate(self.sources):
            names |= set(source.collectors) or self._sets[i].all()
        patterns = sorted({p for source in self.sources for p in source.filter.include})
        unmatched = [p for p in patterns if not fnmatch.filter(names, p)]
        for pattern in set(unmatched) - set(self.unmatched):
            log.warning("collectors.include %r matches no collector of the archives", pattern)
        self.unmatched = unmatched

    async def _refresh_root(self, source: Source, cs: CollectorSet) -> None:
        url = source.layout.root_url
        try:
            page = await self.client.get_text(url)
            found = source.layout.collectors_from_root(parse_index(page.text))
        except (FetchError, IndexParseError) as e:
            log.warning(
                "collector discovery from %s failed, keeping %d known: %s",
                url,
                len(cs.from_root),
                e,
            )
            self.errors.append(f"collector discovery from {url}: {e}")
            self.metrics.listing_finished(source.project, False)
            return
        self.metrics.listing_finished(source.project, True)
        if found:
            cs.from_root = found

    async def _refresh_list(self, spec: CollectorListSpec, cs: CollectorSet) -> None:
        infos: list[CollectorInfo] = []
        url: str | None = spec.url
        try:
            for _ in range(_MAX_PAGES):
                if url is None:
                    break
                doc = json.loads((await self.client.get_text(url)).text)
                if spec.format == "routeviews-guest":
                    page, url = parse_routeviews_guest(doc)
                    infos += page
                elif spec.format == "routeviews-meta":
                    infos += parse_routeviews_meta(doc)
                    url = None
                elif spec.format == "ris-rrc-info":
                    infos += parse_ris_rrc_info(doc)
                    url = None
                else:
                    raise CollectorListError(f"unknown collector list format {spec.format!r}")
        except (FetchError, ValueError) as e:
            log.warning("collector list %s unavailable, keeping previous: %s", spec.url, e)
            self.errors.append(f"collector list {spec.url}: {e}")
            return
        cs.listed_active = {c.name for c in infos if c.active}
        cs.listed_retired = {c.name for c in infos if not c.active} - cs.listed_active
