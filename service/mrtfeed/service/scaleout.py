"""Scale-out: replicas share the collectors through a Kafka consumer group.

Why a consumer group and not a home-made lease: Kafka already runs membership, failure
detection (session timeout) and rebalancing, and the Kafka sink needs the broker anyway.
Every replica joins the group ``scale_out.group_id`` on the work topic (``WORK_PARTITIONS``
partitions, created when missing). The topic carries no messages; its partitions are
tokens. A collector belongs to partition ``crc32("project/collector") % partitions``, and
a replica works on the collectors of the partitions the group assigns it.

Handover without overlap: before a rebalance the group revokes partitions (aiokafka's
eager protocol revokes all of them). The replica then stops its files in progress at a
batch boundary, commits what the sink holds, and only then returns from the revoke
callback; the group completes the rebalance after every member did so. On assignment the
replica reloads the committed checkpoints, so a file a previous owner left half-done is
resumed where it stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor

from mrtfeed.sink.kafka import ensure_topic

__all__ = ["WORK_PARTITIONS", "WorkGroup", "partition_of"]

log = logging.getLogger(__name__)

#: Partitions of a new work topic: the most replicas that can get work, and the
#: granularity of the split. Collectors number about 80 today.
WORK_PARTITIONS = 32


def partition_of(project: str, collector: str, partitions: int) -> int:
    """The work partition of a collector; crc32, stable across processes and versions."""
    return zlib.crc32(f"{project}/{collector}".encode()) % partitions


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, group: WorkGroup) -> None:
        self.group = group

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self.group._revoked()

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        await self.group._assigned({tp.partition for tp in assigned})


class WorkGroup:
    """This replica's membership; :meth:`owns` says whether a collector is ours now."""

    def __init__(
        self,
        connection: dict[str, Any],
        topic: str,
        group_id: str,
        *,
        on_revoke: Callable[[], Awaitable[None]] | None = None,
        on_assign: Callable[[], Awaitable[None]] | None = None,
        partitions: int = WORK_PARTITIONS,
        session_timeout_ms: int = 10_000,
    ) -> None:
        self.connection = connection
        self.topic = topic
        self.group_id = group_id
        self.on_revoke = on_revoke
        self.on_assign = on_assign
        self.partitions = partitions
        self.session_timeout_ms = session_timeout_ms
        #: Partitions owned now; empty between a revoke and the next assignment.
        self.owned: frozenset[int] = frozenset()
        self.generation = 0
        self.assigned = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    def owns(self, project: str, collector: str) -> bool:
        return partition_of(project, collector, self.partitions) in self.owned

    async def start(self) -> None:
        await ensure_topic(self.connection, self.topic, self.partitions)
        consumer = AIOKafkaConsumer(
            **self.connection,
            group_id=self.group_id,
            enable_auto_commit=False,
            partition_assignment_strategy=(RoundRobinPartitionAssignor,),
            session_timeout_ms=self.session_timeout_ms,
            heartbeat_interval_ms=max(500, self.session_timeout_ms // 5),
        )
        await consumer.start()
        known = consumer.partitions_for_topic(self.topic)
        if known:
            self.partitions = len(known)
        consumer.subscribe([self.topic], listener=_Listener(self))
        self._consumer = consumer
        self._task = asyncio.create_task(self._poll(), name="work-group")

    async def _poll(self) -> None:
        """Keep polling: membership (and the rebalance callbacks) runs inside it."""
        assert self._consumer is not None
        while True:
            try:
                await self._consumer.getmany(timeout_ms=1000)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the coordinator reconnects on its own
                log.warning("work group poll failed: %s", e)
                await asyncio.sleep(1)

    async def _revoked(self) -> None:
        self.owned = frozenset()
        self.assigned.clear()
        if self.on_revoke is not None:
            await self.on_revoke()

    async def _assigned(self, partitions: set[int]) -> None:
        if self.on_assign is not None:
            await self.on_assign()
        self.generation += 1
        self.owned = frozenset(partitions)
        self.assigned.set()
        log.info(
            "work group %s: %d of %d partitions assigned",
            self.group_id,
            len(partitions),
            self.partitions,
        )

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._consumer is not None:
            await self._consumer.stop()  # leaves the group: the others rebalance now
            self._consumer = None
