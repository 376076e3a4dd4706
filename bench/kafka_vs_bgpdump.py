"""Events acknowledged by Kafka per second vs ``bgpdump -m`` printing text, same file, same run.

For each compression codec it streams the file through ``stream_file`` (worker pool,
transactions, checkpoints) into a real broker and stops the clock when the last
transaction is committed; ``bgpdump -m FILE > /dev/null`` runs in between. The ratio
is mrtfeed's wall time over bgpdump's (target of issue 3: <= 1.0).

The broker is started from tests/support/kafka (a single KRaft node on loopback) unless
``--bootstrap`` names one. It shares the machine's cores with mrtfeed, as bgpdump does
not have to: the numbers are a worst case for mrtfeed.

    .venv/bin/python bench/kafka_vs_bgpdump.py [--jobs N] [--codecs zstd,lz4] [--repeat 2] [FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from tests.support.kafka.broker import fetch_jars, start_broker  # noqa: E402

from mrtfeed.pipeline.gcpolicy import tune_gc  # noqa: E402
from mrtfeed.pipeline.stream import StreamOptions, stream_file  # noqa: E402
from mrtfeed.sink.base import SourceFile  # noqa: E402
from mrtfeed.sink.kafka import KafkaSettings, KafkaSink  # noqa: E402
from parse_vs_bgpdump import count_lines, measure  # noqa: E402

MRT_DIR = ROOT.parent / "shared" / "data" / "mrt"
DEFAULT_FILE = MRT_DIR / "routeviews.route-views.jinx.ribs.1401487200.bz2"


def bgpdump_seconds(path: Path) -> tuple[float, int]:
    """Wall seconds and lines of ``bgpdump -m FILE``, timed as parse_vs_bgpdump does."""
    bgpdump = shutil.which("bgpdump")
    if bgpdump is None:
        raise SystemExit("bgpdump not found: apt-get install bgpdump")
    command = [bgpdump, "-m", str(path)]
    return measure(command)[0], count_lines(command)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def kafka_seconds(
    path: Path,
    bootstrap: str,
    codec: str,
    jobs: int,
    batch_size: int,
    linger_ms: int,
    broker_pid: int | None,
) -> tuple[float, int, int, str]:
    """Wall seconds until the last commit, events, messages, and where the CPU went."""
    tag = uuid.uuid4().hex[:8]
    settings = KafkaSettings(
        bootstrap_servers=(bootstrap,),
        events_topic=f"bench-{tag}",
        alerts_topic=f"bench-{tag}.alerts",
        checkpoints_topic=f"bench-{tag}.checkpoints",
        transactional_id=f"bench-{tag}",
        compression=codec,
        max_batch_size=batch_size,
        linger_ms=linger_ms,
    )
    sink = KafkaSink(settings)
    await sink.start()
    # Topics exist before the clock starts: creation is a one-time cost.
    await sink.prepare((settings.events_topic, settings.alerts_topic))
    file = SourceFile("routeviews", "route-views.jinx", "ribs", 1401487200, str(path))
    options = StreamOptions(events_topic=settings.events_topic, alerts_topic=settings.alerts_topic)
    with ProcessPoolExecutor(jobs, initializer=tune_gc) as pool:  # as the service's pool
        list(pool.map(abs, range(jobs)))  # workers started before the clock too
        workers = [p.pid for p in pool._processes.values() if p.pid is not None]
        pids: dict[str, list[int]] = {
            "parent": [os.getpid()],
            "workers": workers,
            "broker": [broker_pid or 0],
        }
        before = {k: sum(cpu_seconds(p) for p in v if p) for k, v in pids.items()}
        start = time.perf_counter()
        report = await stream_file(path, file, sink, options, pool)
        await sink.close()
        elapsed = time.perf_counter() - start
        after = {k: sum(cpu_seconds(p) for p in v if p) for k, v in pids.items()}
    cpu = ", ".join(f"{k} {after[k] - before[k]:.2f}" for k in pids if pids[k][0])
    return elapsed, sum(report.events.values()), report.messages, f"CPU s: {cpu}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--bootstrap", help="use this broker instead of starting one")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--codecs", default="zstd,lz4")
    parser.add_argument("--batch-size", type=int, default=1 << 20)
    parser.add_argument("--linger-ms", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=2, help="runs per variant (best kept)")
    args = parser.parse_args()

    broker = None
    bootstrap = args.bootstrap
    if bootstrap is None:
        fetch_jars()
        broker = start_broker(Path(tempfile.mkdtemp(prefix="mrtfeed-bench-kafka-")))
        bootstrap = broker.bootstrap
    broker_pid = broker._popen.pid if broker is not None and broker._popen else None
    try:
        print(f"file {args.file.name}, {args.jobs} worker(s), broker {bootstrap}")
        print(f"{'variant':<34} {'wall s':>7} {'events/s':>10} {'ratio':>6}")
        for codec in args.codecs.split(","):
            runs = []
            for _ in range(args.repeat):
                dump_s, dump_lines = bgpdump_seconds(args.file)
                kafka_s, events, messages, cpu = asyncio.run(
                    kafka_seconds(
                        args.file,
                        bootstrap,
                        codec,
                        args.jobs,
                        args.batch_size,
                        args.linger_ms,
                        broker_pid,
                    )
                )
                runs.append((kafka_s / dump_s, kafka_s, dump_s, events, messages, dump_lines, cpu))
            ratio, kafka_s, dump_s, events, messages, dump_lines, cpu = min(runs)
            print(f"{'bgpdump -m > /dev/null':<34} {dump_s:7.2f} {dump_lines / dump_s:10.0f}")
            print(
                f"{'mrtfeed -> Kafka (' + codec + ')':<34} {kafka_s:7.2f} "
                f"{events / kafka_s:10.0f} {ratio:6.2f}   ({messages} messages)"
            )
            print(f"{'':<34} {cpu}")
        usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
        print(f"peak RSS: parent {usage} MiB, largest child {children} MiB (broker included)")
    finally:
        if broker is not None:
            broker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
