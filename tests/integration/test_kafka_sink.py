"""The Kafka sink against the real broker: whole files arrive once, in per-route order,
and neither a SIGKILLed producer nor a broker restart loses or repeats an event.

The expected events are computed without Kafka (the same file encoded in-process) and
counted against the bgpdump reference, so the broker's read_committed view is
compared with an independent truth, id for id.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import random
import subprocess
import sys
import threading
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer, ConsumerRecord

from mrtfeed.encode.event import EventEncoder
from mrtfeed.pipeline.decoding import file_events
from mrtfeed.pipeline.stream import StreamOptions, stream_file
from mrtfeed.sink.base import AbortedWithOthers, Batch, Checkpoint, SourceFile
from mrtfeed.sink.kafka import KafkaSettings, KafkaSink, KafkaSinkError, ensure_topic
from tests.integration import kafka_stream_child as child
from tests.integration.test_kafka_broker import create_topic, read_all, unique
from tests.mrtdata import MRT_DIR, reference_lines
from tests.support.kafka.broker import SASL_PASSWORD, SASL_USER, Broker

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]
RIB = "bview.20020722.2337.gz"
UPDATES = "rrc23.updates.20220421.0200.gz"
CHAOS_FILE = "updates.20100227.1600.gz"
PARTITIONS = 3


def expected_ids(path: Path, file: SourceFile) -> list[str]:
    """Event ids of the file, encoded in-process (no Kafka involved)."""
    encoder = EventEncoder(
        project=file.project,
        collector=file.collector,
        file_kind=file.kind,
        file_timestamp=file.timestamp,
    )
    pairs, _ = encoder.encode(file_events(str(path)))
    return [json.loads(value)["event_id"] for _, value in pairs]


def route_events(records: list[ConsumerRecord[bytes, bytes]]) -> list[dict[str, object]]:
    rows = [json.loads(r.value) for r in records if r.value is not None]
    return [row for row in rows if not str(row["event_type"]).startswith("snapshot")]


async def settle(broker: Broker, transactional_id: str) -> None:
    """Wait until the transactions of ``transactional_id`` are complete (markers
    written), so that read_committed reads see everything committed."""
    from tests.integration.test_kafka_broker import transactions_finished

    await transactions_finished(broker, transactional_id)


@pytest.mark.parametrize(("name", "kind"), [(RIB, "ribs"), (UPDATES, "updates")])
async def test_every_event_of_a_file_arrives_once_in_route_order(
    kafka_broker: Broker, name: str, kind: str
) -> None:
    topic = await create_topic(kafka_broker, PARTITIONS)
    txn = unique("txn")
    settings = child.topic_settings(kafka_broker.bootstrap, topic, txn)
    file = SourceFile("ris", "rrc00", kind, 1027380000, f"https://data.ris.ripe.net/{name}")
    sink = KafkaSink(settings)
    await sink.start()
    report = await stream_file(
        MRT_DIR / name,
        file,
        sink,
        StreamOptions(events_topic=topic, alerts_topic=settings.alerts_topic),
        read_size=64 * 1024,
    )
    await sink.close()
    await settle(kafka_broker, txn)

    records = await read_all(kafka_broker, topic, PARTITIONS)
    rows = route_events(records)
    assert len(rows) == len(reference_lines(name)) == sum(report.events.values())
    assert sorted(str(r["event_id"]) for r in rows) == sorted(expected_ids(MRT_DIR / name, file))
    # Per-route order: one partition per key, and in it the file's order.
    partitions_of: dict[bytes, set[int]] = defaultdict(set)
    positions: dict[bytes, list[str]] = defaultdict(list)
    for record in records:
        assert record.key is not None
        row = json.loads(record.value or b"{}")
        partitions_of[record.key].add(record.partition)
        if not str(row["event_type"]).startswith("snapshot"):
            positions[record.key].append(str(row["event_id"]))
        headers = dict(record.headers)
        assert headers["schema_version"] == b"1"
        assert headers["collector"] == b"rrc00" and headers["file"] == file.key.encode()
    assert all(len(p) == 1 for key, p in partitions_of.items() if not key.endswith(b"snapshot"))
    assert all(ids == sorted(ids) for ids in positions.values())
    markers = Counter(
        (json.loads(r.value or b"{}")["event_type"], r.partition)
        for r in records
        if r.key is not None and r.key.endswith(b"snapshot")
    )
    if kind == "ribs":
        assert markers == {
            (m, p): 1 for m in ("snapshot_begin", "snapshot_end") for p in range(PARTITIONS)
        }
    else:
        assert not markers


def _spawn(broker: Broker, txn: str, topic: str, path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.integration.kafka_stream_child",
            broker.bootstrap,
            txn,
            topic,
            str(path),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def _run_until(
    process: subprocess.Popen[str], kill_after_batches: int | None, *, at_commit: bool = False
) -> list[str]:
    """Read the child's progress lines; SIGKILL it after that many batch lines (or,
    ``at_commit``, right after its first commit)."""
    assert process.stdout is not None
    lines: list[str] = []
    batches = 0
    for line in process.stdout:
        lines.append(line.strip())
        if line.startswith("batch"):
            batches += 1
        if at_commit and line.startswith("commit"):
            process.kill()
            break
        if not at_commit and kill_after_batches is not None and batches >= kill_after_batches:
            process.kill()
            break
    process.wait(timeout=120)
    return lines


async def test_sigkilled_producer_resumes_with_nothing_lost_or_repeated(
    kafka_broker: Broker,
) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    topic = await create_topic(kafka_broker, PARTITIONS)
    txn = unique("txn")
    path = MRT_DIR / CHAOS_FILE
    kills = 0
    committed = False
    while kills < 10:
        # Kill after a random number of batches: sometimes inside an open transaction,
        # sometimes right after a commit, since commits happen on a 0.2 s timer. When
        # no run has committed by the last kill (fast runs), that one dies right after
        # its first commit, so the final run must resume mid-file.
        at_commit = kills == 9 and not committed
        lines = await asyncio.to_thread(
            _run_until,
            _spawn(kafka_broker, txn, topic, path),
            rng.randint(1, 6),
            at_commit=at_commit,
        )
        if "done" in lines:
            break
        kills += 1
        committed = committed or "commit" in lines
    final = await asyncio.to_thread(_run_until, _spawn(kafka_broker, txn, topic, path), None)
    assert "done" in final, f"seed {seed}: final run did not finish: {final[-5:]}"
    assert kills >= 10, f"seed {seed}: the file finished before 10 kills"
    resumed = [int(line.split()[1]) for line in final if line.startswith("resumed")]
    await settle(kafka_broker, txn)

    rows = route_events(await read_all(kafka_broker, topic, PARTITIONS))
    got = Counter(str(row["event_id"]) for row in rows)
    want = expected_ids(path, child.source_file(path))
    assert len(want) == len(reference_lines(CHAOS_FILE))
    duplicates = [event_id for event_id, n in got.items() if n > 1]
    assert not duplicates, f"seed {seed}: {len(duplicates)} events twice"
    assert set(got) == set(want), f"seed {seed}: {len(set(want) - set(got))} events lost"
    assert resumed and resumed[0] > 0, f"seed {seed}: the last run did not resume mid-file"


async def test_broker_restart_mid_stream_loses_nothing(kafka_broker: Broker) -> None:
    topic = await create_topic(kafka_broker, PARTITIONS)
    txn = unique("txn")
    path = MRT_DIR / CHAOS_FILE
    file = child.source_file(path)
    settings = child.settings(kafka_broker.bootstrap, txn, topic)
    restarted = threading.Event()
    restarter: list[threading.Thread] = []

    def on_batch(batch: Batch) -> None:
        # After a few batches, restart the broker while the stream goes on.
        if batch.checkpoint.next_record_index > 2000 and not restarter:

            def restart() -> None:
                kafka_broker.restart()
                restarted.set()

            thread = threading.Thread(target=restart)
            restarter.append(thread)
            thread.start()

    attempts = 0
    while True:
        attempts += 1
        assert attempts <= 5, "the stream never completed across the broker restart"
        sink = KafkaSink(settings)
        try:
            await sink.start()
            report = await stream_file(
                path,
                file,
                sink,
                StreamOptions(events_topic=topic, alert_loops=False),
                on_batch=on_batch,
                read_size=child.READ_SIZE,
                commit_interval=child.COMMIT_INTERVAL,
            )
            await sink.close()
        except Exception:
            # What the service does: drop the sink, start a new one, resume the file.
            await sink.abort()
            await asyncio.to_thread(restarted.wait, 120)
            continue
        assert report.error is None
        break
    await asyncio.to_thread(restarted.wait, 120)
    assert restarted.is_set()
    await settle(kafka_broker, txn)
    rows = route_events(await read_all(kafka_broker, topic, PARTITIONS))
    got = Counter(str(row["event_id"]) for row in rows)
    assert max(got.values()) == 1
    assert set(got) == set(expected_ids(path, file))


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
async def test_sasl_authenticated_sink_delivers_and_a_wrong_password_is_refused(
    kafka_broker: Broker, mechanism: str
) -> None:
    name = "185.186.nlix.mrt"
    topic = unique("sasl")
    txn = unique("txn")
    settings = child.topic_settings(
        kafka_broker.sasl_bootstrap,
        topic,
        txn,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism=mechanism,
        sasl_username=SASL_USER,
        sasl_password=SASL_PASSWORD,
    )
    file = SourceFile("routeviews", "nlix", "ribs", 1602156000, name)
    sink = KafkaSink(settings)
    await sink.start()
    await stream_file(MRT_DIR / name, file, sink, StreamOptions(events_topic=topic))
    await sink.close()
    await settle(kafka_broker, txn)
    rows = route_events(await read_all(kafka_broker, topic))
    assert len(rows) == len(reference_lines(name))

    wrong = KafkaSink(dataclasses.replace(settings, sasl_password="not-the-password"))
    with pytest.raises(KafkaSinkError, match=f"SASL_PLAINTEXT {mechanism} as 'mrtfeed'"):
        await wrong.start()


async def test_reading_checkpoints_waits_for_transactions_in_flight(kafka_broker: Broker) -> None:
    """A new owner must not read the checkpoints while another replica's transaction
    on the topic is unresolved: it would miss a checkpoint that is being committed."""
    topic = unique("cp")
    settings = KafkaSettings(
        bootstrap_servers=(kafka_broker.bootstrap,),
        events_topic=topic,
        checkpoints_topic=f"{topic}.checkpoints",
        transactional_id=unique("txn"),
    )
    other_replica = AIOKafkaProducer(
        bootstrap_servers=kafka_broker.bootstrap,
        transactional_id=unique("txn"),
        enable_idempotence=True,
    )
    await other_replica.start()
    reader = KafkaSink(settings)
    try:
        await reader.start()  # creates the compacted checkpoint topic
        key = "ris/rrc00/updates/1650502800"
        value = {"file": key, "url": "", "next_offset": 99, "next_record_index": 7}
        await other_replica.begin_transaction()
        await other_replica.send_and_wait(
            settings.checkpoints_topic,
            json.dumps({**value, "done": False}).encode(),
            key=key.encode(),
        )
        reload = asyncio.ensure_future(reader.reload_checkpoints())
        done, _ = await asyncio.wait({reload}, timeout=2.0)
        assert not done, "read the checkpoints past an open transaction"
        await other_replica.commit_transaction()
        await reload
        assert reader.committed_checkpoints[key].next_record_index == 7
    finally:
        await other_replica.stop()
        await reader.close()


async def test_a_failed_commit_fails_every_file_in_it_and_retries_lose_nothing(
    kafka_broker: Broker,
) -> None:
    """Two files share one sink (as in the service). A commit fails once: both files had
    batches in the aborted transaction, so both must restart from their checkpoints;
    neither may commit later batches past the lost ones."""
    topic = await create_topic(kafka_broker, PARTITIONS)
    txn = unique("txn")
    settings = child.settings(kafka_broker.bootstrap, txn, topic)
    names = ["updates.20100227.1600.gz", "rrc23.updates.20220421.0200.gz"]
    files = {
        name: SourceFile("ris", f"c{i}", "updates", 1650502800, name)
        for i, name in enumerate(names)
    }
    sink = KafkaSink(settings)
    await sink.start()
    assert sink._producer is not None
    real_commit = sink._producer.commit_transaction
    commits = 0

    async def failing_commit() -> None:
        nonlocal commits
        commits += 1
        if commits == 3:
            raise KafkaSinkError("injected: the broker refused the commit")
        await real_commit()

    sink._producer.commit_transaction = failing_commit
    failures: Counter[str] = Counter()

    async def stream_until_done(name: str) -> None:
        while True:
            try:
                report = await stream_file(
                    MRT_DIR / name,
                    files[name],
                    sink,
                    StreamOptions(events_topic=topic, alert_loops=False),
                    read_size=child.READ_SIZE,
                    commit_interval=0.05,
                )
            except (KafkaSinkError, AbortedWithOthers):
                failures[name] += 1
                assert failures[name] < 5
                continue
            assert report.error is None
            return

    await asyncio.gather(*(stream_until_done(name) for name in names))
    await sink.close()
    await settle(kafka_broker, txn)
    assert commits > 3 and sum(failures.values()) >= 1
    rows = route_events(await read_all(kafka_broker, topic, PARTITIONS))
    got = Counter(str(row["event_id"]) for row in rows)
    assert max(got.values()) == 1
    want = {i for name in names for i in expected_ids(MRT_DIR / name, files[name])}
    assert set(got) == want


async def test_a_final_batch_aborted_by_another_files_failure_is_not_committed(
    kafka_broker: Broker,
) -> None:
    """File A wrote its last batch; file B's commit failed and aborted the transaction
    holding it. A's own commit then returned as if all were well: A's checkpoint must
    not count as committed (stream_file checks it and restarts A), and A's next write
    is refused until it restarts."""
    topic = await create_topic(kafka_broker, PARTITIONS)
    settings = child.settings(kafka_broker.bootstrap, unique("txn"), topic)
    a, b = (SourceFile("ris", name, "updates", 1650502800) for name in ("rrc00", "rrc01"))
    event = (topic, b"key", b'{"event_type":"announce"}', None)
    sink = KafkaSink(settings)
    await sink.start()
    try:
        assert sink._producer is not None
        real_commit = sink._producer.commit_transaction
        refused = True

        async def refusing_commit() -> None:
            nonlocal refused
            if refused:
                refused = False
                raise KafkaSinkError("injected: the broker refused the commit")
            await real_commit()

        sink._producer.commit_transaction = refusing_commit
        await sink.write(Batch(a, [event], Checkpoint(a.key, 100, 10, done=True)))
        await sink.write(Batch(b, [event], Checkpoint(b.key, 50, 5)))
        with pytest.raises(KafkaSinkError):
            await sink.commit()  # B's commit
        await sink.commit()  # A's: nothing of A's is left to commit
        assert a.key not in sink.committed_checkpoints
        with pytest.raises(AbortedWithOthers):
            await sink.write(Batch(a, [event], Checkpoint(a.key, 100, 10, done=True)))
        assert await sink.checkpoint(a) is None  # A restarts from its checkpoint
        await sink.write(Batch(a, [event], Checkpoint(a.key, 100, 10, done=True)))
        await sink.commit()
        assert sink.committed_checkpoints[a.key].done
    finally:
        await sink.close()


async def test_a_topic_the_broker_refuses_to_create_is_an_error(kafka_broker: Broker) -> None:
    """aiokafka returns the refusal inside create_topics' response: unread, replicas
    went on with a work topic that did not exist and never got work."""
    options = KafkaSettings(bootstrap_servers=(kafka_broker.bootstrap,)).connection_options()
    bad = unique("refused")
    with pytest.raises(KafkaSinkError, match=f"cannot create topic '{bad}': InvalidConfig"):
        await ensure_topic(options, bad, 2, {"cleanup.policy": "neither"})
    good = unique("made")
    await ensure_topic(options, good, 2, {"cleanup.policy": "compact"})
    await ensure_topic(options, good, 2)  # there already: nothing to do
    producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap)
    await producer.start()
    try:
        assert len(await producer.partitions_for(good)) == 2
    finally:
        await producer.stop()
