"""aiokafka against the real Kafka broker the sink will run on.

Why: Kafka 4 removed old protocol versions and aiokafka's own CI stops at
Kafka 2.8, so before the Kafka sink relies on idempotence, compression,
transactions and offset commits inside transactions, these tests prove each
of them works end to end on the broker from tests/support/kafka, and that a
broker restart loses nothing that was committed.  Where the client reports
less than the broker does (compression, producer ids, markers) the tests read
the broker's own segment files.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Sequence

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import ProducerFenced
from aiokafka.structs import OffsetAndMetadata

from tests.support.kafka.broker import Broker

pytestmark = pytest.mark.kafka

DEADLINE_S = 30.0


def unique(prefix: str) -> str:
    """Topic/group/transactional ids must not collide within the shared broker."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def create_topic(broker: Broker, partitions: int = 1) -> str:
    name = unique("t")
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(name=name, num_partitions=partitions, replication_factor=1)]
        )
    finally:
        await admin.close()
    return name


async def read_all(
    broker: Broker, topic: str, partitions: int = 1, *, isolation: str = "read_committed"
) -> list[ConsumerRecord[bytes, bytes]]:
    """Everything visible under ``isolation``, read up to the end offsets.

    The end offset is the high watermark (read_uncommitted) or the last stable
    offset (read_committed), so "done" is a broker fact, not a timeout.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=broker.bootstrap,
        isolation_level=isolation,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        records: list[ConsumerRecord[bytes, bytes]] = []
        deadline = time.monotonic() + DEADLINE_S
        while any([await consumer.position(tp) < ends[tp] for tp in tps]):
            assert time.monotonic() < deadline, f"stuck below end offsets {ends}"
            batch = await consumer.getmany(*tps, timeout_ms=500)
            for part in batch.values():
                records.extend(part)
        return records
    finally:
        await consumer.stop()


def values(records: Sequence[ConsumerRecord[bytes, bytes]]) -> list[bytes]:
    return [r.value for r in records if r.value is not None]


async def transactions_finished(broker: Broker, transactional_id: str) -> None:
    """Return once every transaction of ``transactional_id`` is fully complete.

    ``commit_transaction()``/``abort_transaction()`` return when the
    coordinator has *decided*; the markers that make data and offsets visible
    are written after that.  A new producer with the same id is only given its
    producer id (InitProducerId) once the previous transaction is complete, so
    starting one is a broker-side barrier; it also fences the old instance.
    """
    barrier = AIOKafkaProducer(
        bootstrap_servers=broker.bootstrap, transactional_id=transactional_id
    )
    await barrier.start()
    await barrier.stop()


async def group_offsets(broker: Broker, group: str) -> dict[TopicPartition, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}


# -------------------------------------------------------------- (1) idempotent


@pytest.mark.parametrize("codec", ["zstd", "lz4"])
async def test_idempotent_compressed_keyed_with_headers_round_trip(
    kafka_broker: Broker, codec: str
) -> None:
    partitions = 3
    topic = await create_topic(kafka_broker, partitions)
    keys = [f"peer-{i}".encode() for i in range(5)]
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_broker.bootstrap,
        enable_idempotence=True,
        acks="all",
        compression_type=codec,
        linger_ms=5,
    )
    await producer.start()
    try:
        futures = []
        for seq in range(200):
            key = keys[seq % len(keys)]
            headers = [("seq", str(seq).encode()), ("source", b"rrc00")]
            value = b"route-event %d " % seq + b"x" * 200  # compressible
            futures.append(await producer.send(topic, value, key=key, headers=headers))
        metas = await asyncio.gather(*futures)
    finally:
        await producer.stop()

    records = await read_all(kafka_broker, topic, partitions)
    assert len(records) == 200
    by_key: dict[bytes, list[int]] = {}
    partition_of: dict[bytes, set[int]] = {}
    for rec in records:
        assert rec.key is not None
        got = dict(rec.headers)
        assert got["source"] == b"rrc00"
        seq = int(got["seq"])
        assert rec.value is not None and rec.value.startswith(b"route-event %d " % seq)
        by_key.setdefault(rec.key, []).append(seq)
        partition_of.setdefault(rec.key, set()).add(rec.partition)
    # same key -> one partition, and within it the order they were sent in
    assert all(len(p) == 1 for p in partition_of.values())
    for key, seqs in by_key.items():
        assert seqs == [s for s in range(200) if keys[s % len(keys)] == key]
    # each record sits exactly where the broker acknowledged it, no duplicates
    acked = {(m.partition, m.offset) for m in metas}
    assert {(r.partition, r.offset) for r in records} == acked and len(acked) == 200

    # what the broker stored: compressed batches from one idempotent producer
    stored = [b for p in range(partitions) for b in kafka_broker.batches(topic, p)]
    assert stored and sum(b.records for b in stored) == 200
    assert {b.compression for b in stored} == {codec}
    assert {b.magic for b in stored} == {2}
    assert len({b.producer_id for b in stored}) == 1 and stored[0].producer_id >= 0
    assert all(b.base_sequence >= 0 and not b.transactional for b in stored)


# ------------------------------------------------------------ (2) transactions


async def test_read_committed_hides_aborted_transaction(kafka_broker: Broker) -> None:
    topic = await create_topic(kafka_broker)
    txn_id = unique("txn")
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_broker.bootstrap,
        transactional_id=txn_id,
        enable_idempotence=True,
        acks="all",
        compression_type="zstd",
    )
    await producer.start()
    try:
        async with producer.transaction():
            for i in range(3):
                await producer.send(topic, b"committed-%d" % i, key=b"k")
        await producer.begin_transaction()
        for i in range(3):
            await producer.send(topic, b"aborted-%d" % i, key=b"k")
        await producer.flush()
        await producer.abort_transaction()
    finally:
        await producer.stop()
    await transactions_finished(kafka_broker, txn_id)

    committed = [b"committed-%d" % i for i in range(3)]
    aborted = [b"aborted-%d" % i for i in range(3)]
    assert values(await read_all(kafka_broker, topic)) == committed
    assert values(await read_all(kafka_broker, topic, isolation="read_uncommitted")) == (
        committed + aborted
    )
    # two zstd data batches, each closed by a control batch (commit, then abort)
    stored = kafka_broker.batches(topic)
    assert [b.control for b in stored] == [False, True, False, True]
    assert all(b.transactional for b in stored)
    assert [b.compression for b in stored if not b.control] == ["zstd", "zstd"]


async def test_new_instance_fences_zombie_producer(kafka_broker: Broker) -> None:
    """A restarted sink reusing its transactional id must cut off the old one."""
    topic = await create_topic(kafka_broker)
    txn_id = unique("txn")
    zombie = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap, transactional_id=txn_id)
    successor = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap, transactional_id=txn_id)
    await zombie.start()
    try:
        await zombie.begin_transaction()
        await zombie.send(topic, b"zombie-open")
        await zombie.flush()  # in the log, inside a transaction still open
        await successor.start()  # bumps the epoch, aborts the zombie's transaction
        try:
            async with successor.transaction():
                await successor.send(topic, b"successor")
        finally:
            await successor.stop()
        with pytest.raises(ProducerFenced):
            await zombie.send(topic, b"zombie-late")
            await zombie.commit_transaction()
    finally:
        with contextlib.suppress(ProducerFenced):
            await zombie.stop()
    await transactions_finished(kafka_broker, txn_id)
    assert values(await read_all(kafka_broker, topic)) == [b"successor"]
    assert values(await read_all(kafka_broker, topic, isolation="read_uncommitted")) == [
        b"zombie-open",
        b"successor",
    ]


# ---------------------------------------- (3) offsets + checkpoint in one txn


async def test_offsets_and_checkpoint_commit_atomically(kafka_broker: Broker) -> None:
    """Consume-transform-produce: output, checkpoint topic and group offset
    are one atomic unit, so a crash can neither lose nor repeat a record."""
    source = await create_topic(kafka_broker)
    sink = await create_topic(kafka_broker)
    checkpoints = await create_topic(kafka_broker)
    group = unique("g")
    txn_id = unique("txn")
    tp = TopicPartition(source, 0)

    async def run(commit: bool, offset: int, out: bytes) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=kafka_broker.bootstrap, transactional_id=txn_id, acks="all"
        )
        await producer.start()
        try:
            await producer.begin_transaction()
            await producer.send(sink, out)
            await producer.send(checkpoints, b"checkpoint offset=%d" % offset)
            await producer.send_offsets_to_transaction(
                {tp: OffsetAndMetadata(offset, "ckpt")}, group
            )
            if commit:
                await producer.commit_transaction()
            else:
                await producer.abort_transaction()
        finally:
            await producer.stop()
        await transactions_finished(kafka_broker, txn_id)

    feeder = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap, acks="all")
    await feeder.start()
    try:
        for i in range(4):
            await feeder.send_and_wait(source, b"in-%d" % i)  # offsets 0..3
    finally:
        await feeder.stop()

    await run(commit=True, offset=2, out=b"out-0")
    assert await group_offsets(kafka_broker, group) == {tp: 2}
    await run(commit=False, offset=4, out=b"out-1")
    assert await group_offsets(kafka_broker, group) == {tp: 2}
    assert values(await read_all(kafka_broker, sink)) == [b"out-0"]
    assert values(await read_all(kafka_broker, checkpoints)) == [b"checkpoint offset=2"]

    # a consumer of the group resumes exactly after the committed offset
    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=kafka_broker.bootstrap,
        group_id=group,
        isolation_level="read_committed",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        first = await asyncio.wait_for(consumer.getone(), DEADLINE_S)
        assert (first.offset, first.value) == (2, b"in-2")
        assert (await consumer.committed(tp)) == 2
    finally:
        await consumer.stop()


# ----------------------------------------------------------------- (4) restart


@pytest.mark.parametrize("hard", [False, True], ids=["sigterm", "sigkill"])
async def test_restart_keeps_committed_data_and_producer_recovers(
    kafka_broker: Broker, hard: bool
) -> None:
    """Chaos tests restart (or crash) the broker mid-stream: nothing committed
    may go, and an open producer must carry on against the same address.

    A crash only comes once the first transaction is complete: if a single
    RF=1 node dies between the commit decision and the markers, Kafka itself
    may drop the markers on restart (see tests/support/kafka/README.md).
    A clean restart is safe even right after the commit decision.
    """
    topic = await create_topic(kafka_broker)
    group = unique("g")
    txn_id = unique("txn")
    bootstrap = kafka_broker.bootstrap
    tp = TopicPartition(topic, 0)

    def new_producer() -> AIOKafkaProducer:
        return AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            transactional_id=txn_id,
            acks="all",
            compression_type="lz4",
        )

    producer = new_producer()
    await producer.start()
    try:
        async with producer.transaction():
            for i in range(5):
                await producer.send(topic, b"before-%d" % i)
            await producer.send_offsets_to_transaction({tp: 3}, group)
        if hard:
            await transactions_finished(kafka_broker, txn_id)  # fences `producer`
            await producer.stop()
            producer = new_producer()
            await producer.start()
        await asyncio.to_thread(kafka_broker.restart, hard=hard)
        assert kafka_broker.bootstrap == bootstrap

        async with producer.transaction():  # the same instance reconnects
            await producer.send(topic, b"after-0")
    finally:
        await producer.stop()
    await transactions_finished(kafka_broker, txn_id)

    expected = [b"before-%d" % i for i in range(5)] + [b"after-0"]
    assert values(await read_all(kafka_broker, topic)) == expected
    assert await group_offsets(kafka_broker, group) == {tp: 3}
