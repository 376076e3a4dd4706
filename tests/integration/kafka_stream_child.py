"""A producing process for the chaos test: streams one file into Kafka and says how far
it got on stdout (batches written, commits done), so the test can SIGKILL it at chosen
moments without sleeping.

Run as ``python -m tests.integration.kafka_stream_child BOOTSTRAP TXN_ID TOPIC FILE``.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from mrtfeed.pipeline.stream import StreamOptions, stream_file
from mrtfeed.sink.base import Batch, SourceFile
from mrtfeed.sink.kafka import KafkaSettings, KafkaSink

READ_SIZE = 8 * 1024
COMMIT_INTERVAL = 0.2


def topic_settings(bootstrap: str, topic: str, txn: str, **options: Any) -> KafkaSettings:
    """Sink settings whose events, alerts and checkpoints topics are named after ``topic``
    (the Kafka sink tests use it too)."""
    return KafkaSettings(
        bootstrap_servers=(bootstrap,),
        events_topic=topic,
        alerts_topic=f"{topic}.alerts",
        checkpoints_topic=f"{topic}.checkpoints",
        transactional_id=txn,
        **options,
    )


def settings(bootstrap: str, transactional_id: str, topic: str) -> KafkaSettings:
    return topic_settings(bootstrap, topic, transactional_id, linger_ms=5, max_batch_size=64 * 1024)


def source_file(path: Path) -> SourceFile:
    return SourceFile("routeviews", "route-views2", "updates", 1267286400, f"file://{path}")


async def main(bootstrap: str, transactional_id: str, topic: str, path: str) -> None:
    sink = KafkaSink(settings(bootstrap, transactional_id, topic))
    await sink.start()
    print("started", flush=True)
    commit = sink.commit

    async def commit_and_say() -> None:
        await commit()
        print("commit", flush=True)  # durable: a later run resumes after it

    sink.commit = commit_and_say  # type: ignore[method-assign]

    def on_batch(batch: Batch) -> None:
        print(f"batch {batch.checkpoint.next_record_index}", flush=True)

    report = await stream_file(
        Path(path),
        source_file(Path(path)),
        sink,
        StreamOptions(events_topic=topic, alert_loops=False),
        on_batch=on_batch,
        read_size=READ_SIZE,
        commit_interval=COMMIT_INTERVAL,
    )
    await sink.close()
    print(f"resumed {report.resumed_from_record}", flush=True)
    print("done", flush=True)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
