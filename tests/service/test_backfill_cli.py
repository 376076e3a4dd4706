"""`mrtfeed backfill --from --to`: a past range through the real pipeline, then exit.

Issue 5's last piece: the fetcher's backfill wired to the decoder pool and the sink.
The command runs as a real process against loopback archive servers.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from mrtfeed.archive.model import Kind
from tests.fetch.archive_server import ArchiveServer, mrt_bytes, ris_path, routeviews_path
from tests.service.helpers import EVENT_TYPES, REPO, events_by_file, expected_events, read_jsonl

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


async def test_backfill_reports_an_incomplete_range(tmp_path: Path) -> None:
    async with ArchiveServer("apache") as rv:
        t = DAY + timedelta(minutes=15)
        path = routeviews_path("route-views2", Kind.UPDATES, t)
        rv.put(path, mrt_bytes("updates.bz2")[:-20])  # a truncated bz2 never verifies
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
    assert status == 1
    assert summary["complete"] is False and summary["processed"] == 0
    assert list(summary["failed"]) == ["routeviews:route-views2:updates:20230228T2345Z"]  # type: ignore[call-overload]
