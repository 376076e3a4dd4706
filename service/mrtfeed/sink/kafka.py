"""Kafka sink: one transaction per commit holds the events and the checkpoint that names them.

Design (docs/kafka.md has the long form):

* The producer is idempotent (acks=all) and transactional. ``start()`` registers the
  transactional id, which fences a previous incarnation and aborts its open
  transaction, then reads the compacted checkpoint topic with ``read_committed``:
  what it finds is exactly what was committed together with its events.
* ``write()`` appends messages to per-partition record batches built directly
  (``create_batch``/``send_batch``): per message that is one C-level append instead of
  aiokafka's ``send()`` with its future and partitioner call, which is what makes a
  half-million-event RIB cheap. The partition is ``crc32(key) % partitions``: the same
  route always lands in the same partition, so per-route order holds.
* ``send_batch`` waits while the partition's previous batch is undelivered: that is
  the backpressure, and memory stays bounded by one open batch per partition.
* ``commit()`` hands over the open batches, waits for their acknowledgements and
  commits the transaction, then adopts the batches' checkpoints.

Limits: checkpoints are per transactional id; two processes must not share one
(the second fences the first). A consumer must read with ``isolation_level=
read_committed`` to get exactly-once; a ``read_uncommitted`` one sees aborted
replays too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError, for_code
from aiokafka.helpers import create_ssl_context

from mrtfeed.encode.event import CONTENT_TYPE, SCHEMA_VERSION
from mrtfeed.sink.base import EVERY_PARTITION, AbortedWithOthers, Batch, Checkpoint, SourceFile

COMPRESSIONS = ("zstd", "lz4", "gzip", "none")
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


class KafkaSinkError(Exception):
    """The sink cannot go on (broker unreachable, fenced, topic missing)."""


@dataclass(frozen=True)
class KafkaSettings:
    """The ``sink.kafka`` config section, flattened."""

    bootstrap_servers: Sequence[str] = ("localhost:9092",)
    client_id: str = "mrtfeed"
    events_topic: str = "mrtfeed.events.v1"
    alerts_topic: str = "mrtfeed.alerts.v1"
    checkpoints_topic: str = "mrtfeed.checkpoints.v1"
    compression: str = "zstd"
    #: Chosen by bench/kafka_vs_bgpdump.py: larger batches compress better and cost
    #: fewer requests; linger only matters for the trickle of UPDATE files.
    linger_ms: int = 50
    max_batch_size: int = 1 << 20
    max_request_size: int = 4 << 20
    transactional_id: str = ""
    transaction_timeout_ms: int = 60_000
    request_timeout_ms: int = 40_000
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "PLAIN"
    sasl_username: str = ""
    sasl_password: str = field(default="", repr=False)
    tls_ca_file: str = ""
    tls_cert_file: str = ""
    tls_key_file: str = ""

    def effective_transactional_id(self) -> str:
        return self.transactional_id or f"mrtfeed-{socket.gethostname()}"

    def connection_options(self) -> dict[str, Any]:
        """Options shared by the producer, the checkpoint reader and the admin client."""
        if self.compression not in COMPRESSIONS:
            raise KafkaSinkError(f"compression must be one of {', '.join(COMPRESSIONS)}")
        if self.security_protocol not in SECURITY_PROTOCOLS:
            raise KafkaSinkError(
                f"security_protocol must be one of {', '.join(SECURITY_PROTOCOLS)}"
            )
        options: dict[str, Any] = {
            "bootstrap_servers": list(self.bootstrap_servers),
            "client_id": self.client_id,
            "security_protocol": self.security_protocol,
            "request_timeout_ms": self.request_timeout_ms,
        }
        if self.security_protocol in ("SSL", "SASL_SSL"):
            options["ssl_context"] = create_ssl_context(
                cafile=self.tls_ca_file or None,
                certfile=self.tls_cert_file or None,
                keyfile=self.tls_key_file or None,
            )
        if self.security_protocol.startswith("SASL"):
            if self.sasl_mechanism not in SASL_MECHANISMS:
                raise KafkaSinkError(f"sasl mechanism must be one of {', '.join(SASL_MECHANISMS)}")
            options["sasl_mechanism"] = self.sasl_mechanism
            options["sasl_plain_username"] = self.sasl_username
            options["sasl_plain_password"] = self.sasl_password
        return options


async def ensure_topic(
    options: dict[str, Any], name: str, partitions: int, configs: dict[str, str] | None = None
) -> None:
    """Create topic ``name`` when missing, with the broker's default replication factor.

    aiokafka's ``create_topics`` returns the broker's refusal (an ACL, a topic policy,
    a bad config) in its response instead of raising it: unread, the service went on
    with a topic that did not exist. Raises :class:`KafkaSinkError` naming the error.
    """
    admin = AIOKafkaAdminClient(**options)
    await admin.start()
    try:
        if name in await admin.list_topics():
            return
        topic = NewTopic(
            name=name, num_partitions=partitions, replication_factor=1, topic_configs=configs
        )
        # -1 = the broker's default.replication.factor (KIP-464); aiokafka's
        # NewTopic check rejects it (inverted test), so it is set afterwards.
        topic.replication_factor = -1
        response = await admin.create_topics([topic])
    finally:
        await admin.close()
    for topic_name, code, *message in response.topic_errors:
        error = for_code(code)
        if code != 0 and error is not TopicAlreadyExistsError:
            detail = f": {message[0]}" if message and message[0] else ""
            raise KafkaSinkError(f"cannot create topic {topic_name!r}: {error.__name__}{detail}")


class KafkaSink:
    """Transactional Kafka sink; see the module doc."""

    def __init__(self, settings: KafkaSettings) -> None:
        self.settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._checkpoints: dict[str, Checkpoint] = {}
        self._pending_checkpoints: dict[str, Checkpoint] = {}
        self._partitions: dict[str, int] = {}
        #: The record batch being filled per (topic, partition).
        self._open: dict[tuple[str, int], Any] = {}
        self._in_flight: list[Any] = []
        self._in_transaction = False
        self._headers: dict[str, list[tuple[str, bytes]]] = {}
        #: Files with batches in an aborted transaction, refused until they restart.
        self._poisoned: set[str] = set()
        # Several files stream into one sink: a write must not run into a commit.
        self._lock = asyncio.Lock()

    # -- lifecycle -------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self._producer is not None

    async def start(self) -> None:
        try:
            await self._start()
        except KafkaConnectionError as exc:
            # aiokafka logs the cause (refused, SASL failure) and raises a generic
            # "Unable to bootstrap": say what was tried and what to check.
            settings = self.settings
            how = settings.security_protocol
            if how.startswith("SASL"):
                how += f" {settings.sasl_mechanism} as {settings.sasl_username!r}"
            raise KafkaSinkError(
                f"cannot connect to Kafka at {', '.join(settings.bootstrap_servers)} "
                f"({how}): {exc}; check the address, the security protocol and the "
                "credentials"
            ) from exc

    async def _start(self) -> None:
        settings = self.settings
        options = settings.connection_options()
        await self._ensure_checkpoint_topic(options)
        producer = AIOKafkaProducer(
            **options,
            enable_idempotence=True,
            acks="all",
            compression_type=None if settings.compression == "none" else settings.compression,
            linger_ms=settings.linger_ms,
            max_batch_size=settings.max_batch_size,
            max_request_size=settings.max_request_size,
            transactional_id=settings.effective_transactional_id(),
            transaction_timeout_ms=settings.transaction_timeout_ms,
        )
        # start() initialises the transactional id: the broker aborts whatever a
        # previous incarnation left open, so the checkpoints read next are final.
        await producer.start()
        try:
            self._checkpoints = await self._read_checkpoints(options)
        except BaseException:
            await producer.stop()
            raise
        self._producer = producer

    async def _ensure_checkpoint_topic(self, options: dict[str, Any]) -> None:
        """Create the compacted checkpoint topic when missing: compaction keeps the
        latest checkpoint per file forever, however long the service runs."""
        await ensure_topic(
            options, self.settings.checkpoints_topic, 1, {"cleanup.policy": "compact"}
        )

    async def _read_checkpoints(self, options: dict[str, Any]) -> dict[str, Checkpoint]:
        """Every committed checkpoint, read up to the last stable offset."""
        consumer = AIOKafkaConsumer(
            **options,
            isolation_level="read_committed",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        checkpoints: dict[str, Checkpoint] = {}
        try:
            topic = self.settings.checkpoints_topic
            partitions = consumer.partitions_for_topic(topic) or {0}
            tps = [TopicPartition(topic, p) for p in sorted(partitions)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await self._settled_end_offsets(consumer, tps, options)
            while any([await consumer.position(tp) < ends[tp] for tp in tps]):
                fetched = await consumer.getmany(*tps, timeout_ms=1000)
                for records in fetched.values():
                    for record in records:
                        if record.value is None or record.key is None:
                            continue
                        data = json.loads(record.value)
                        key = record.key.decode()
                        checkpoints[key] = Checkpoint(
                            key, data["next_offset"], data["next_record_index"], data["done"]
                        )
        finally:
            await consumer.stop()
        return checkpoints

    async def _settled_end_offsets(
        self, consumer: AIOKafkaConsumer, tps: list[TopicPartition], options: dict[str, Any]
    ) -> dict[TopicPartition, int]:
        """The last stable offsets, once every transaction that had written to the
        checkpoint topic when we looked has ended.

        ``commit_transaction()`` returns before the broker has written the commit
        markers; until then the last stable offset stays below the committed
        checkpoint. A replica taking over a collector right after its previous owner
        committed would miss that checkpoint and repeat the events. Waiting until the
        stable offset reaches the high watermark seen at the start closes that gap.
        """
        probe = AIOKafkaConsumer(**options, enable_auto_commit=False)
        await probe.start()
        try:
            high = await probe.end_offsets(tps)
        finally:
            await probe.stop()
        deadline = time.monotonic() + self.settings.transaction_timeout_ms / 1000 + 10
        while True:
            stable: dict[TopicPartition, int] = await consumer.end_offsets(tps)
            if all(stable[tp] >= high[tp] for tp in tps):
                return stable
            if time.monotonic() > deadline:
                raise KafkaSinkError(
                    f"{self.settings.checkpoints_topic}: a transaction stayed open longer "
                    "than the transaction timeout; cannot read settled checkpoints"
                )
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        """Commit what is written, then stop (SIGTERM path: nothing is left half-done)."""
        producer = self._producer
        if producer is None:
            return
        try:
            if self._in_transaction:
                await self.commit()
        finally:
            self._producer = None
            await producer.stop()

    async def abort(self) -> None:
        """Give up after a failure: abort the open transaction (its batches are
        replayed from the checkpoint by whoever starts the next sink) and disconnect."""
        producer, self._producer = self._producer, None
        self._open.clear()
        self._in_flight.clear()
        self._pending_checkpoints.clear()
        if producer is None:
            return
        try:
            if self._in_transaction:
                with contextlib.suppress(Exception):
                    await producer.abort_transaction()
        finally:
            self._in_transaction = False
            with contextlib.suppress(Exception):
                await producer.stop()

    # -- batches ---------------------------------------------------------------------

    async def checkpoint(self, file: SourceFile) -> Checkpoint | None:
        # A stream (re)starts by asking for its checkpoint: from here it resends
        # whatever an aborted transaction lost.
        self._poisoned.discard(file.key)
        return self._checkpoints.get(file.key)

    @property
    def committed_checkpoints(self) -> Mapping[str, Checkpoint]:
        return MappingProxyType(self._checkpoints)

    async def reload_checkpoints(self) -> None:
        """Re-read the checkpoint topic (read_committed): after a scale-out handover the
        new owner must see what the previous one committed. Checkpoints of batches this
        sink has written but not committed are committed first: an open transaction of
        our own would hold the topic's stable offset back."""
        if self._in_transaction:
            await self.commit()
        self._checkpoints = await self._read_checkpoints(self.settings.connection_options())

    async def prepare(self, topics: Sequence[str]) -> None:
        """Fetch the topics' metadata now (auto-creating them where the broker does),
        so the first batch does not pay for it and a missing topic fails at start."""
        for topic in topics:
            await self._partition_count(topic)

    async def _partition_count(self, topic: str) -> int:
        count = self._partitions.get(topic)
        if count is None:
            assert self._producer is not None
            partitions = await self._producer.partitions_for(topic)
            if not partitions:
                raise KafkaSinkError(f"topic {topic!r} has no partitions")
            count = self._partitions[topic] = len(partitions)
        return count

    def _file_headers(self, file: SourceFile) -> list[tuple[str, bytes]]:
        headers = self._headers.get(file.key)
        if headers is None:
            if len(self._headers) > 1000:
                self._headers.clear()
            headers = self._headers[file.key] = [
                ("schema_version", str(SCHEMA_VERSION).encode()),
                ("content-type", CONTENT_TYPE.encode()),
                ("collector", file.collector.encode()),
                ("file", file.key.encode()),
            ]
        return headers

    async def write(self, batch: Batch) -> None:
        if batch.file.key in self._poisoned:
            raise AbortedWithOthers(
                f"{batch.file.key}: earlier batches were in an aborted transaction; "
                "the file must restart from its committed checkpoint"
            )
        async with self._lock:
            if self._producer is None:
                await self.start()  # after a failure: reconnect once the broker is back
            try:
                await self._write(batch)
            except Exception:
                self._pending_checkpoints.setdefault(batch.file.key, batch.checkpoint)
                await self._recover()
                raise

    async def _recover(self) -> None:
        """After a failed write or commit: abort the open transaction, fail every file
        that had batches in it (each must restart from its committed checkpoint, or its
        next commit would skip the aborted events), and get a usable producer back."""
        self._poisoned.update(self._pending_checkpoints)
        self._pending_checkpoints = {}
        self._open = {}
        self._in_flight = []
        producer, in_transaction = self._producer, self._in_transaction
        self._in_transaction = False
        if producer is None:
            return
        try:
            if in_transaction:
                await producer.abort_transaction()
        except Exception:
            # Not abortable (fenced, connection state unknown): drop the producer; the
            # next write starts a new one with the same id, which also aborts.
            self._producer = None
            with contextlib.suppress(Exception):
                await producer.stop()

    async def _write(self, batch: Batch) -> None:
        producer = self._producer
        assert producer is not None
        if not self._in_transaction:
            await producer.begin_transaction()
            self._in_transaction = True
        headers = self._file_headers(batch.file)
        crc32 = zlib.crc32
        counts = self._partitions
        open_batches = self._open
        keyed_topic: str | None = None  # the topic ``partitions`` counts for
        partitions = 1
        for topic, key, value, partition in batch.messages:
            if partition is None:  # nearly every message: the hot path, inlined
                if topic != keyed_topic:
                    partitions = counts.get(topic) or await self._partition_count(topic)
                    keyed_topic = topic
                slot = (topic, crc32(key) % partitions)
                current = open_batches.get(slot)
                if current is None or not current.append(
                    timestamp=None, key=key, value=value, headers=headers
                ):
                    await self._append(slot, key, value, headers)
                continue
            count = counts.get(topic) or await self._partition_count(topic)
            for target in range(count) if partition == EVERY_PARTITION else (partition,):
                await self._append((topic, target), key, value, headers)
        checkpoint = batch.checkpoint
        await self._write_checkpoint(batch.file, checkpoint)
        self._pending_checkpoints[checkpoint.file_key] = checkpoint

    async def _write_checkpoint(self, file: SourceFile, checkpoint: Checkpoint) -> None:
        value = json.dumps(
            {
                "file": checkpoint.file_key,
                "url": file.url,
                "next_offset": checkpoint.next_offset,
                "next_record_index": checkpoint.next_record_index,
                "done": checkpoint.done,
            }
        ).encode()
        topic = self.settings.checkpoints_topic
        key = checkpoint.file_key.encode()
        partition = zlib.crc32(key) % await self._partition_count(topic)
        await self._append((topic, partition), key, value, [])

    async def _append(
        self, slot: tuple[str, int], key: bytes, value: bytes, headers: list[tuple[str, bytes]]
    ) -> None:
        """Append one message to the slot's open batch, opening one or handing a
        full one over as needed (:meth:`_write` inlines the common case)."""
        assert self._producer is not None
        current = self._open.get(slot)
        if current is None:
            current = self._open[slot] = self._producer.create_batch()
        if not current.append(timestamp=None, key=key, value=value, headers=headers):
            await self._hand_over(slot, current)
            current = self._open[slot] = self._producer.create_batch()
            current.append(timestamp=None, key=key, value=value, headers=headers)

    async def _hand_over(self, slot: tuple[str, int], batch: Any) -> None:
        """Queue a full batch; waits while the partition's previous batch is in flight."""
        assert self._producer is not None
        topic, partition = slot
        future = await self._producer.send_batch(batch, topic, partition=partition)
        self._in_flight.append(future)

    async def commit(self) -> None:
        async with self._lock:
            await self._commit()

    async def _commit(self) -> None:
        producer = self._producer
        if producer is None or not self._in_transaction:
            return
        open_batches, self._open = self._open, {}
        for slot, batch in open_batches.items():
            # A closed batch is sent at once; an open one would linger first.
            batch.close()
            await self._hand_over(slot, batch)
        in_flight, self._in_flight = self._in_flight, []
        try:
            for future in in_flight:
                await future
            await producer.commit_transaction()
        except Exception:
            await self._recover()
            raise
        self._in_transaction = False
        self._checkpoints.update(self._pending_checkpoints)
        self._pending_checkpoints = {}
