"""End to end with Kafka: archive servers -> `Service` -> the real broker.

Every expected event lands once in the events topic (read_committed), the metrics match,
and a stop in the middle of a file followed by a new service with the same
transactional id resumes at the committed checkpoint: nothing lost, nothing repeated.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mrtfeed.archive.model import Kind
from mrtfeed.config import Config, StartSpec, StateConfig
from mrtfeed.service.app import Service
from mrtfeed.sink.base import SourceFile
from tests.fetch.archive_server import ArchiveServer, mrt_bytes, ris_path
from tests.integration.test_kafka_broker import create_topic, read_all, unique
from tests.service.helpers import (
    EVENT_TYPES,
    build_tree,
    events_by_file,
    expected_by_file,
    expected_events,
    metric,
    service_config,
    wait_all_processed,
    wait_until,
)
from tests.support.kafka.broker import Broker

pytestmark = pytest.mark.kafka

DAY = datetime(2024, 3, 1, tzinfo=UTC)
PARTITIONS = 3


async def kafka_config(
    broker: Broker,
    tmp: Path,
    rv: ArchiveServer,
    ris: ArchiveServer,
    start: datetime,
    filter_topic: str = "",
) -> tuple[Config, str, str]:
    events = await create_topic(broker, PARTITIONS)
    alerts = await create_topic(broker, 1)
    extra: dict[str, Any] = {}
    if filter_topic:
        extra["filter_sets"] = [{"name": "v6", "expr": "ipv6", "topic": filter_topic}]
    sink = {
        "type": "kafka",
        "kafka": {
            "bootstrap_servers": [broker.bootstrap],
            "topics": {"events": events, "alerts": alerts, "checkpoints": unique("ckpt")},
            "transactional_id": unique("txn"),
            "compression": "lz4",
        },
    }
    return service_config(tmp, rv, ris, start, sink=sink, **extra), events, alerts


def decode(records: list[Any]) -> list[dict[str, Any]]:
    return [json.loads(r.value) for r in records if r.value is not None]


async def test_run_into_kafka_delivers_every_event_once(
    kafka_broker: Broker, tmp_path: Path
) -> None:
    async with ArchiveServer("apache") as rv, ArchiveServer("nginx") as ris:
        files = build_tree(rv, ris, DAY, damaged=True)
        filter_topic = await create_topic(kafka_broker, 1)
        config, events_topic, alerts_topic = await kafka_config(
            kafka_broker, tmp_path, rv, ris, DAY, filter_topic
        )
        service = Service(config)
        task = asyncio.create_task(service.run())
        try:
            text = await wait_all_processed(service, files)
        finally:
            service.stop.set()
            assert await asyncio.wait_for(task, 60) == 0

    lines = decode(await read_all(kafka_broker, events_topic, PARTITIONS))
    got = events_by_file(lines)
    assert got == expected_by_file(files)
    ids = [e["event_id"] for e in lines if e["event_type"] in EVENT_TYPES]
    assert len(ids) == len(set(ids))
    total = sum(got.values(), Counter())
    for event_type, n in total.items():
        assert metric(text, "mrtfeed_events_total", event_type=event_type) == n
    sent = metric(text, "mrtfeed_kafka_messages_sent_total", topic=events_topic, outcome="ok")
    assert sent >= sum(total.values())
    assert metric(text, "mrtfeed_kafka_send_latency_seconds_count") > 0
    assert metric(text, "mrtfeed_files_quarantined_total") == 1
    # the named filter set: a copy of every IPv6 route event, on its own topic
    v6 = decode(await read_all(kafka_broker, filter_topic))
    want_v6 = {e["event_id"] for e in lines if ":" in (e.get("prefix") or "")}
    assert want_v6 and {e["event_id"] for e in v6} == want_v6 and len(v6) == len(want_v6)
    assert metric(text, "mrtfeed_filter_matches_total", filter="v6") == len(v6)
    # alerts from the workers land on the alerts topic and are counted
    alerts = decode(await read_all(kafka_broker, alerts_topic))
    assert Counter(a["alert_type"] for a in alerts) == Counter(
        {
            k: int(metric(text, "mrtfeed_alerts_total", kind=k))
            for k in {a["alert_type"] for a in alerts}
        }
    )


@pytest.mark.parametrize("new_state_folder", [False, True], ids=["same state", "new state"])
async def test_stop_mid_file_and_restart_resumes_exactly_once(
    kafka_broker: Broker, tmp_path: Path, new_state_folder: bool
) -> None:
    """With a new state folder (an emptyDir, a replacement replica) and ``start: now``,
    the files left before now are found from the sink's checkpoints: they were outside
    the new live feed's window, the half-done one was never finished."""
    async with ArchiveServer("apache") as rv, ArchiveServer("nginx") as ris:
        samples = ["rrc01.updates.20241001.0055.gz", "updates.20190101.0000.gz"]
        keys = []
        for i, sample in enumerate(samples):
            t = DAY + timedelta(minutes=5 * i)
            ris.put(ris_path("rrc01", Kind.UPDATES, t), mrt_bytes(sample))
            keys.append(("rrc01", "updates", int(t.timestamp())))
        config, events_topic, _ = await kafka_config(kafka_broker, tmp_path, rv, ris, DAY)
        first_file = SourceFile("ris", "rrc01", "updates", keys[0][2])

        first = Service(config)
        task = asyncio.create_task(first.run())
        try:

            def partly_committed() -> bool:
                sink = first.sink
                if sink is None:
                    return False
                cp = sink.inner.committed_checkpoints.get(first_file.key)
                return cp is not None and cp.next_record_index > 0 and not cp.done

            await wait_until(partly_committed, "the first file partly committed")
        finally:
            first.stop.set()  # what the SIGTERM handler does
            assert await asyncio.wait_for(task, 60) == 0
        assert first.status.files_ok < len(samples)

        if new_state_folder:
            config = dataclasses.replace(
                config, state=StateConfig(str(tmp_path / "new-state")), start=StartSpec()
            )
        second = Service(config)
        task = asyncio.create_task(second.run())
        try:
            await wait_until(lambda: second.status.files_ok == len(samples), "both files done")
        finally:
            second.stop.set()
            assert await asyncio.wait_for(task, 60) == 0
        assert second.processor is not None
        resumed = [r.resumed_from_record for r in second.processor.reports]
        assert any(resumed), "the restart did not resume inside a file"

    lines = decode(await read_all(kafka_broker, events_topic, PARTITIONS))
    ids = [e["event_id"] for e in lines if e["event_type"] in EVENT_TYPES]
    assert len(ids) == len(set(ids)), "events repeated after the restart"
    want = {k: expected_events(s) for k, s in zip(keys, samples, strict=True)}
    assert events_by_file(lines) == want
