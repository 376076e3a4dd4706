"""SIGTERM in the middle of a file, then a restart: nothing lost, nothing repeated; and
Ctrl-C, which reaches the pool workers too, stops the service the same way.

The test proves the stop came mid-file (a checkpoint with done=false and records already
committed) before it restarts the service (see :mod:`tests.service.stopping`).
"""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

from tests.fetch.archive_server import ArchiveServer
from tests.service.helpers import (
    EVENT_TYPES,
    events_by_file,
    expected_events,
    read_jsonl,
    wait_until,
)
from tests.service.stopping import (
    a_file_partly_committed,
    checkpoints,
    ctrl_c,
    put_series,
    start,
    write_config,
)


async def test_sigterm_mid_file_then_restart_loses_and_repeats_nothing(tmp_path: Path) -> None:
    async with ArchiveServer("apache") as rv, ArchiveServer("nginx") as ris:
        files = put_series(rv, ris)
        config = write_config(tmp_path, rv, ris)
        log = tmp_path / "service.log"

        first = await start(config, log, "run")
        try:
            await wait_until(lambda: a_file_partly_committed(tmp_path), "a file partly committed")
            first.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(first.wait(), 60) == 0
        finally:
            if first.returncode is None:
                first.kill()
        state = checkpoints(tmp_path)
        partial = [k for k, (_, index, done) in state.items() if not done and index > 0]
        assert partial, f"the stop did not land inside a file: {state}"
        assert len([v for v in state.values() if v[2]]) < len(files)

        second = await start(config, log, "run")
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
    assert [m["msg"] for m in messages].count("SIGTERM received: stopping") == 2
    # A stop is not a failure (it was logged as an error, and the file backed off).
    assert any("postponed: stopping after a batch of" in m["msg"] for m in messages)
    assert not [m for m in messages if m["level"] in ("warning", "error", "critical")]


async def test_ctrl_c_mid_file_stops_the_service_as_sigterm_does(tmp_path: Path) -> None:
    """Before, a pool worker died of the SIGINT (or sent it back as its task's
    result): the service exited -2 with a traceback instead of stopping."""
    async with ArchiveServer("apache") as rv, ArchiveServer("nginx") as ris:
        put_series(rv, ris)
        config = write_config(tmp_path, rv, ris)
        log = tmp_path / "service.log"
        service = await start(config, log, "run")
        try:
            await wait_until(lambda: a_file_partly_committed(tmp_path), "a file partly committed")
            ctrl_c(service)
            assert await asyncio.wait_for(service.wait(), 60) == 0
        finally:
            if service.returncode is None:
                service.kill()
    assert a_file_partly_committed(tmp_path)  # resumed from there, as after SIGTERM
    text = log.read_text()
    messages = [json.loads(x) for x in text.splitlines() if x.startswith("{")]
    assert "SIGINT received: stopping" in [m["msg"] for m in messages]
    assert any("postponed: stopping after a batch of" in m["msg"] for m in messages)
    assert "Traceback" not in text
    assert not [m for m in messages if m["level"] in ("warning", "error", "critical")]
