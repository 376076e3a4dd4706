"""From config to the fetcher's pieces: sources, HTTP policy, fetch settings, start.

Pure functions, so the mapping from the documented keys to the library's knobs is
tested on its own.
"""

from __future__ import annotations

from datetime import timedelta

from mrtfeed.archive.model import Kind
from mrtfeed.config import Config
from mrtfeed.fetch.http import HttpPolicy
from mrtfeed.fetch.poller import FetchConfig, StartPosition
from mrtfeed.fetch.readiness import ReadinessPolicy
from mrtfeed.fetch.sources import (
    RIS_COLLECTOR_LIST,
    ROUTEVIEWS_COLLECTOR_LIST,
    Source,
    ris_source,
    routeviews_source,
)

__all__ = ["build_sources", "fetch_config", "http_policy", "start_position"]

OFFICIAL_ROUTEVIEWS = "archive.routeviews.org"
OFFICIAL_RIS = "data.ris.ripe.net"


def _kinds(config: Config) -> list[Kind]:
    files = config.files
    return [k for k, on in ((Kind.RIBS, files.ribs), (Kind.UPDATES, files.updates)) if on]


def build_sources(config: Config) -> list[Source]:
    """One source per enabled archive.

    The official collector lists describe the official archives only, so they are
    consulted when the base URL is the official host, and not for a mirror or a
    local test archive (whose root page is then the only authority).
    """
    kinds = _kinds(config)
    include, exclude = config.collectors.include, config.collectors.exclude
    out: list[Source] = []
    rv = config.archives.routeviews
    if rv.enabled:
        out.append(
            routeviews_source(
                rv.base_url,
                kinds=kinds,
                include=include,
                exclude=exclude,
                collector_list_url=ROUTEVIEWS_COLLECTOR_LIST
                if OFFICIAL_ROUTEVIEWS in rv.base_url
                else None,
            )
        )
    ris = config.archives.ris
    if ris.enabled:
        out.append(
            ris_source(
                ris.base_url,
                kinds=kinds,
                include=include,
                exclude=exclude,
                collector_list_url=RIS_COLLECTOR_LIST if OFFICIAL_RIS in ris.base_url else None,
            )
        )
    return out


def http_policy(config: Config) -> HttpPolicy:
    h = config.http_client
    timeout = h.timeout.total_seconds()
    return HttpPolicy(
        user_agent=h.effective_user_agent,
        per_host_connections=h.per_host_concurrency,
        total_connections=max(16, 4 * h.per_host_concurrency),
        connect_timeout=min(30.0, timeout),
        read_timeout=timeout,
        listing_timeout=timeout,
        download_timeout=max(3600.0, timeout),  # rrc00 bviews are 1.5 GB
    )


def fetch_config(config: Config) -> FetchConfig:
    poll = config.poll
    return FetchConfig(
        workdir=config.state.path / "downloads",
        poll_interval=poll.interval,
        poll_jitter=timedelta(seconds=poll.interval.total_seconds() * poll.jitter),
        collector_refresh=config.collectors.refresh_interval,
        readiness=ReadinessPolicy(grace=poll.grace_period),
        max_parallel_files=config.queues.files,
    )


def start_position(config: Config) -> StartPosition:
    start = config.start
    if start.at is not None:
        return StartPosition.timestamp(start.at)
    return StartPosition.hours(start.hours_back)
