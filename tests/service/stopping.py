"""Stopping ``mrtfeed run`` or ``mrtfeed backfill`` in the middle of a file.

The commands run as real processes (signals, exit status, the process pool) against
loopback archives holding a few large UPDATE files; the output is the JSON-lines file,
whose sink is exactly-once across stops. Each process gets a process group of its own,
so that a Ctrl-C (SIGINT to the group, as a terminal sends it) reaches it and its pool
workers, and nothing else.
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
from tests.service.helpers import REPO

DAY = datetime(2024, 10, 1, tzinfo=UTC)
#: The RIS files span many chunks (batches), so a stop lands inside one of them.
SERIES = [
    ("ris", "rrc01", "rrc01.updates.20241001.0055.gz"),
    ("ris", "rrc01", "updates.20190101.0000.gz"),
    ("routeviews", "route-views.sydney", "sydney.updates.20220601.0230.bz2"),
]
#: One file as the tests name it: (collector, kind, file time, shared sample).
SeriesFile = tuple[str, str, int, str]


def put_series(rv: ArchiveServer, ris: ArchiveServer) -> list[SeriesFile]:
    """:data:`SERIES` on the two archives, 15 minutes apart from :data:`DAY`."""
    files = []
    for i, (project, collector, sample) in enumerate(SERIES):
        t = DAY + timedelta(minutes=15 * i)
        if project == "ris":
            ris.put(ris_path(collector, Kind.UPDATES, t), mrt_bytes(sample))
        else:
            rv.put(routeviews_path(collector, Kind.UPDATES, t), mrt_bytes(sample))
        files.append((collector, "updates", int(t.timestamp()), sample))
    return files


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


async def start(config: Path, log: Path, *command: str) -> asyncio.subprocess.Process:
    """``mrtfeed COMMAND --config CONFIG [ARGS]`` (``command`` is the sub-command and
    its arguments), stderr appended to ``log``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MRTFEED_")}
    name, *args = command
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mrtfeed.cli",
        name,
        "--config",
        str(config),
        *args,
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=log.open("ab"),
        start_new_session=True,
    )


def ctrl_c(process: asyncio.subprocess.Process) -> None:
    """SIGINT to the process group, as a terminal sends it on Ctrl-C."""
    os.killpg(process.pid, signal.SIGINT)


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


def a_file_partly_committed(tmp: Path) -> bool:
    """A RIS file (a large one) has records committed and is not done: a stop now
    lands inside it."""
    return any(
        key.startswith("ris/") and not done and index > 0
        for key, (_, index, done) in checkpoints(tmp).items()
    )
