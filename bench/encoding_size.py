"""Does a binary encoding pay? JSON (schema v1) vs msgpack of the same objects.

Encodes every event of a file with mrtfeed's JSON encoder, then the same objects with
msgpack, and compares bytes before and after zstd compression in 1 MiB batches (what
Kafka stores and moves), plus the encoding time. msgpack is not a dependency of
mrtfeed: ``pip install msgpack`` to run this.

    .venv/bin/python bench/encoding_size.py [FILE]
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import msgpack
from aiokafka.codec import zstd_encode

from mrtfeed.encode.event import EventEncoder
from mrtfeed.pipeline.decoding import file_events

MRT_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "mrt"
DEFAULT_FILE = MRT_DIR / "routeviews.route-views.jinx.ribs.1401487200.bz2"
BATCH = 1 << 20


def compressed_size(values: list[bytes]) -> int:
    total, batch, size = 0, [], 0
    for value in values:
        batch.append(value)
        size += len(value)
        if size >= BATCH:
            total += len(zstd_encode(b"".join(batch)))
            batch, size = [], 0
    return total + (len(zstd_encode(b"".join(batch))) if batch else 0)


def main() -> int:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_FILE
    events = file_events(str(path))
    encoder = EventEncoder(
        project="routeviews", collector="route-views.jinx", file_kind="ribs", file_url=str(path)
    )
    start = time.process_time()
    pairs, _ = encoder.encode(events)
    json_seconds = time.process_time() - start
    json_values = [value for _, value in pairs]
    objects = [json.loads(value) for value in json_values]
    start = time.process_time()
    packed = [msgpack.packb(obj) for obj in objects]
    msgpack_seconds = time.process_time() - start
    print(f"{path.name}: {len(events)} events")
    print(f"{'encoding':<10} {'raw MiB':>8} {'zstd MiB':>9} {'encode s':>9}")
    for name, values, seconds in (
        ("json", json_values, json_seconds),
        ("msgpack", packed, msgpack_seconds),
    ):
        raw = sum(len(v) for v in values) / 2**20
        print(f"{name:<10} {raw:8.1f} {compressed_size(values) / 2**20:9.1f} {seconds:9.2f}")
    print("(msgpack time excludes building the objects, which JSON's encoder does itself)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
