"""Pool workers end with the process that started them (:mod:`mrtfeed.pipeline.orphans`):
the parent is killed with SIGKILL, as the OOM killer would, and every process it had
started must exit on its own. Waits are on pidfds (woken by the exit itself)."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
from pathlib import Path

from tests.mrtdata import MRT_DIR

#: How long the orphans may take to notice (they are woken by the pipe's end).
DEADLINE = 30.0


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux /proc)."""
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        found += map(int, children)
        todo += map(int, children)
    return found


def _still_running(pids: list[int]) -> list[int]:
    """Wait until every process in ``pids`` has exited, or the deadline has passed;
    the ones still running."""
    fds = {}
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):  # gone already
            fds[os.pidfd_open(pid)] = pid
    try:
        waiting = set(fds)
        while waiting:
            ready, _, _ = select.select(list(waiting), [], [], DEADLINE)
            if not ready:
                break
            waiting -= set(ready)
        return [fds[fd] for fd in waiting]
    finally:
        for fd in fds:
            os.close(fd)


def _kill_and_check(proc: subprocess.Popen[bytes], started: list[int]) -> None:
    assert started, "the pool should have started processes"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _still_running(started) == []


def test_a_killed_parse_leaves_no_workers() -> None:
    """``mrtfeed parse -j 2``, killed while its workers wait to write."""
    path = str(MRT_DIR / "routeviews.route-views.jinx.ribs.1401487200.bz2")
    command = [sys.executable, "-m", "mrtfeed.cli", "parse", "-j", "2", path]
    with subprocess.Popen(command, stdout=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline()  # a worker has written: the pool is up
        _kill_and_check(proc, _descendants(proc.pid))


POOL_SCRIPT = """
import os, sys
from mrtfeed.service.pool import ParserPool
pool = ParserPool(2)
pids = {pool.submit(os.getpid).result() for _ in range(8)}
print("ready", flush=True)
sys.stdin.read()
"""


def test_a_killed_service_leaves_no_workers_nor_forkserver() -> None:
    """The service's pool (forkserver), killed while idle."""
    command = [sys.executable, "-c", POOL_SCRIPT]
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        started = _descendants(proc.pid)
        assert len(started) >= 3  # the forkserver and two workers
        _kill_and_check(proc, started)
