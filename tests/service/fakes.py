"""An in-memory sink for unit tests (the real sinks are used in the end-to-end tests)."""

from __future__ import annotations

from collections.abc import Mapping

from mrtfeed.sink.base import Batch, Checkpoint, Message, SourceFile


class MemorySink:
    def __init__(self, *, ready: bool = True, fail_writes: int = 0, lose_commits: int = 0) -> None:
        self._ready = ready
        self.fail_writes = fail_writes
        #: Commits that drop what is pending and return, as when another file's failure
        #: aborted the shared Kafka transaction.
        self.lose_commits = lose_commits
        self.pending: list[Batch] = []
        #: What the batches carry: plain ``(topic, key, value, partition)`` tuples.
        self.committed: list[Message] = []
        self.checkpoints: dict[str, Checkpoint] = {}
        self.commits = 0
        self.closed = False

    async def start(self) -> None:
        self._ready = True

    @property
    def ready(self) -> bool:
        return self._ready

    async def checkpoint(self, file: SourceFile) -> Checkpoint | None:
        return self.checkpoints.get(file.key)

    @property
    def committed_checkpoints(self) -> Mapping[str, Checkpoint]:
        return self.checkpoints

    async def reload_checkpoints(self) -> None:
        """Nothing to re-read: the dict is the store."""

    async def write(self, batch: Batch) -> None:
        if self.fail_writes:
            self.fail_writes -= 1
            raise ConnectionError("broker went away")
        self.pending.append(batch)

    async def commit(self) -> None:
        if self.lose_commits:
            self.lose_commits -= 1
            self.pending = []
            return
        for batch in self.pending:
            self.committed.extend(batch.messages)
            self.checkpoints[batch.file.key] = batch.checkpoint
        self.pending = []
        self.commits += 1

    async def close(self) -> None:
        await self.commit()
        self.closed = True
