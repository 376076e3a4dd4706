"""URL layouts, name parsing, file identity and collector lists."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mrtfeed.archive import (
    CollectorFilter,
    CollectorListError,
    FileId,
    IndexEntry,
    Kind,
    Month,
    Project,
    RisLayout,
    RouteViewsLayout,
    months_between,
    parse_dump_name,
    parse_ris_rrc_info,
    parse_routeviews_guest,
    parse_routeviews_meta,
)

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "archives"
T = datetime(2026, 7, 9, 14, 45, tzinfo=UTC)


def load(name: str) -> object:
    return json.loads((FIXTURES / name).read_text())


def test_dump_names() -> None:
    assert parse_dump_name("rib.20260709.1445.bz2") == (Kind.RIBS, T)
    assert parse_dump_name("bview.20260709.1445.gz") == (Kind.RIBS, T)
    assert parse_dump_name("updates.20260709.1445.gz") == (Kind.UPDATES, T)
    for bad in ("latest-bview.gz", "updates.20261309.1445.gz", "rib.20260709.bz2", "x.txt"):
        assert parse_dump_name(bad) is None


def test_identity_ignores_the_url_and_round_trips() -> None:
    a = FileId(Project.ROUTEVIEWS, "route-views2", Kind.UPDATES, T)
    b = FileId(Project.ROUTEVIEWS, "route-views2", Kind.UPDATES, T.replace(tzinfo=None))
    assert a == b and a.key == "routeviews:route-views2:updates:20260709T1445Z"
    assert FileId.from_key(a.key) == a


def test_route_views2_new_path_first_then_legacy_and_mirrors() -> None:
    layout = RouteViewsLayout(
        "https://archive.routeviews.org/", ("https://archive2.routeviews.org/",)
    )
    urls = layout.file_urls(FileId(Project.ROUTEVIEWS, "route-views2", Kind.UPDATES, T))
    assert urls == (
        "https://archive.routeviews.org/route-views2/bgpdata/2026.07/UPDATES/updates.20260709.1445.bz2",
        "https://archive.routeviews.org/bgpdata/2026.07/UPDATES/updates.20260709.1445.bz2",
        "https://archive2.routeviews.org/route-views2/bgpdata/2026.07/UPDATES/updates.20260709.1445.bz2",
        "https://archive2.routeviews.org/bgpdata/2026.07/UPDATES/updates.20260709.1445.bz2",
    )
    other = layout.file_urls(FileId(Project.ROUTEVIEWS, "route-views.sg", Kind.RIBS, T))
    assert other[0] == (
        "https://archive.routeviews.org/route-views.sg/bgpdata/2026.07/RIBS/rib.20260709.1445.bz2"
    )


def test_ris_urls_with_a_configured_mirror() -> None:
    layout = RisLayout("http://mirror.example/ris", ("http://m2.example/",))
    assert layout.file_urls(FileId(Project.RIS, "rrc00", Kind.RIBS, T)) == (
        "http://mirror.example/ris/rrc00/2026.07/bview.20260709.1445.gz",
        "http://m2.example/rrc00/2026.07/bview.20260709.1445.gz",
    )


def test_collectors_from_root_pages() -> None:
    def d(n: str) -> IndexEntry:
        return IndexEntry(n, True, None, False, None)

    rv = RouteViewsLayout().collectors_from_root(
        [
            d("bgpdata"),
            d("route-views.sg"),
            d("decix.jhb"),
            d("icons"),
            IndexEntry("README", False, 1, True, None),
        ]
    )
    assert rv == {"route-views2", "route-views.sg", "decix.jhb"}
    assert RisLayout().collectors_from_root([d("rrc00"), d("rrc26"), d("docs")]) == {
        "rrc00",
        "rrc26",
    }


def test_routeviews_guest_list_fixture() -> None:
    infos, nxt = parse_routeviews_guest(load("api-routeviews-guest-collector.json"))
    assert nxt is None and len(infos) == 50
    retired = {i.name for i in infos if not i.active}
    assert retired == {"route-views.saopaulo", "route-views.jinx", "route-views.siex"}
    assert {"decix.jhb", "route-views8", "route-views2"} <= {i.name for i in infos}


def test_routeviews_meta_fixture() -> None:
    names = {i.name for i in parse_routeviews_meta(load("api-routeviews-meta-collectors.json"))}
    assert names == {"route-views.flix", "route-views.bknix", "route-views8"}


def test_ripestat_rrc_info_fixture() -> None:
    infos = parse_ris_rrc_info(load("stat-ripe-net-data-rrc-info-data.json"))
    assert len(infos) == 26 and "rrc17" not in {i.name for i in infos}
    assert {i.name for i in infos if not i.active} == {"rrc02", "rrc08", "rrc09"}


def test_malformed_lists_are_clear_errors() -> None:
    with pytest.raises(CollectorListError):
        parse_routeviews_guest({"results": "nope"})
    with pytest.raises(CollectorListError):
        parse_ris_rrc_info([])


def test_filter_and_months() -> None:
    f = CollectorFilter(include=("route-views*", "rrc0?"), exclude=("route-views6",))
    assert f.apply({"route-views.sg", "route-views6", "rrc00", "rrc10", "decix.jhb"}) == {
        "route-views.sg",
        "rrc00",
    }
    assert months_between(
        datetime(2025, 12, 31, 23, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    ) == [Month(2025, 12), Month(2026, 1)]
