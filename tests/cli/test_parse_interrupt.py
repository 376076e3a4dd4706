"""Ctrl-C on ``mrtfeed parse --jobs N``: a terminal sends SIGINT to the parent and to
every pool worker. The run ends with status 130 and nothing on stderr, and what it
wrote is the start of the output, in whole lines."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys

from mrtfeed.pipeline.reader import READ_SIZE
from tests.mrtdata import MRT_DIR

PARSE = [sys.executable, "-m", "mrtfeed.cli", "parse"]


def test_ctrl_c_with_a_worker_idle_ends_without_a_traceback() -> None:
    """The parent reads stdin: it sends one piece to the pool and waits for more, so
    one worker has never had a chunk to decode. Before, that idle worker died of the
    SIGINT printing a traceback."""
    raw = gzip.decompress((MRT_DIR / "updates.20190101.0000.gz").read_bytes())
    whole = subprocess.run([*PARSE, "-"], input=raw, capture_output=True, check=True).stdout
    process = subprocess.Popen(
        [*PARSE, "--jobs", "2", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # a process group of its own, as a terminal gives
    )
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
