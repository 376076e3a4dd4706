"""The embedded sink: JSON lines on stdout or in a file, no Kafka needed.

Every message value is one line (events, alerts and filter-set copies alike; they
differ by ``event_type``). For a file the sink is exactly-once across crashes: a
commit appends the lines, fsyncs them, then atomically replaces the checkpoint file,
which records the output length that goes with it. On start the output is truncated
to that length, dropping lines of a commit that did not finish. Stdout cannot be
truncated, so there a crash may repeat the lines of the last unfinished commit.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import BinaryIO

from mrtfeed.sink.base import Batch, Checkpoint, SourceFile

CHECKPOINT_NAME = "jsonl-sink-checkpoints.json"


class JsonlSink:
    """JSON lines to ``path`` ("-" = stdout); checkpoints in ``state_dir``.

    Without a ``state_dir`` the checkpoints of a file output sit next to it
    (``<path>.checkpoints.json``); for stdout they are kept in memory only.
    """

    def __init__(self, path: str = "-", state_dir: Path | None = None) -> None:
        self.path = path
        self._to_stdout = path == "-"
        if state_dir is not None:
            self._checkpoint_path: Path | None = state_dir / CHECKPOINT_NAME
        elif not self._to_stdout:
            self._checkpoint_path = Path(f"{path}.checkpoints.json")
        else:
            self._checkpoint_path = None
        self._checkpoints: dict[str, Checkpoint] = {}
        self._pending_checkpoints: dict[str, Checkpoint] = {}
        self._out: BinaryIO | None = None
        self._length = 0

    @property
    def ready(self) -> bool:
        return self._out is not None

    async def start(self) -> None:
        await asyncio.to_thread(self._start)

    def _start(self) -> None:
        committed_length = 0
        if self._checkpoint_path is not None and self._checkpoint_path.exists():
            saved = json.loads(self._checkpoint_path.read_text())
            committed_length = int(saved.get("output_length", 0))
            self._checkpoints = {
                key: Checkpoint(key, *value) for key, value in saved["files"].items()
            }
        if self._to_stdout:
            self._out = sys.stdout.buffer
            return
        out = open(self.path, "ab")  # noqa: SIM115 - kept open until close()
        # Drop lines of a commit whose checkpoint was never recorded.
        out.truncate(committed_length if self._checkpoint_path else out.tell())
        out.seek(0, os.SEEK_END)
        self._length = out.tell()
        self._out = out

    async def checkpoint(self, file: SourceFile) -> Checkpoint | None:
        return self._checkpoints.get(file.key)

    async def write(self, batch: Batch) -> None:
        # Written at once (not held until commit) so memory does not grow with the
        # commit interval; until the checkpoint records them the lines do not count.
        if batch.messages:
            data = b"\n".join([message[2] for message in batch.messages]) + b"\n"
            await asyncio.to_thread(self._write, data)
        self._pending_checkpoints[batch.file.key] = batch.checkpoint

    def _write(self, data: bytes) -> None:
        out = self._out
        assert out is not None, "start() was not awaited"
        out.write(data)
        self._length += len(data)

    async def commit(self) -> None:
        if self._pending_checkpoints:
            await asyncio.to_thread(self._commit)

    def _commit(self) -> None:
        out = self._out
        assert out is not None, "start() was not awaited"
        out.flush()
        if not self._to_stdout:
            os.fsync(out.fileno())
        self._checkpoints.update(self._pending_checkpoints)
        self._pending_checkpoints = {}
        if self._checkpoint_path is not None:
            self._save_checkpoints(self._checkpoint_path)

    def _save_checkpoints(self, target: Path) -> None:
        state = {
            "output_length": self._length,
            "files": {
                key: [cp.next_offset, cp.next_record_index, cp.done]
                for key, cp in self._checkpoints.items()
            },
        }
        temporary = target.with_suffix(".tmp")
        with open(temporary, "w") as handle:
            json.dump(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)

    async def close(self) -> None:
        if self._pending_checkpoints:
            await self.commit()
        if self._out is not None and not self._to_stdout:
            self._out.close()
        self._out = None
