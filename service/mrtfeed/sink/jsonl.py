"""The embedded sink: JSON lines on stdout or in a file, no Kafka needed.

Every message value is one line; messages for other topics than the events topic
(alerts, filter-set copies) carry a ``"topic"`` field first. For a file the sink is
exactly-once across crashes: lines are appended as batches arrive, and a commit fsyncs
them, then atomically replaces the checkpoint file, which records the output length
that goes with it. On start the output is truncated to that length, dropping lines of
a commit that did not finish; an output found without a checkpoint file keeps what it
holds (it is not ours: a lost state dir must not empty it) and the checkpoint file
records its length before anything is written. Stdout, a pipe or a device cannot be
truncated, so there a crash may repeat the lines written since the last commit.

A write or commit that fails (a full disk) leaves the output unusable: lines of a
batch may be half out, and writing on would shift every later line past the length
the next checkpoint records. The sink is then not ready for good (files are not
blamed for it, /readyz fails) and writes nothing more; a restart truncates the
output to its last commit and resumes every file from there.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import stat
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
        #: The output is a regular file: truncated at start, fsynced at commit.
        self._regular_file = False
        self._length = 0
        #: The write or commit error that made the output unusable (see the module doc).
        self._failure: OSError | None = None

    @property
    def ready(self) -> bool:
        return self._out is not None and self._failure is None

    async def start(self) -> None:
        await asyncio.to_thread(self._start)

    def _start(self) -> None:
        committed_length: int | None = None
        if self._checkpoint_path is not None and self._checkpoint_path.exists():
            saved = json.loads(self._checkpoint_path.read_text())
            committed_length = int(saved.get("output_length", 0))
            self._checkpoints = {
                key: Checkpoint(key, *value) for key, value in saved["files"].items()
            }
        if self._to_stdout:
            self._out = sys.stdout.buffer
            return
        # As the state dir is: a folder that does not exist yet would never appear
        # by itself, and the sink retried opening the file for ever.
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        out = open(self.path, "ab")  # noqa: SIM115 - kept open until close()
        self._out = out
        self._regular_file = stat.S_ISREG(os.fstat(out.fileno()).st_mode)
        if not self._regular_file:
            return  # a pipe or a device: nothing to truncate, no length to keep
        self._length = out.seek(0, os.SEEK_END)
        if committed_length is not None and committed_length < self._length:
            # Drop lines of a commit whose checkpoint was never recorded.
            out.truncate(committed_length)
            self._length = committed_length
        elif self._checkpoint_path is not None and committed_length is None:
            self._save_checkpoints(self._checkpoint_path, self._checkpoints)

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
        out = self._usable()
        try:
            out.write(data)
        except OSError as e:
            self._failure = e
            raise
        self._length += len(data)

    def _usable(self) -> BinaryIO:
        """The output, unless an earlier write or commit failed (then that error)."""
        out = self._out
        assert out is not None, "start() was not awaited"
        if self._failure is not None:
            raise OSError(f"the output failed earlier: {self._failure}")
        return out

    async def commit(self) -> None:
        async with self._lock:
            if self._pending_checkpoints:
                await asyncio.to_thread(self._commit)

    def _commit(self) -> None:
        out = self._usable()
        try:
            out.flush()
            if self._regular_file:
                os.fsync(out.fileno())
            # In force only once saved: the fetcher marks files done by them.
            committed = {**self._checkpoints, **self._pending_checkpoints}
            if self._checkpoint_path is not None:
                self._save_checkpoints(self._checkpoint_path, committed)
            self._checkpoints = committed
            self._pending_checkpoints = {}
        except OSError as e:
            self._failure = e
            raise

    def _save_checkpoints(self, target: Path, checkpoints: Mapping[str, Checkpoint]) -> None:
        state = {
            "output_length": self._length,
            "files": {
                key: [cp.next_offset, cp.next_record_index, cp.done]
                for key, cp in checkpoints.items()
            },
        }
        temporary = target.with_suffix(".tmp")
        with open(temporary, "w") as handle:
            json.dump(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)

    async def close(self) -> None:
        if self._pending_checkpoints and self._failure is None:
            await self.commit()
        if self._out is not None and not self._to_stdout:
            with contextlib.suppress(OSError):  # a failed output may fail its flush too
                self._out.close()
        self._out = None


def _with_topic(topic: str, value: bytes) -> bytes:
    """An alert or filter-set copy, marked with its Kafka topic so that a reader of the
    single JSON-lines stream can tell it from the event line it copies."""
    return b'{"topic":' + json.dumps(topic).encode() + b"," + value[1:]
