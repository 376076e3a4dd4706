"""`mrtfeed backfill --from --to`: a past range through the real pipeline, then exit.

Issue 5's last piece: the fetcher's backfill wired to the decoder pool and the sink.
The command runs as a real process against loopback archive servers.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from mrtfeed.archive.model import Kind
from tests.fetch.archive_server import ArchiveServer, Fault, mrt_bytes, ris_path, routeviews_path
from tests.service.helpers import (
    EVENT_TYPES,
    REPO,
    events_by_file,
    expected_events,
    read_jsonl,
    wait_until,
)
from tests.service.stopping import DAY as SERIES_DAY
from tests.service.stopping import (
    a_file_partly_committed,
    checkpoints,
    ctrl_c,
    put_series,
    start,
    write_config,
)

DAY = datetime(2023, 2, 28, 23, 30, tzinfo=UTC)  # the range crosses a month boundary


async def backfill(config: Path, start: datetime, end: datetime) -> tuple[int, dict[str, object]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MRTFEED_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mrtfeed.cli",
        "backfill",
        "--config",
        str(config),
        "--from",
        start.isoformat(),
        "--to",
        end.isoformat(),
        "--rounds",
        "1",
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 120)
    summary = json.loads(err.decode().strip().splitlines()[-1])
    assert proc.returncode is not None
    return proc.returncode, summary


async def test_backfill_range_once_then_nothing_new(tmp_path: Path) -> None:
    async with ArchiveServer("apache") as rv, ArchiveServer("nginx") as ris:
        inside = []
        for i, sample in enumerate(
            ["updates.bz2", "routeviews.route-views.jinx.updates.1401493500.bz2"]
        ):
            t = DAY + timedelta(minutes=15 * i + 15)  # 23:45 and 00:00 (next month)
            rv.put(routeviews_path("route-views2", Kind.UPDATES, t), mrt_bytes(sample))
            inside.append(("route-views2", "updates", int(t.timestamp()), sample))
        t = DAY + timedelta(minutes=20)
        ris.put(ris_path("rrc06", Kind.UPDATES, t), mrt_bytes("ris.rrc06.updates.1427846400.gz"))
        inside.append(("rrc06", "updates", int(t.timestamp()), "ris.rrc06.updates.1427846400.gz"))
        # outside the range: before --from and at --to (the range is half-open)
        rv.put(routeviews_path("route-views2", Kind.UPDATES, DAY), mrt_bytes("updates.bz2"))
        end = DAY + timedelta(minutes=45)
        rv.put(routeviews_path("route-views2", Kind.UPDATES, end), mrt_bytes("updates.bz2"))

        config = tmp_path / "config.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "archives": {
                        "routeviews": {"base_url": rv.base_url},
                        "ris": {"base_url": ris.base_url},
                    },
                    "state": {"dir": str(tmp_path / "state")},
                    "workers": 2,
                    "sink": {"type": "jsonl", "jsonl": {"path": str(tmp_path / "out.jsonl")}},
                    "log": {"format": "text"},
                }
            )
        )
        start = DAY + timedelta(minutes=1)
        status, summary = await backfill(config, start, end)
        assert status == 0, summary
        assert summary["processed"] == 3 and summary["complete"] is True

        # again: everything in the range is done, nothing is written twice
        status, summary = await backfill(config, start, end)
        assert status == 0 and summary["processed"] == 0

    lines = read_jsonl(tmp_path / "out.jsonl")
    assert events_by_file(lines) == {(c, k, t): expected_events(s) for c, k, t, s in inside}
    ids = [e["event_id"] for e in lines if e["event_type"] in EVENT_TYPES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rounds", "0"], "--rounds must be at least 1"),
        (["--from", "2099-01-01T00:00Z", "--to", "2099-01-02T00:00Z"], "--from is in the future"),
    ],
)
def test_backfill_refuses_what_cannot_be_done(
    tmp_path: Path, args: list[str], message: str
) -> None:
    """Both exited 0 with complete: true, having listed nothing."""
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"state": {"dir": str(tmp_path / "state")}}))
    span = ["--from", "2024-01-01T00:00Z", "--to", "2024-01-01T01:00Z"]
    result = subprocess.run(
        [sys.executable, "-m", "mrtfeed.cli", "backfill", "--config", str(config), *span, *args],
        capture_output=True,
        check=False,
        cwd=REPO,
    )
    assert result.returncode == 1
    stderr = result.stderr.decode()
    assert stderr.startswith("mrtfeed: backfill: ") and message in stderr


@pytest.mark.parametrize("damage", ["transfer", "archive"])
async def test_backfill_of_a_damaged_file(tmp_path: Path, damage: str) -> None:
    """A transfer cut every time leaves the range incomplete; a file cut in the
    archive itself (the same bytes each time) is processed and quarantined (it was
    downloaded again and again, and the range never completed)."""
    async with ArchiveServer("apache") as rv:
        t = DAY + timedelta(minutes=15)
        path = routeviews_path("route-views2", Kind.UPDATES, t)
        if damage == "transfer":
            rv.put(path, mrt_bytes("updates.bz2"))
            rv.inject(path, Fault.truncate(keep=1000, times=-1))
        else:
            rv.put(path, mrt_bytes("updates.bz2")[:-20])
        config = tmp_path / "config.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "archives": {
                        "routeviews": {"base_url": rv.base_url},
                        "ris": {"enabled": False},
                    },
                    "state": {"dir": str(tmp_path / "state")},
                    "http_client": {"timeout": "5s"},
                    "sink": {"type": "jsonl", "jsonl": {"path": str(tmp_path / "out.jsonl")}},
                }
            )
        )
        status, summary = await backfill(config, DAY, DAY + timedelta(hours=1))
    if damage == "transfer":
        assert status == 1
        assert summary["complete"] is False and summary["processed"] == 0
        assert list(summary["failed"]) == ["routeviews:route-views2:updates:20230228T2345Z"]  # type: ignore[call-overload]
    else:
        assert status == 0 and summary["complete"] is True
        # one bz2 block: nothing before the cut decodes (test_units checks the records)
        assert summary["processed"] == 1 and summary["quarantined"] == 1


async def test_backfill_stopped_mid_file_ends_at_once_and_a_rerun_completes(
    tmp_path: Path,
) -> None:
    """Ctrl-C (SIGTERM takes the same road) is not a failure: the file stopped in is
    reported as postponed, not as failed, no further round is listed, and running the
    command again completes the range with nothing lost or repeated. (The stop was
    logged as an error and counted as a failure, and the backfill listed its remaining
    rounds, a minute apart by default, before it exited.)"""
    async with ArchiveServer("apache") as rv, ArchiveServer("nginx") as ris:
        files = put_series(rv, ris)
        config = write_config(tmp_path, rv, ris)
        span = [
            "--from",
            SERIES_DAY.isoformat(),
            "--to",
            (SERIES_DAY + timedelta(hours=1)).isoformat(),
        ]
        log = tmp_path / "backfill.log"

        first = await start(config, log, "backfill", *span)
        try:
            await wait_until(lambda: a_file_partly_committed(tmp_path), "a file partly committed")
            ctrl_c(first)
            assert await asyncio.wait_for(first.wait(), 60) == 1  # the range is not complete
        finally:
            if first.returncode is None:
                first.kill()
        summary = json.loads(log.read_text().splitlines()[-1])
        assert summary["complete"] is False and summary["failed"] == {}
        assert summary["rounds"] == 1
        partial = [k for k, (_, _, done) in checkpoints(tmp_path).items() if not done]
        assert len(partial) == 1 and len(summary["postponed"]) >= 1
        assert summary["processed"] + len(summary["postponed"]) <= len(files)
        first_log = log.read_text()

        log.write_text("")
        second = await start(config, log, "backfill", *span)
        assert await asyncio.wait_for(second.wait(), 120) == 0
        summary = json.loads(log.read_text().splitlines()[-1])
        assert summary["complete"] is True and summary["postponed"] == []

    lines = read_jsonl(tmp_path / "events.jsonl")
    ids = [e["event_id"] for e in lines if e.get("event_type") in EVENT_TYPES]
    assert len(ids) == len(set(ids)), "events repeated by the second run"
    assert events_by_file(lines) == {(c, k, t): expected_events(s) for c, k, t, s in files}
    records = [json.loads(x) for x in first_log.splitlines() if x.startswith("{")]
    messages = [r for r in records if "msg" in r]  # the last record is the summary
    assert any("postponed: stopping after a batch of" in m["msg"] for m in messages)
    assert "Traceback" not in first_log
    assert not [m for m in messages if m["level"] in ("warning", "error", "critical")]


def _config_with_an_unwritable_output(tmp_path: Path) -> Path:
    """A JSON-lines sink that cannot start: a file stands where its folder should be."""
    (tmp_path / "blocker").write_text("a file where the output's folder should be")
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "archives": {"routeviews": {"base_url": "http://127.0.0.1:9/"}},
                "state": {"dir": str(tmp_path / "state")},
                "sink": {"jsonl": {"path": str(tmp_path / "blocker" / "out.jsonl")}},
                "log": {"format": "json"},
            }
        )
    )
    return config


async def test_backfill_stopped_while_its_sink_never_started_reports_an_incomplete_range(
    tmp_path: Path,
) -> None:
    """It printed "backfill failed: NotADirectoryError" and no summary: a stop is not a
    failure, and the summary says what was done (nothing)."""
    config = _config_with_an_unwritable_output(tmp_path)
    log = tmp_path / "backfill.log"
    span = ("--from", DAY.isoformat(), "--to", (DAY + timedelta(hours=1)).isoformat())
    process = await start(config, log, "backfill", *span)
    try:
        await wait_until(lambda: "sink not available" in log.read_text(), "the sink's failure")
        ctrl_c(process)
        assert await asyncio.wait_for(process.wait(), 60) == 1
    finally:
        if process.returncode is None:
            process.kill()
    text = log.read_text()
    summary = json.loads(text.splitlines()[-1])
    assert summary["stopped"] is True and summary["complete"] is False
    assert summary["rounds"] == 0 and summary["processed"] == 0
    assert "backfill failed" not in text and "Traceback" not in text


async def test_backfill_whose_sink_never_starts_exits_after_sink_wait(tmp_path: Path) -> None:
    """A one-shot command run from cron must end: it retried its sink for ever."""
    config = _config_with_an_unwritable_output(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MRTFEED_")}
    span = ("--from", DAY.isoformat(), "--to", (DAY + timedelta(hours=1)).isoformat())
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "mrtfeed.cli", "backfill", "--config", str(config), *span),
        *("--sink-wait", "0s"),
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1
    last = err.decode().strip().splitlines()[-1]
    assert last.startswith("mrtfeed: backfill: jsonl sink not available after 0 s: ")
    assert "FileExistsError" in last and "Traceback" not in err.decode()
