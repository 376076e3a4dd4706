"""Pure parts of the fetcher: stream verification, readiness, gap detection."""

from __future__ import annotations

import bz2
import gzip
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from mrtfeed.archive.model import FileId, Kind, Project
from mrtfeed.fetch.download import remove_partial_downloads
from mrtfeed.fetch.gaps import GapDetector
from mrtfeed.fetch.readiness import Readiness, ReadinessPolicy, ReadinessTracker
from mrtfeed.fetch.verify import CorruptFile, verify_file
from mrtfeed.observe.metrics import ServiceMetrics
from tests.fetch.archive_server import MRT_DATA, TRUNCATED_BZ2, mrt_bytes

T0 = datetime(2026, 7, 20, tzinfo=UTC)


@pytest.mark.parametrize("name", ["updates.20100722.2015.gz", "update.bz2", "quagga_rib"])
def test_whole_real_files_verify(name: str) -> None:
    assert verify_file(MRT_DATA / name) in ("gzip", "bz2", "raw")


def test_upstream_truncated_bz2_is_rejected() -> None:
    with pytest.raises(CorruptFile, match="truncated"):
        verify_file(MRT_DATA / TRUNCATED_BZ2)


@pytest.mark.parametrize("name", ["ris.rrc06.updates.1427846400.gz", "updates.bz2"])
def test_cut_copies_are_rejected(name: str, tmp_path: Path) -> None:
    data = mrt_bytes(name)
    p = tmp_path / name
    p.write_bytes(data[: len(data) - 7])
    with pytest.raises(CorruptFile):
        verify_file(p)


def test_flipped_byte_fails_the_crc(tmp_path: Path) -> None:
    data = bytearray(mrt_bytes("ris.rrc06.updates.1427846400.gz"))
    data[len(data) // 2] ^= 0xFF
    p = tmp_path / "x.gz"
    p.write_bytes(bytes(data))
    with pytest.raises(CorruptFile):
        verify_file(p)


def test_multi_member_streams_are_whole(tmp_path: Path) -> None:
    g = tmp_path / "m.gz"
    g.write_bytes(gzip.compress(b"a" * 10) + gzip.compress(b"b" * 10))
    b = tmp_path / "m.bz2"
    b.write_bytes(bz2.compress(b"a") + bz2.compress(b"b"))
    assert verify_file(g) == "gzip" and verify_file(b) == "bz2"


def test_wrong_format_for_the_name(tmp_path: Path) -> None:
    p = tmp_path / "updates.20260720.0000.gz"
    p.write_bytes(b"<html>oops</html>")
    with pytest.raises(CorruptFile, match="expected gzip"):
        verify_file(p)


def rv_update(t: datetime) -> FileId:
    return FileId(Project.ROUTEVIEWS, "route-views.sg", Kind.UPDATES, t)


def test_readiness_rules() -> None:
    tr = ReadinessTracker(ReadinessPolicy(grace=timedelta(minutes=3)))
    f = rv_update(T0)
    tr.observe(f, 1, 100, True)
    assert tr.decide(f, 1, T0 + timedelta(minutes=17)) is Readiness.WAIT_GRACE
    assert tr.decide(f, 1, T0 + timedelta(minutes=18)) is Readiness.WAIT_STABLE
    tr.observe(f, 2, 120, True)  # grew
    assert tr.decide(f, 2, T0 + timedelta(minutes=19)) is Readiness.WAIT_STABLE
    tr.observe(f, 3, 120, True)
    assert tr.decide(f, 3, T0 + timedelta(minutes=20)) is Readiness.READY
    assert tr.stable_size(f) == 120


def test_inexact_sizes_ask_for_head_and_old_files_are_settled() -> None:
    tr = ReadinessTracker()
    f = FileId(Project.RIS, "rrc00", Kind.UPDATES, T0)
    tr.observe(f, 1, 4 << 20, False)
    assert tr.decide(f, 1, T0 + timedelta(minutes=10)) is Readiness.NEED_HEAD
    tr.observe(f, 1, 4_100_000, True)  # HEAD answer
    assert tr.decide(f, 1, T0 + timedelta(minutes=10)) is Readiness.WAIT_STABLE
    assert tr.decide(f, 9, T0 + timedelta(hours=2)) is Readiness.READY


def test_gap_detector_irregular_start_and_reporting_once() -> None:
    gd = GapDetector()
    start = T0 + timedelta(minutes=7)  # Route Views intervals need not be on :00/:15
    times = [start + timedelta(minutes=15 * i) for i in range(8) if i not in (2, 3)]
    gd.observe(Project.ROUTEVIEWS, "c", Kind.UPDATES, times)
    gaps = gd.check(times[-1] + timedelta(minutes=20), since=T0)
    assert [(g.after, g.missing) for g in gaps] == [(times[1], 2)]
    assert gd.check(times[-1] + timedelta(minutes=21), since=T0) == []


def test_ris_bview_cadence_has_no_false_gap() -> None:
    gd = GapDetector()
    times = [T0 + timedelta(hours=8 * i) for i in range(4)]
    gd.observe(Project.RIS, "rrc00", Kind.RIBS, times)
    assert gd.check(times[-1] + timedelta(hours=1), since=T0) == []


def test_a_ris_bview_published_two_hours_late_is_not_overdue_nor_missing() -> None:
    """RIS publishes a bview 1.5 to 2.2 h after its nominal time: with 10 minutes of
    allowance every bview was reported overdue, and each report added to
    mrtfeed_files_missing_total, so the chart's MrtfeedFilesMissing alert never rested
    (544 reports replaying rrc00's real April 2020 listing, no real gap)."""
    metrics = ServiceMetrics()
    gd = GapDetector(metrics)
    times = [T0 + timedelta(hours=8 * i) for i in range(3)]  # the next is due at T0 + 24h
    gd.observe(Project.RIS, "rrc00", Kind.RIBS, times)
    assert gd.check(T0 + timedelta(hours=24 + 2, minutes=15), since=T0) == []
    (late,) = gd.check(T0 + timedelta(hours=24 + 3, minutes=10), since=T0)
    assert late.before is None and late.after == times[-1]
    text = generate_latest(metrics.registry).decode()
    assert "mrtfeed_files_missing_total{" not in text


def test_unfinished_downloads_of_a_killed_run_are_removed(tmp_path: Path) -> None:
    """A SIGKILL mid-download left its .part file for ever (each attempt has a new
    random name). Only files idle for a while go: a live download writes on."""
    collector = tmp_path / "routeviews" / "route-views.jinx"
    collector.mkdir(parents=True)
    stale = collector / ".updates.20240301.0000.bz2.135de9f7.part"
    live = collector / ".updates.20240301.0015.bz2.0badcafe.part"
    done = collector / "updates.20240301.0030.bz2"  # kept (keep_files)
    for path in (stale, live, done):
        path.write_bytes(b"x")
    now = 1_800_000_000.0
    os.utime(stale, (now - 901, now - 901))
    os.utime(live, (now - 30, now - 30))
    os.utime(done, (now - 9999, now - 9999))
    assert remove_partial_downloads(tmp_path, now) == 1
    assert not stale.exists() and live.exists() and done.exists()
