"""Stream one archive file into a sink, chunk by chunk, resuming at its checkpoint.

The parent reads and decompresses (in a thread: ``bz2``/``zlib`` release the GIL),
cuts record-aligned chunks, and keeps a bounded window of them in the worker pool;
results come back in stream order and become batches, each carrying the checkpoint
"every record before this position is committed". The sink commits a run of batches
at once (one Kafka transaction per ``commit_interval``), so a crash replays at most
the uncommitted batches and event ids stay the same on replay.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path

from mrtfeed.decode.decoder import DecoderStats
from mrtfeed.decode.errors import DecodeError
from mrtfeed.decode.framing import Chunk
from mrtfeed.encode.event import SNAPSHOT_BEGIN, SNAPSHOT_END, EventEncoder
from mrtfeed.pipeline.messages import ChunkMessages, StreamOptions, process_chunk
from mrtfeed.pipeline.reader import ChunkReader, chunks_from
from mrtfeed.sink.base import (
    EVERY_PARTITION,
    AbortedWithOthers,
    Batch,
    Checkpoint,
    Message,
    OutMessage,
    Sink,
    SourceFile,
)

__all__ = ["StreamOptions", "StreamReport", "stream_file"]

#: Compressed bytes per chunk: ~0.5 MB decompressed, ~8,000 RIB entries, ~6 MB of
#: messages. Smaller than ``mrtfeed parse``'s chunks because a chunk's messages are
#: held in the parent until committed: window x chunk bounds the parent's memory.
STREAM_READ_SIZE = 64 * 1024
#: Decompressed bytes per chunk at most (plus the record a piece ends inside),
#: whatever the compression ratio: the bound above holds for a file of 100x (or
#: 1000x) as well as for a RIB's 8x.
STREAM_PIECE_SIZE = 512 * 1024

#: Seconds of batches per commit: long enough that commit round trips cost little,
#: short enough that a crash replays little and consumers see events promptly.
COMMIT_INTERVAL = 1.0


@dataclass
class StreamReport:
    """What one file produced (counts are of this run, not of earlier partial runs)."""

    file_key: str
    records: int = 0
    events: Counter[str] = field(default_factory=Counter)
    messages: int = 0
    filter_matches: Counter[str] = field(default_factory=Counter)
    alerts: Counter[str] = field(default_factory=Counter)
    bad_records: int = 0
    resumed_from_record: int = 0
    #: The file was already done before this run.
    already_done: bool = False
    #: Damage that ended the file early (events before it are committed).
    error: DecodeError | None = None
    decoder_stats: DecoderStats = field(default_factory=DecoderStats)


def resume_chunks(chunks: Iterator[Chunk], checkpoint: Checkpoint | None) -> Iterator[Chunk]:
    """The chunks from the checkpoint on; a chunk straddling it is cut at the record."""
    if checkpoint is None or checkpoint.next_record_index == 0:
        return chunks
    return chunks_from(chunks, checkpoint.next_offset, checkpoint.next_record_index)


class _Committer:
    """Writes batches in order and commits on a timer and at the end."""

    def __init__(
        self, sink: Sink, on_batch: Callable[[Batch], None] | None, interval: float
    ) -> None:
        self.sink = sink
        self.on_batch = on_batch
        self.interval = interval
        self.last_commit = time.monotonic()
        self.pending = 0

    async def write(self, batch: Batch) -> None:
        await self.sink.write(batch)
        self.pending += 1
        if self.on_batch is not None:
            self.on_batch(batch)
        if time.monotonic() - self.last_commit >= self.interval:
            await self.flush()

    async def flush(self) -> None:
        if self.pending:
            await self.sink.commit()
            self.pending = 0
        self.last_commit = time.monotonic()


async def stream_file(
    path: Path,
    file: SourceFile,
    sink: Sink,
    options: StreamOptions,
    executor: Executor | None = None,
    *,
    on_batch: Callable[[Batch], None] | None = None,
    window: int = 4,
    read_size: int = STREAM_READ_SIZE,
    commit_interval: float = COMMIT_INTERVAL,
) -> StreamReport:
    """Stream ``path`` (the downloaded ``file``) into ``sink``; see the module doc.

    ``window`` bounds the chunks in flight (memory); ``executor`` is a process pool
    whose workers run :func:`process_chunk` (inline when None); ``read_size`` is the
    compressed bytes read per chunk (smaller: more, finer checkpoints);
    ``commit_interval`` the seconds between commits (0: after every batch).
    """
    report = StreamReport(file.key)
    checkpoint = await sink.checkpoint(file)
    if checkpoint is not None and checkpoint.done:
        report.already_done = True
        return report
    report.resumed_from_record = checkpoint.next_record_index if checkpoint else 0
    loop = asyncio.get_running_loop()
    reader = ChunkReader(str(path), read_size, piece_size=STREAM_PIECE_SIZE)
    chunks = resume_chunks(iter(reader), checkpoint)
    committer = _Committer(sink, on_batch, commit_interval)
    is_rib = file.kind == "ribs"
    markers = EventEncoder(
        project=file.project,
        collector=file.collector,
        file_kind=file.kind,
        file_timestamp=file.timestamp,
        file_url=file.url,
    )
    position = (checkpoint.next_offset, checkpoint.next_record_index) if checkpoint else (0, 0)

    def marker(which: str, record_index: int | None = None) -> OutMessage:
        value = markers.snapshot_marker(which, record_index=record_index)
        return OutMessage(options.events_topic, markers.marker_key(), value, EVERY_PARTITION)

    first_messages: list[Message] = (
        [marker(SNAPSHOT_BEGIN)] if is_rib and checkpoint is None else []
    )

    def next_chunk() -> Chunk | None:
        return next(chunks, None)

    def submit(chunk: Chunk) -> asyncio.Future[ChunkMessages]:
        if executor is None:
            future: asyncio.Future[ChunkMessages] = loop.create_future()
            future.set_result(process_chunk(file, options, chunk))
            return future
        return asyncio.wrap_future(executor.submit(process_chunk, file, options, chunk))

    pending: deque[asyncio.Future[ChunkMessages]] = deque()
    exhausted = False
    error: DecodeError | None = None
    try:
        while True:
            while not exhausted and len(pending) < window:
                chunk = await loop.run_in_executor(None, next_chunk)
                if chunk is None:
                    exhausted = True
                else:
                    pending.append(submit(chunk))
            if not pending:
                break
            result = await pending.popleft()
            messages = first_messages + result.messages if first_messages else result.messages
            first_messages = []
            report.records += result.next_record_index - position[1]
            position = (result.next_offset, result.next_record_index)
            report.events.update(result.events)
            report.filter_matches.update(result.filter_matches)
            report.alerts.update(result.alerts)
            report.decoder_stats.merge(result.stats)
            report.messages += len(messages)
            await committer.write(_batch(file, messages, position, result))
            if result.error is not None:
                error = result.error
                break
        if error is None:
            error = reader.error
        end_messages: list[Message] = (
            [marker(SNAPSHOT_END, position[1])] if is_rib and error is None else []
        )
        report.messages += len(end_messages) + len(first_messages)
        final = Batch(
            file,
            first_messages + end_messages,
            Checkpoint(file.key, position[0], position[1], done=True),
        )
        await committer.write(final)
        await committer.flush()
        committed = sink.committed_checkpoints.get(file.key)
        if committed is None or not committed.done:
            # Another file's failed commit aborted the transaction that held our
            # last batches; our own commit then had nothing of ours to commit.
            raise AbortedWithOthers(
                f"{file.key}: its last batches were lost with an aborted commit; "
                "it restarts from its committed checkpoint"
            )
    finally:
        for future in pending:
            future.cancel()
    report.error = error
    report.bad_records = report.decoder_stats.bad_records + (
        1 if error is not None and not report.decoder_stats.bad_records else 0
    )
    return report


def _batch(
    file: SourceFile,
    messages: list[Message],
    position: tuple[int, int],
    result: ChunkMessages,
) -> Batch:
    return Batch(
        file,
        messages,
        Checkpoint(file.key, position[0], position[1]),
        dict(result.events),
    )
