"""Two replicas share the collectors through a Kafka consumer group, without overlap;
when one leaves, the other takes its collectors over. Real broker, real archive servers,
two `Service` instances with their own state and transactional ids."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from mrtfeed.archive.model import Kind
from mrtfeed.config import config_to_dict
from mrtfeed.service.app import Service
from mrtfeed.service.scaleout import partition_of
from tests.fetch.archive_server import ArchiveServer, mrt_bytes, ris_path, routeviews_path
from tests.integration.test_kafka_broker import create_topic, read_all, unique
from tests.service.helpers import (
    EVENT_TYPES,
    REPO,
    expected_events,
    get,
    service_config,
    wait_until,
)
from tests.support.kafka.broker import Broker

pytestmark = pytest.mark.kafka

#: Recent (the live feed stops listing a past month once it is done), and settled
#: (over an hour old: one sighting makes a file ready).
DAY = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
RV = [f"route-views.{x}" for x in "abcdef"]
RIS = [f"rrc0{i}" for i in range(6)]
SAMPLE_RV, SAMPLE_RIS = "updates.bz2", "updates.20020722.2238.gz"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def put_round(rv: ArchiveServer, ris: ArchiveServer, t: datetime) -> None:
    for c in RV:
        rv.put(routeviews_path(c, Kind.UPDATES, t), mrt_bytes(SAMPLE_RV))
    for c in RIS:
        ris.put(ris_path(c, Kind.UPDATES, t), mrt_bytes(SAMPLE_RIS))


def done_collectors(service: Service) -> set[str]:
    assert service.processor is not None
    return {r.file_key.split("/")[1] for r in service.processor.reports if not r.already_done}


async def test_two_replicas_split_collectors_and_hand_over(
    kafka_broker: Broker, tmp_path: Path
) -> None:
    events = await create_topic(kafka_broker, 3)
    group, work = unique("group"), unique("work")

    def replica(name: str, rv: ArchiveServer, ris: ArchiveServer) -> Service:
        config = service_config(
            tmp_path / name,
            rv,
            ris,
            DAY,
            collectors={"refresh_interval": "1s"},
            sink={
                "type": "kafka",
                "kafka": {
                    "bootstrap_servers": [kafka_broker.bootstrap],
                    "topics": {
                        "events": events,
                        "alerts": unique("alerts"),
                        "checkpoints": f"{group}.ckpt",
                        "work": work,
                    },
                    "transactional_id": unique(f"txn-{name}"),
                },
            },
            scale_out={"enabled": True, "group_id": group},
        )
        return Service(config)

    async with ArchiveServer("apache") as rv, ArchiveServer("nginx") as ris:
        a, b = replica("a", rv, ris), replica("b", rv, ris)
        tasks = [asyncio.create_task(s.run()) for s in (a, b)]
        try:

            def split() -> bool:
                ga, gb = a.group, b.group
                return (
                    ga is not None
                    and gb is not None
                    and bool(ga.owned)
                    and bool(gb.owned)
                    and not ga.owned & gb.owned
                    and len(ga.owned | gb.owned) == ga.partitions
                )

            def state() -> object:
                return {
                    name: (
                        sorted(s.group.owned) if s.group else None,
                        s.status.to_json()["files"],
                        list(s.status.errors)[-5:],
                    )
                    for name, s in (("a", a), ("b", b))
                }

            await wait_until(split, "both replicas holding work partitions", detail=state)
            assert a.group is not None and b.group is not None
            parts = a.group.partitions
            mine_a = {
                c
                for p, names in (("routeviews", RV), ("ris", RIS))
                for c in names
                if partition_of(p, c, parts) in a.group.owned
            }
            assert mine_a and mine_a != set(RV + RIS), "the test collectors must be split"

            put_round(rv, ris, DAY)
            total = len(RV) + len(RIS)
            await wait_until(
                lambda: a.status.files_ok + b.status.files_ok == total,
                "first round done",
                detail=state,
            )
            assert done_collectors(a) == mine_a
            assert done_collectors(b) == set(RV + RIS) - mine_a

            # b leaves (as on SIGTERM); a takes every partition and b's collectors
            b.stop.set()
            assert await asyncio.wait_for(tasks[1], 60) == 0
            await wait_until(
                lambda: a.group is not None and len(a.group.owned) == parts,
                "a owning every partition",
                detail=state,
            )
            put_round(rv, ris, DAY + timedelta(minutes=15))
            await wait_until(
                lambda: a.status.files_ok == len(mine_a) + total, "second round", detail=state
            )
            assert a.processor is not None
            second = {
                r.file_key.split("/")[1]
                for r in a.processor.reports
                if r.file_key.endswith(str(int((DAY + timedelta(minutes=15)).timestamp())))
            }
            assert second == set(RV + RIS)
        finally:
            for s in (a, b):
                s.stop.set()
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 60)

    records = await read_all(kafka_broker, events, 3)
    lines: list[dict[str, Any]] = [json.loads(r.value) for r in records if r.value]
    route_events = [e for e in lines if e["event_type"] in EVENT_TYPES]
    ids = [e["event_id"] for e in route_events]
    assert len(ids) == len(set(ids)), "a file was processed by both replicas"
    per_file = sum(expected_events(SAMPLE_RV).values()) * len(RV) + sum(
        expected_events(SAMPLE_RIS).values()
    ) * len(RIS)
    assert len(route_events) == 2 * per_file


async def test_killed_replica_hands_its_collectors_over(
    kafka_broker: Broker, tmp_path: Path
) -> None:
    """Replica b is a real `mrtfeed run` process, killed with SIGKILL: the group notices
    its silence (session timeout) and a gets b's collectors."""
    events = await create_topic(kafka_broker, 3)
    group, work = unique("group"), unique("work")
    port = free_port()

    def sink(name: str) -> dict[str, Any]:
        return {
            "type": "kafka",
            "kafka": {
                "bootstrap_servers": [kafka_broker.bootstrap],
                "topics": {
                    "events": events,
                    "alerts": f"{group}.alerts",
                    "checkpoints": f"{group}.ckpt",
                    "work": work,
                },
                "transactional_id": f"{group}-{name}",
            },
        }

    async with ArchiveServer("apache") as rv, ArchiveServer("nginx") as ris:
        common: dict[str, Any] = {
            "collectors": {"refresh_interval": "1s"},
            "scale_out": {"enabled": True, "group_id": group},
        }
        b_config = service_config(tmp_path / "b", rv, ris, DAY, sink=sink("b"), **common)
        data = config_to_dict(b_config, mask_secrets=False)
        data["server"] = {"host": "127.0.0.1", "port": port}
        b_file = tmp_path / "b.yaml"
        b_file.write_text(yaml.safe_dump(data))
        env = {k: v for k, v in os.environ.items() if not k.startswith("MRTFEED_")}
        b = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "mrtfeed.cli",
            "run",
            "--config",
            str(b_file),
            cwd=REPO,
            env=env,
            stderr=(tmp_path / "b.log").open("wb"),
        )
        a = Service(service_config(tmp_path / "a", rv, ris, DAY, sink=sink("a"), **common))
        task = asyncio.create_task(a.run())
        b_status: dict[str, Any] = {}

        async def poll_b() -> None:
            nonlocal b_status
            with contextlib.suppress(OSError, ValueError):
                b_status = json.loads((await get(f"http://127.0.0.1:{port}/status"))[1])

        try:

            def split() -> bool:
                return a.group is not None and 0 < len(a.group.owned) < a.group.partitions

            await wait_until(split, "a and b sharing the work partitions")
            assert a.group is not None
            mine_a = {
                c
                for p, names in (("routeviews", RV), ("ris", RIS))
                for c in names
                if partition_of(p, c, a.group.partitions) in a.group.owned
            }
            put_round(rv, ris, DAY)
            total = len(RV) + len(RIS)

            async def b_done() -> bool:
                await poll_b()
                return bool(b_status) and b_status["files"]["ok"] == total - len(mine_a)

            end = asyncio.get_running_loop().time() + 90
            while not (a.status.files_ok == len(mine_a) and await b_done()):
                assert asyncio.get_running_loop().time() < end, (a.status.files_ok, b_status)
                await asyncio.sleep(0.1)
            assert done_collectors(a) == mine_a

            b.kill()  # SIGKILL: no goodbye to the group
            await b.wait()
            await wait_until(
                lambda: a.group is not None and len(a.group.owned) == a.group.partitions,
                "a owning every partition after b's session timed out",
            )
            put_round(rv, ris, DAY + timedelta(minutes=15))
            await wait_until(lambda: a.status.files_ok == len(mine_a) + total, "second round")
        finally:
            if b.returncode is None:
                b.kill()
                await b.wait()
            a.stop.set()
            assert await asyncio.wait_for(task, 60) == 0

    records = await read_all(kafka_broker, events, 3)
    route_events = [
        e
        for e in (json.loads(r.value) for r in records if r.value)
        if e["event_type"] in EVENT_TYPES
    ]
    ids = [e["event_id"] for e in route_events]
    assert len(ids) == len(set(ids))
    per_round = sum(expected_events(SAMPLE_RV).values()) * len(RV) + sum(
        expected_events(SAMPLE_RIS).values()
    ) * len(RIS)
    assert len(route_events) == 2 * per_round
