"""End-to-end benchmark: local archive server -> ``mrtfeed run`` -> real Kafka.

Measures what issue 6 sets targets for:

* events/s on a large RIB (the jinx RIB, 3.9 MB bz2) from "file on the server" to
  "its last batch committed", and how many cores the service used meanwhile;
* the delay from an UPDATES file becoming ready (published and past its grace period)
  to its events being visible to a ``read_committed`` consumer, over several files;
* peak RSS of the main process and of all its processes together (workers included),
  sampled from /proc every 100 ms.

The archive server runs in this process (the tests' loopback server), the service in
its own process with the config written here, Kafka is the tests' single-node broker
(or ``--bootstrap`` for an existing one).

    .venv/bin/python bench/e2e.py [--updates 5] [--poll 2] [--workers 0]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.fetch.archive_server import ArchiveServer, mrt_bytes, routeviews_path  # noqa: E402

from mrtfeed.archive.model import Kind  # noqa: E402

RIB = "routeviews.route-views.jinx.ribs.1401487200.bz2"
UPDATES = (
    "routeviews.route-views.jinx.updates.1401493500.bz2",
    "sydney.updates.20220601.0230.bz2",
    "updates.bz2",
)
COLLECTOR = "route-views.bench"
PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")


# -- process sampling -------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                out += [int(x) for x in fh.read().split()]
    except OSError:
        pass
    return out


def tree(pid: int) -> list[int]:
    todo, seen = [pid], []
    while todo:
        p = todo.pop()
        seen.append(p)
        todo += _children(p)
    return seen


def rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * PAGE // 1024
    except OSError:
        return 0


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except OSError:
            pass
    return total / TICKS


def runqueue_wait(pids: list[int]) -> float:
    """Seconds the processes' threads were runnable but waiting for a CPU (schedstat)."""
    total = 0
    for pid in pids:
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/schedstat") as fh:
                    total += int(fh.read().split()[1])
        except OSError:
            pass
    return total / 1e9


@dataclass
class Sampler:
    pid: int
    peak_main: int = 0
    peak_all: int = 0
    peak_procs: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self._stop.wait(0.1):
            pids = tree(self.pid)
            sizes = [rss_kib(p) for p in pids]
            self.peak_main = max(self.peak_main, sizes[0] if sizes else 0)
            self.peak_all = max(self.peak_all, sum(sizes))
            self.peak_procs = max(self.peak_procs, len(pids))

    def start(self) -> None:
        threading.Thread(target=self.run, daemon=True).start()

    def stop(self) -> None:
        self._stop.set()


# -- service and metrics -----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
    body = (await reader.read()).split(b"\r\n\r\n", 1)[1].decode()
    writer.close()
    out = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def total(
    metrics: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **kw: str
) -> float:
    return sum(
        v
        for (n, labels), v in metrics.items()
        if n == name and all(dict(labels).get(k) == x for k, x in kw.items())
    )


async def wait_metric(port: int, name: str, at_least: float, deadline: float, **kw: str) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            if total(await scrape(port), name, **kw) >= at_least:
                return
        except (OSError, IndexError):
            pass
        await asyncio.sleep(0.1)
    raise SystemExit(f"timed out waiting for {name} >= {at_least}")


# -- consumer --------------------------------------------------------------------------


@dataclass
class Seen:
    counts: Counter[int] = field(default_factory=Counter)
    last_at: dict[int, float] = field(default_factory=dict)


async def consume(bootstrap: str, topic: str, seen: Seen, stop: asyncio.Event) -> None:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=200, max_records=50_000)
            now = time.monotonic()
            for records in batch.values():
                for r in records:
                    if r.value is None or b'"event_type":"snapshot_' in r.value[:80]:
                        continue
                    # cheaper than json.loads: the bench must not steal the service's CPU
                    at = r.value.rfind(b'"file_timestamp":') + 17
                    ts = int(r.value[at : r.value.index(b",", at)])
                    seen.counts[ts] += 1
                    seen.last_at[ts] = now
    finally:
        await consumer.stop()


async def create_topics(bootstrap: str, names: dict[str, int]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(n, num_partitions=p, replication_factor=1) for n, p in names.items()]
        )
    finally:
        await admin.close()


def count_events(sample: str) -> int:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "mrtfeed.cli",
            "parse",
            "--format",
            "json",
            "--progress",
            "never",
            str(REPO.parent / "shared" / "data" / "mrt" / sample),
        ],
        capture_output=True,
        check=False,
        cwd=REPO,
    ).stdout
    return out.count(b"\n")


# -- the run -----------------------------------------------------------------------------


async def bench(args: argparse.Namespace, bootstrap: str, workdir: Path) -> None:
    """One run; ``bootstrap`` "" means the JSON-lines sink (no consumer, no broker)."""
    run_id = uuid.uuid4().hex[:8]
    events_topic = f"bench.events.{run_id}"
    if bootstrap:
        await create_topics(bootstrap, {events_topic: 3, f"bench.alerts.{run_id}": 1})
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    rib_time = now - timedelta(minutes=40)
    port = free_port()
    expected = {s: count_events(s) for s in {RIB, *UPDATES}}
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    async with ArchiveServer("apache") as rv:
        # one old file so the collector exists from the first listing on
        warm = now - timedelta(minutes=90)
        rv.put(routeviews_path(COLLECTOR, Kind.UPDATES, warm), mrt_bytes("updates.bz2"))
        config = {
            "archives": {"routeviews": {"base_url": rv.base_url}, "ris": {"enabled": False}},
            "start": (now - timedelta(hours=2)).isoformat(),
            "poll": {"interval": f"{args.poll}s", "jitter": 0, "grace_period": "60s"},
            "state": {"dir": str(workdir / "state")},
            "workers": args.workers,
            "queues": {"chunks": args.chunks},
            "sink": {
                "type": "kafka",
                "kafka": {
                    "bootstrap_servers": [bootstrap],
                    "topics": {
                        "events": events_topic,
                        "alerts": f"bench.alerts.{run_id}",
                        "checkpoints": f"bench.checkpoints.{run_id}",
                    },
                    "transactional_id": f"bench-{run_id}",
                },
            }
            if bootstrap
            else {"type": "jsonl", "jsonl": {"path": str(workdir / "events.jsonl")}},
            "server": {"host": "127.0.0.1", "port": port},
            "log": {"level": "warning", "format": "text"},
        }
        cfg = workdir / "config.yaml"
        cfg.write_text(yaml.safe_dump(config))
        env = {k: v for k, v in os.environ.items() if not k.startswith("MRTFEED_")}
        proc = subprocess.Popen(
            [sys.executable, "-m", "mrtfeed.cli", "run", "--config", str(cfg)],
            cwd=REPO,
            env=env,
            stderr=(workdir / "service.log").open("wb"),
        )
        sampler = Sampler(proc.pid)
        sampler.start()
        seen = Seen()
        stop = asyncio.Event()
        consumer = (
            asyncio.create_task(consume(bootstrap, events_topic, seen, stop)) if bootstrap else None
        )
        try:
            await wait_metric(port, "mrtfeed_files_processed_total", 1, 120, outcome="ok")

            # 1. a large RIB: ready -> committed, events/s, cores used
            pids = tree(proc.pid)
            cpu0, main0, t0 = cpu_seconds(pids), cpu_seconds([proc.pid]), time.monotonic()
            others0 = cpu_seconds(args.broker_pids) + sum(os.times()[:2])
            wait0 = runqueue_wait(pids)
            rv.put(routeviews_path(COLLECTOR, Kind.RIBS, rib_time), mrt_bytes(RIB))
            await wait_metric(port, "mrtfeed_files_processed_total", 2, 600, outcome="ok")
            rib_wall = time.monotonic() - t0
            cpu = cpu_seconds(tree(proc.pid)) - cpu0
            main_cpu = cpu_seconds([proc.pid]) - main0
            waited = runqueue_wait(tree(proc.pid)) - wait0
            others = cpu_seconds(args.broker_pids) + sum(os.times()[:2]) - others0
            rib_events = expected[RIB]
            print(
                f"RIB {RIB}: {rib_events:,} events in {rib_wall:.1f} s from put to commit "
                f"= {rib_events / rib_wall:,.0f} events/s; service CPU {cpu:.1f} s "
                f"(main process {main_cpu:.1f} s, workers {cpu - main_cpu:.1f} s) = "
                f"{cpu / rib_wall:.2f} cores of {os.cpu_count()} "
                f"(load average now {os.getloadavg()[0]:.1f}; Kafka broker and this "
                f"benchmark's consumer used {others:.1f} s CPU meanwhile); the service's "
                f"threads waited {waited:.1f} s for a CPU (run queue)"
            )

            # 2. new UPDATES files: ready -> events visible (read_committed)
            delays = []
            for i in range(args.updates):
                sample = UPDATES[i % len(UPDATES)]
                nominal = now - timedelta(minutes=30) + timedelta(minutes=i + 1)
                ts = int(nominal.timestamp())
                rv.put(routeviews_path(COLLECTOR, Kind.UPDATES, nominal), mrt_bytes(sample))
                put_at = time.monotonic()
                if consumer is None:  # JSON lines: the commit precedes the "ok" count
                    await wait_metric(port, "mrtfeed_files_processed_total", 3 + i, 120)
                    delays.append(time.monotonic() - put_at)
                else:
                    end = put_at + 120
                    while seen.counts[ts] < expected[sample]:
                        if time.monotonic() > end:
                            raise SystemExit(f"updates file {i} not committed within 120 s")
                        await asyncio.sleep(0.05)
                    delays.append(seen.last_at[ts] - put_at)
                print(
                    f"UPDATES {sample}: {expected[sample]:,} events, "
                    f"ready -> committed {delays[-1]:.1f} s"
                )
            delays.sort()
            print(
                f"UPDATES delay over {len(delays)} files: median {delays[len(delays) // 2]:.1f} s,"
                f" max {delays[-1]:.1f} s (poll interval {args.poll} s; the file counts as "
                f"ready when put, already past its grace period)"
            )
        finally:
            stop.set()
            if consumer is not None:
                await consumer
            proc.terminate()
            await asyncio.to_thread(proc.wait, 60)
            sampler.stop()
    print(
        f"peak RSS: main process {sampler.peak_main / 1024:.0f} MiB, all "
        f"{sampler.peak_procs} processes together {sampler.peak_all / 1024:.0f} MiB; "
        f"exit status after SIGTERM {proc.returncode}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=5, help="UPDATES files to time")
    parser.add_argument("--poll", type=float, default=2.0, help="poll interval, seconds")
    parser.add_argument("--workers", type=int, default=0, help="parser processes (0: cores)")
    parser.add_argument(
        "--chunks", type=int, default=0, help="queues.chunks (default 0: two per worker)"
    )
    parser.add_argument("--bootstrap", help="use this Kafka instead of starting one")
    parser.add_argument(
        "--sink", choices=("kafka", "jsonl"), default="kafka", help="jsonl: no Kafka at all"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mrtfeed-bench-") as tmp:
        workdir = Path(tmp)
        broker = None
        args.broker_pids = []
        bootstrap = args.bootstrap or ""
        if not bootstrap and args.sink == "kafka":
            from tests.support.kafka.broker import fetch_jars, start_broker

            fetch_jars()
            broker = start_broker(workdir / "kafka")
            bootstrap = broker.bootstrap
            args.broker_pids = tree(broker.pid) if broker.pid else []
        try:
            asyncio.run(bench(args, bootstrap, workdir))
        finally:
            if broker is not None:
                broker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
