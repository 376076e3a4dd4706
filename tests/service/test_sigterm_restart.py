"""SIGTERM in the middle of a file, then a restart: nothing lost, nothing repeated.

``mrtfeed run`` runs as a real process (signals, exit status, the process pool) against
a loopback archive; the output is the JSON-lines file, whose sink is exactly-once across
stops. The test proves the stop came mid-file (a checkpoint with done=false and records
already committed) before it restarts the service.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from mrtfeed.archive.model import Kind
from tests.fetch.archive_server import ArchiveServer, mrt_bytes, ris_path, routeviews_path
from tests.service.helpers import (
    EVENT_TYPES,
    REPO,
    events_by_file,
    expected_events,
    read_jsonl,
    wait_until,
)

DAY = datetime(2024, 10, 1, tzinfo=UTC)
#: The RIS files span many chunks (batches), so a stop lands inside one of them.
SERIES = [
    ("ris", "rrc01", "rrc01.updates.20241001.0055.gz"),
    ("ris", "rrc01", "updates.20190101.0000.gz"),
    ("routeviews", "route-views.sydney", "sydney.updates.20220601.0230.bz2"),
]


def write_config(tmp: Path, rv: ArchiveServer, ris: ArchiveServer) -> Path:
    config = {
        "config_version": 1,
        "archives": {"routeviews": {"base_url": rv.base_url}, "ris": {"base_url": ris.base_url}},
        "start": DAY.isoformat(),
        "poll": {"interval": "1s", "jitter": 0, "grace_period": 0},
        "state": {"dir": str(tmp / "state")},
        "workers": 2,
        "queues": {"files": 1},
        "sink": {"type": "jsonl", "jsonl": {"path": str(tmp / "events.jsonl")}},
        "server": {"host": "127.0.0.1", "port": 0},
        "log": {"format": "json", "level": "info"},
    }
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


async def start_service(config: Path, log: Path) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MRTFEED_")}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mrtfeed.cli",
        "run",
        "--config",
        str(config),
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=log.open("ab"),
    )


#: A file's checkpoint as the JSON-lines sink saves it: next offset, next record, done.
SavedCheckpoint = tuple[int, int, bool]


def checkpoints(tmp: Path) -> dict[str, SavedCheckpoint]:
    path = tmp / "state" / "jsonl-sink-checkpoints.json"
    if not path.exists():
        return {}
    files: dict[str, SavedCheckpoint] = {}
    for key, (offset, index, done) in json.loads(path.read_text())["files"].items():
        assert isinstance(offset, int) and isinstance(index, int) and isinstance(done, bool)
        files[key] = (offset, index, done)
    return files


async def test_sigterm_mid_file_then_restart_loses_and_repeats_nothing(tmp_path: Path) -> None:
    async with ArchiveServer("apache") as rv, ArchiveServer("nginx") as ris:
        files = []
        for i, (project, collector, sample) in enumerate(SERIES):
            t = DAY + timedelta(minutes=15 * i)
            if project == "ris":
                path = ris_path(collector, Kind.UPDATES, t)
                ris.put(path, mrt_bytes(sample))
            else:
                path = routeviews_path(collector, Kind.UPDATES, t)
                rv.put(path, mrt_bytes(sample))
            files.append((collector, "updates", int(t.timestamp()), sample))
        config = write_config(tmp_path, rv, ris)
        log = tmp_path / "service.log"

        first = await start_service(config, log)
        try:
            await wait_until(
                lambda: any(
                    key.startswith("ris/") and not done and index > 0
                    for key, (_, index, done) in checkpoints(tmp_path).items()
                ),
                "a large file partly committed",
            )
            first.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(first.wait(), 60) == 0
        finally:
            if first.returncode is None:
                first.kill()
        state = checkpoints(tmp_path)
        partial = [k for k, (_, index, done) in state.items() if not done and index > 0]
        assert partial, f"the stop did not land inside a file: {state}"
        assert len([v for v in state.values() if v[2]]) < len(files)

        second = await start_service(config, log)
        try:
            await wait_until(
                lambda: len([v for v in checkpoints(tmp_path).values() if v[2]]) == len(files),
                "every file done after the restart",
                deadline=120,
            )
            second.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(second.wait(), 60) == 0
        finally:
            if second.returncode is None:
                second.kill()

    lines = read_jsonl(tmp_path / "events.jsonl")
    ids = [e["event_id"] for e in lines if e.get("event_type") in EVENT_TYPES]
    assert len(ids) == len(set(ids)), "events repeated after the restart"
    got = events_by_file(lines)
    assert got == {(c, k, t): expected_events(sample) for c, k, t, sample in files}
    messages = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
    assert any("resumed at record" in m["msg"] for m in messages)
    assert any(m["msg"] == "SIGTERM received: stopping" for m in messages)
