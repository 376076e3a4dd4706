"""Expected publication cadence per (project, kind).

Used for gap detection and for the end of a file's interval (readiness).
Route Views intervals start when the daemon starts, not on round times, so
gap detection compares consecutive names instead of a fixed grid.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from mrtfeed.archive.model import FileId, Kind, Project

CADENCE: dict[tuple[Project, Kind], timedelta] = {
    (Project.ROUTEVIEWS, Kind.UPDATES): timedelta(minutes=15),
    (Project.ROUTEVIEWS, Kind.RIBS): timedelta(hours=2),
    (Project.RIS, Kind.UPDATES): timedelta(minutes=5),
    (Project.RIS, Kind.RIBS): timedelta(hours=8),
}

# How long after its nominal time a file's content keeps being written. An
# updates file covers its whole interval; a RIB is a snapshot whose dump takes
# minutes (Route Views reports dumpDuration=120 s); size stability covers the rest.
SPAN: dict[tuple[Project, Kind], timedelta] = {
    (Project.ROUTEVIEWS, Kind.UPDATES): timedelta(minutes=15),
    (Project.ROUTEVIEWS, Kind.RIBS): timedelta(minutes=2),
    (Project.RIS, Kind.UPDATES): timedelta(minutes=5),
    (Project.RIS, Kind.RIBS): timedelta(minutes=2),
}


# How long after its interval ends a file may take to appear before it is called
# overdue: RIS publishes updates about a minute after, but a bview 1.5 to 2.2 h after
# its nominal time (docs/DOMAIN.md, the rrc08 2020.04 index page); Route Views RIBs are
# compressed tables of up to 100 MB.
PUBLICATION_DELAY: dict[tuple[Project, Kind], timedelta] = {
    (Project.ROUTEVIEWS, Kind.UPDATES): timedelta(minutes=10),
    (Project.ROUTEVIEWS, Kind.RIBS): timedelta(hours=1),
    (Project.RIS, Kind.UPDATES): timedelta(minutes=10),
    (Project.RIS, Kind.RIBS): timedelta(hours=3),
}


def cadence(project: Project, kind: Kind) -> timedelta:
    return CADENCE[(project, kind)]


def interval_end(file_id: FileId) -> datetime:
    """When the server can have finished writing the file, before any grace."""
    return file_id.nominal + SPAN[(file_id.project, file_id.kind)]
