"""Ctrl-C on ``mrtfeed parse --jobs N``: a terminal sends SIGINT to the parent and to
every pool worker. The run ends with status 130 and no traceback, and what it wrote
is the start of the output, in whole lines."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
from functools import cache

from mrtfeed.pipeline.reader import READ_SIZE
from tests.mrtdata import MRT_DIR

PARSE = [sys.executable, "-m", "mrtfeed.cli", "parse"]


@cache
def _raw_and_lines() -> tuple[bytes, bytes]:
    """An uncompressed UPDATE file and its lines from ``-j 1``."""
    raw = gzip.decompress((MRT_DIR / "updates.20190101.0000.gz").read_bytes())
    whole = subprocess.run([*PARSE, "-"], input=raw, capture_output=True, check=True).stdout
    return raw, whole


def _start(*options: str, stdout: int = subprocess.PIPE) -> subprocess.Popen[bytes]:
    """``parse --jobs 2 -`` in a process group of its own, as a terminal gives."""
    return subprocess.Popen(
        [*PARSE, "--jobs", "2", *options, "-"],
        stdin=subprocess.PIPE,
        stdout=stdout,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def test_ctrl_c_with_a_worker_idle_ends_without_a_traceback() -> None:
    """The parent reads stdin: it sends one piece to the pool and waits for more, so
    one worker has never had a chunk to decode. Before, that idle worker died of the
    SIGINT printing a traceback."""
    raw, whole = _raw_and_lines()
    process = _start()
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(raw[:READ_SIZE])  # one read of the parent's; the pipe stays open
    process.stdin.flush()
    first = os.read(process.stdout.fileno(), 1 << 16)  # the first chunk's lines are out
    os.killpg(process.pid, signal.SIGINT)
    rest, err = process.communicate(timeout=60)

    assert process.returncode == 130
    assert err == b""
    out = first + rest
    assert first and out.endswith(b"\n") and whole.startswith(out)
    assert len(out) < len(whole)


def test_ctrl_c_wipes_the_progress_display() -> None:
    """The progress line is cleared, so that the shell's prompt starts a clean line."""
    raw, _ = _raw_and_lines()
    process = _start("--progress", "always", stdout=subprocess.DEVNULL)
    assert process.stdin is not None and process.stderr is not None
    process.stdin.write(raw[: 8 * READ_SIZE])  # more chunks than the pool holds at once
    process.stdin.flush()
    drawn = os.read(process.stderr.fileno(), 1 << 16)  # the display is up
    os.killpg(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=60)

    assert process.returncode == 130
    assert drawn.startswith(b"\r-: ")
    assert (drawn + err).endswith(b"\r\x1b[K") and b"\n" not in drawn + err
