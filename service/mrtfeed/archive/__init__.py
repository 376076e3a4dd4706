"""Where archive files are: URL layouts, index-page and collector-list parsing,
and file identity (project, collector, kind, nominal time). Pure, no I/O."""

from mrtfeed.archive.cadence import CADENCE, cadence, interval_end
from mrtfeed.archive.collectors import (
    CollectorFilter,
    CollectorInfo,
    CollectorListError,
    parse_ris_rrc_info,
    parse_routeviews_guest,
    parse_routeviews_meta,
)
from mrtfeed.archive.index_page import IndexParseError, parse_index
from mrtfeed.archive.layout import (
    ArchiveLayout,
    Listing,
    RisLayout,
    RouteViewsLayout,
    parse_dump_name,
)
from mrtfeed.archive.model import (
    FileId,
    IndexEntry,
    Kind,
    Month,
    Project,
    RemoteFile,
    months_between,
    utc,
)

__all__ = [
    "CADENCE",
    "ArchiveLayout",
    "CollectorFilter",
    "CollectorInfo",
    "CollectorListError",
    "FileId",
    "IndexEntry",
    "IndexParseError",
    "Kind",
    "Listing",
    "Month",
    "Project",
    "RemoteFile",
    "RisLayout",
    "RouteViewsLayout",
    "cadence",
    "interval_end",
    "months_between",
    "parse_dump_name",
    "parse_index",
    "parse_ris_rrc_info",
    "parse_routeviews_guest",
    "parse_routeviews_meta",
    "utc",
]
