"""Getting archive files: HTTP policy, discovery, readiness, safe downloads,
the polling loop, gap detection and backfill.

Entry points: :class:`Fetcher` (live feed, ``run``/``poll_once``) and
:func:`backfill`. Both hand each verified file to ``on_file(ReadyFile)``
and mark it done only after that callback returns.
"""

from mrtfeed.fetch.backfill import BackfillReport, backfill, plan_backfill
from mrtfeed.fetch.clock import Clock, SystemClock
from mrtfeed.fetch.discovery import CollectorDiscovery, CollectorSet
from mrtfeed.fetch.download import FileChanged, ReadyFile, download_file
from mrtfeed.fetch.gaps import Gap, GapDetector
from mrtfeed.fetch.http import (
    FetchError,
    HttpClient,
    HttpPolicy,
    HttpStatusError,
    IncompleteDownload,
    NotFound,
)
from mrtfeed.fetch.metrics import FetchMetrics, NullMetrics
from mrtfeed.fetch.poller import (
    FetchConfig,
    Fetcher,
    OnFile,
    PollReport,
    Postponed,
    StartPosition,
    live_start,
)
from mrtfeed.fetch.readiness import Readiness, ReadinessPolicy, ReadinessTracker
from mrtfeed.fetch.sources import CollectorListSpec, Source, ris_source, routeviews_source
from mrtfeed.fetch.verify import CorruptFile, verify_file

__all__ = [
    "BackfillReport",
    "Clock",
    "CollectorDiscovery",
    "CollectorListSpec",
    "CollectorSet",
    "CorruptFile",
    "FetchConfig",
    "FetchError",
    "FetchMetrics",
    "Fetcher",
    "FileChanged",
    "Gap",
    "GapDetector",
    "HttpClient",
    "HttpPolicy",
    "HttpStatusError",
    "IncompleteDownload",
    "NotFound",
    "NullMetrics",
    "OnFile",
    "PollReport",
    "Postponed",
    "Readiness",
    "ReadinessPolicy",
    "ReadinessTracker",
    "ReadyFile",
    "Source",
    "StartPosition",
    "SystemClock",
    "backfill",
    "download_file",
    "live_start",
    "plan_backfill",
    "ris_source",
    "routeviews_source",
    "verify_file",
]
