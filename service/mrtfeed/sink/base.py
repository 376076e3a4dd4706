"""What every sink offers the pipeline: atomic batches of messages plus their checkpoint.

A batch is everything one chunk of one archive file produced, with the position after
that chunk. A sink commits the messages and the checkpoint together (Kafka: one
transaction; the JSON-lines file: write, fsync, then record the file length), so a
restart resumes at the last committed chunk and never repeats or loses an event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol


class AbortedWithOthers(Exception):
    """A file's batches were lost because another file's write or commit in the same
    unit of commit failed: the file restarts from its checkpoint, through no fault of
    its own (it is not counted towards its quarantine)."""


@dataclass(frozen=True)
class SourceFile:
    """The archive file a batch comes from; ``key`` is its identity in checkpoints.

    The key deliberately leaves the URL out: route-views2 moved in 2026 and the same
    file must keep its identity (and its events their ids) across mirrors and moves.
    """

    project: str
    collector: str
    #: "ribs" or "updates".
    kind: str
    #: Start of the file's interval, Unix seconds (from its name).
    timestamp: int
    url: str = ""

    @property
    def key(self) -> str:
        return f"{self.project}/{self.collector}/{self.kind}/{self.timestamp}"


@dataclass(frozen=True)
class Checkpoint:
    """How far a file has been committed."""

    file_key: str
    #: Offset in the decompressed stream of the first record not yet committed.
    next_offset: int
    #: Index of that record.
    next_record_index: int
    #: True once every record of the file is committed.
    done: bool = False


#: ``OutMessage.partition`` for markers that go to every partition of the topic.
EVERY_PARTITION = -1


class OutMessage(NamedTuple):
    """One message for the sink: Kafka topic, key and value (JSON bytes).

    ``partition`` None lets the sink choose from the key (same key, same partition:
    per-route order); :data:`EVERY_PARTITION` copies the message to all partitions.
    """

    topic: str
    key: bytes
    value: bytes
    partition: int | None = None


#: A message as it travels from the workers: ``(topic, key, value, partition)``.
#: Plain tuples, not :class:`OutMessage`: unpickling a named tuple calls Python code per
#: message (3.4 us against 0.5 us measured), which on a RIB is seconds in the parent.
Message = tuple[str, bytes, bytes, int | None]


@dataclass
class Batch:
    """Messages of one chunk and the checkpoint that becomes true once they are committed."""

    file: SourceFile
    messages: list[Message]
    checkpoint: Checkpoint
    #: Counts by event type, for metrics and reports.
    counts: dict[str, int] = field(default_factory=dict)


class Sink(Protocol):
    """A destination for batches; implementations: JSON lines (embedded) and Kafka."""

    async def start(self) -> None:
        """Connect and load checkpoints; raises when the destination is unusable."""

    @property
    def ready(self) -> bool:
        """True while the sink can accept batches (for ``/readyz``)."""

    async def checkpoint(self, file: SourceFile) -> Checkpoint | None:
        """The last committed checkpoint of ``file``, None when nothing is committed."""

    @property
    def committed_checkpoints(self) -> Mapping[str, Checkpoint]:
        """Read-only view of every committed checkpoint by file key (synchronous, for
        the fetcher's "is this file done" test)."""

    async def reload_checkpoints(self) -> None:
        """Re-read committed checkpoints: another replica may have moved them."""

    async def write(self, batch: Batch) -> None:
        """Add the batch to the open unit of commit (a Kafka transaction, a file write).

        Batches are applied in order; the checkpoint of the last one written becomes
        the file's checkpoint when :meth:`commit` returns.
        """

    async def commit(self) -> None:
        """Make every batch written so far durable and visible, with its checkpoint, at once.

        Several files share the unit of commit: when one's write or commit fails, the
        others' batches in it are lost too. The sink refuses their next writes; a file
        whose last batch was among them learns it from ``committed_checkpoints``."""

    async def close(self) -> None:
        """Flush what is pending and disconnect."""
