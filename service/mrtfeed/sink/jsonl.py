"""The embedded sink: JSON lines on stdout or in a file, no Kafka needed.

Every message value is one line; messages for other topics than the events topic
(alerts, filter-set copies) carry a ``"topic"`` field first. For a file the sink is
exactly-once across crashes: lines are appended as batches arrive, and a commit fsyncs
them, then atomically replaces the checkpoint file, which records the output length
that goes with it. On start the output is truncated to that length, dropping lines of
a commit that did not finish. Stdout cannot be truncated, so there a crash may repeat
the lines written since the last commit.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import BinaryIO

from mrtfeed.sink.base import Batch, Checkpoint, SourceFile

CHECKPOINT_NAME = "jsonl-sink-checkpoints.json"


class JsonlSink:
    """JSON lines to ``path`` ("-" = stdout); checkpoints in ``state_dir``.

    Without a ``state_dir`` the checkpoints of a file output sit next to it
    (``<path>.checkpoints.json``); for stdout they are kept in memory only.
    """

    def __init__(
        self,
        path: str = "-",
        state_dir: Path | None = None,
        *,
        events_topic: str = "mrtfeed.events.v1",
    ) -> None:
        self.path = path
        self.events_topic = events_topic
        # Several files stream into one sink: a write must not interleave with a commit
        # that records the output length.
        self._lock = asyncio.Lock()
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

    @property
    def committed_checkpoints(self) -> Mapping[str, Checkpoint]:
        return MappingProxyType(self._checkpoints)

    async def reload_checkpoints(self) -> None:
        """Nothing to do: this process is the only writer of its checkpoint file."""

    async def write(self, batch: Batch) -> None:
        # Written at once (not held until commit) so memory does not grow with the
        # commit interval; until the checkpoint records them the lines do not count.
        if batch.messages:
            events_topic = self.events_topic
            data = (
                b"\n".join(
                    [
                        value if topic == events_topic else _with_topic(topic, value)
                        for topic, _, value, _ in batch.messages
                    ]
                )
                + b"\n"
            )
            async with self._lock:
                await asyncio.to_thread(self._write, data)
                self._pending_checkpoints[batch.file.key] = batch.checkpoint
        else:
            async with self._lock:
                self._pending_checkpoints[batch.file.key] = batch.checkpoint

    def _write(self, data: bytes) -> None:
        out = self._out
        assert out is not None, "start() was not awaited"
        out.write(data)
        self._length += len(data)

    async def commit(self) -> None:
        async with self._lock:
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


def _with_topic(topic: str, value: bytes) -> bytes:
    """An alert or filter-set copy, marked with its Kafka topic so that a reader of the
    single JSON-lines stream can tell it from the event line it copies."""
    return b'{"topic":' + json.dumps(topic).encode() + b"," + value[1:]
