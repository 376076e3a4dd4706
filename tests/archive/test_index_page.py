"""Parsing of the real archive index pages in shared/fixtures/archives/."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from mrtfeed.archive import (
    FileId,
    IndexParseError,
    Kind,
    Listing,
    Month,
    Project,
    RisLayout,
    RouteViewsLayout,
    parse_index,
)
from mrtfeed.archive.index_page import parse_size

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "archives"


def page(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8", errors="strict")


def test_route_views_ribs_month_page() -> None:
    entries = parse_index(page("route-views-bknix-bgpdata-2020.04-ribs.html"))
    assert len(entries) == 360  # the Parent Directory row is not an entry
    first = entries[0]
    assert first.name == "rib.20200401.0000.bz2"
    assert (first.size, first.size_exact) == (76, True)
    assert first.modified == datetime(2020, 4, 1, 0, 0, tzinfo=UTC)
    assert entries[-1].name == "rib.20200430.2200.bz2"


def test_route_views_updates_page_uses_href_not_truncated_text() -> None:
    entries = parse_index(page("route-views-bknix-bgpdata-2020.04-updates.html"))
    assert len(entries) == 2880
    assert all(e.name.startswith("updates.2020") and e.name.endswith(".bz2") for e in entries)
    assert {e.size for e in entries} == {14}
    layout = RouteViewsLayout("https://archive.routeviews.org/")
    listing = layout.listings("route-views.bknix", Month(2020, 4), frozenset({Kind.UPDATES}))[0]
    files = layout.remote_files(listing, listing.urls[0], entries)
    assert len(files) == 2880
    assert files[1].file_id == FileId(
        Project.ROUTEVIEWS,
        "route-views.bknix",
        Kind.UPDATES,
        datetime(2020, 4, 1, 0, 15, tzinfo=UTC),
    )
    assert files[1].url == (
        "https://archive.routeviews.org/route-views.bknix/bgpdata/2020.04/"
        "UPDATES/updates.20200401.0015.bz2"
    )


def test_route_views_abridged_bdix_page() -> None:
    entries = parse_index(page("route-views-bdix-bgpdata-2022.10-updates.excerpt.html"))
    assert [e.name for e in entries] == [
        "updates.20221001.0000.bz2",
        "updates.20221001.0015.bz2",
        "updates.20221026.1545.bz2",
        "updates.20221026.1600.bz2",
    ]


def test_ris_nginx_month_page_with_crlf() -> None:
    raw = (FIXTURES / "ris-rrc08-2020.04.html").read_bytes().decode()
    assert "\r\n" in raw
    entries = parse_index(raw)
    assert len(entries) == 8730
    bviews = [e for e in entries if e.name.startswith("bview.")]
    assert len(bviews) == 90
    assert bviews[0].modified == datetime(2020, 4, 1, 1, 35, tzinfo=UTC)
    assert bviews[0].size == 727 << 20 and not bviews[0].size_exact
    layout = RisLayout()
    listing = Listing(
        "rrc00",
        Month(2020, 4),
        frozenset({Kind.RIBS, Kind.UPDATES}),
        ("https://data.ris.ripe.net/rrc00/2020.04/",),
    )
    files = layout.remote_files(listing, listing.urls[0], entries)
    kinds = [f.file_id.kind for f in files]
    assert kinds.count(Kind.RIBS) == 90 and kinds.count(Kind.UPDATES) == 8640


def test_ris_old_apache_style_page() -> None:
    entries = parse_index(page("ris-rrc00-2022.11-apache.excerpt.html"))
    assert [(e.name, e.size) for e in entries] == [
        ("updates.20221128.2220.gz", int(6.4 * (1 << 20))),
        ("updates.20221128.2215.gz", int(3.8 * (1 << 20))),
        ("bview.20221102.0800.gz", int(1.5 * (1 << 30))),
        ("bview.20221102.0000.gz", int(1.5 * (1 << 30))),
    ]
    assert entries[0].modified == datetime(2022, 11, 28, 22, 25, tzinfo=UTC)


def test_ris_nginx_excerpt_with_irregular_times() -> None:
    entries = parse_index(page("ris-rrc00-2001.01-nginx.excerpt.html"))
    layout = RisLayout()
    listing = layout.listings("rrc00", Month(2001, 1), frozenset({Kind.RIBS}))[0]
    files = layout.remote_files(listing, listing.urls[0], entries)
    assert [f.file_id.nominal for f in files] == [
        datetime(2001, 1, 1, 6, 9, tzinfo=UTC),
        datetime(2001, 1, 1, 14, 10, tzinfo=UTC),
    ]


@pytest.mark.parametrize(
    "text", ["", "<html><body>502 Bad Gateway</body></html>", "<h1>Index of /x</h1><p>nothing</p>"]
)
def test_non_index_pages_are_errors(text: str) -> None:
    with pytest.raises(IndexParseError):
        parse_index(text)


def test_sizes() -> None:
    assert parse_size(" 76 ") == (76, True)
    assert parse_size("4M") == (4 << 20, False)
    assert parse_size("98K") == (98 << 10, False)
    assert parse_size("  - ") == (None, False)
