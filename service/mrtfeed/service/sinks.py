"""From config to sink and stream options, and a sink wrapper that measures commits.

The wrapper is where ``mrtfeed_kafka_messages_sent_total{topic,outcome}`` and
``mrtfeed_kafka_send_latency_seconds`` come from: it sees every batch and every commit
whatever the sink, so the sinks themselves stay free of service metrics.

It also serialises writes and commits: the service streams several files at once into
one sink, and a batch written while a commit is under way must neither be committed
twice nor dropped (the JSON-lines sink hands its pending lines to a thread to write).
And it finishes a write even when the writer is cancelled, so ``close`` (which commits
what was written) never commits half a batch.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from mrtfeed.config import Config
from mrtfeed.observe.metrics import ServiceMetrics
from mrtfeed.pipeline.messages import StreamOptions
from mrtfeed.sink.base import Batch, Checkpoint, Sink, SourceFile

__all__ = [
    "CommittedCheckpoints",
    "MeteredSink",
    "kafka_settings",
    "make_sink",
    "stream_options",
]


def stream_options(config: Config) -> StreamOptions:
    """Topics, filters and alert switches for the workers."""
    topics = config.sink.kafka.topics
    return StreamOptions(
        events_topic=topics.events,
        alerts_topic=topics.alerts,
        events_filter=config.events_filter,
        filter_sets=tuple((fs.name, fs.expr, fs.topic) for fs in config.filter_sets),
        alert_loops=config.alerts.loops,
        alert_unsignalled_addpath=config.alerts.unsignalled_addpath,
    )


def kafka_settings(config: Config) -> Any:
    """``sink.kafka`` as the Kafka sink's settings object."""
    from mrtfeed.sink.kafka import KafkaSettings

    k = config.sink.kafka
    return KafkaSettings(
        bootstrap_servers=list(k.bootstrap_servers),
        client_id=k.client_id,
        events_topic=k.topics.events,
        alerts_topic=k.topics.alerts,
        checkpoints_topic=k.topics.checkpoints,
        compression=k.compression,
        linger_ms=k.linger_ms,
        max_batch_size=k.max_batch_size,
        transactional_id=k.effective_transactional_id,
        security_protocol=k.security_protocol,
        sasl_mechanism=k.sasl.mechanism,
        sasl_username=k.sasl.username,
        sasl_password=k.sasl.password,
        tls_ca_file=k.tls.ca_file,
        tls_cert_file=k.tls.cert_file,
        tls_key_file=k.tls.key_file,
    )


def make_sink(config: Config, state_dir: Path) -> Sink:
    """The configured sink (not started)."""
    if config.sink.type == "kafka":
        from mrtfeed.sink.kafka import KafkaSink

        sink: Sink = KafkaSink(kafka_settings(config))
        return sink
    from mrtfeed.sink.jsonl import JsonlSink

    return JsonlSink(
        config.sink.jsonl.path, state_dir=state_dir, events_topic=config.sink.kafka.topics.events
    )


class CommittedCheckpoints(Mapping[str, Checkpoint]):
    """A live, read-only view of a sink's committed checkpoints by file key.

    The fetcher's done-file test is synchronous; a reload replaces the sink's mapping,
    so the view asks the sink on every access.
    """

    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    def _current(self) -> Mapping[str, Checkpoint]:
        return self.sink.committed_checkpoints

    def __getitem__(self, key: str) -> Checkpoint:
        return self._current()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._current())

    def __len__(self) -> int:
        return len(self._current())


class MeteredSink:
    """Passes everything to ``inner``; counts messages per topic and times commits."""

    def __init__(self, inner: Sink, metrics: ServiceMetrics) -> None:
        self.inner = inner
        self.metrics = metrics
        self._pending: Counter[str] = Counter()
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        await self.inner.start()

    @property
    def ready(self) -> bool:
        return self.inner.ready

    async def checkpoint(self, file: SourceFile) -> Checkpoint | None:
        return await self.inner.checkpoint(file)

    @property
    def committed_checkpoints(self) -> Mapping[str, Checkpoint]:
        return self.inner.committed_checkpoints

    async def reload_checkpoints(self) -> None:
        await self.inner.reload_checkpoints()

    async def write(self, batch: Batch) -> None:
        """Shielded: a stop deadline that cancels a file mid-write must not leave half a
        batch (messages without their checkpoint) for ``close`` to commit."""
        await asyncio.shield(self._write(batch))

    async def _write(self, batch: Batch) -> None:
        started = time.monotonic()
        async with self._lock:
            try:
                await self.inner.write(batch)
            except Exception:
                self.metrics.sent(_by_topic(batch), "error", started)
                raise
            self._pending.update(_by_topic(batch))

    async def commit(self) -> None:
        async with self._lock:
            started = time.monotonic()
            pending, self._pending = self._pending, Counter()
            try:
                await self.inner.commit()
            except Exception:
                self.metrics.sent(pending, "error", started)
                raise
            self.metrics.sent(pending, "ok", started)

    async def close(self) -> None:
        async with self._lock:
            pending, self._pending = self._pending, Counter()
            started = time.monotonic()
            await self.inner.close()
            if pending:
                self.metrics.sent(pending, "ok", started)


def _by_topic(batch: Batch) -> Counter[str]:
    # A snapshot marker counts once, however many partitions the sink copies it to.
    return Counter(message[0] for message in batch.messages)
