"""mrtfeed parse vs bgpdump -m on the same files, in the same run.

Prints wall time, entries/s, peak RSS and the wall-time ratio mrtfeed/bgpdump for each
file and mode (one core, and --jobs on every core). Output goes to /dev/null, as in the
targets of issue 2. Needs the Debian package ``bgpdump`` (``apt-get install bgpdump``).

    .venv/bin/python bench/parse_vs_bgpdump.py [--repeat 3] [FILE...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

MRT_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "mrt"
DEFAULT_FILES = (
    "routeviews.route-views.jinx.ribs.1401487200.bz2",
    "updates.20190101.0000.gz",
)


def measure(command: list[str]) -> tuple[float, int, int]:
    """Wall seconds, output lines and peak RSS (KiB, largest process) of one run."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    lines = 0
    while block := proc.stdout.read(1 << 20):
        lines += block.count(b"\n")
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise SystemExit(f"{command} failed with status {status}")
    # wait4's ru_maxrss covers the child and the worker processes it waited for.
    return elapsed, lines, usage.ru_maxrss


def best_of(command: list[str], repeat: int) -> tuple[float, int, int]:
    runs = [measure(command) for _ in range(repeat)]
    return min(runs, key=lambda r: r[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", default=DEFAULT_FILES)
    parser.add_argument("--repeat", type=int, default=3, help="runs per command (best kept)")
    args = parser.parse_args()
    bgpdump = shutil.which("bgpdump")
    if bgpdump is None:
        print("bgpdump not found: apt-get install bgpdump", file=sys.stderr)
        return 2
    mrtfeed = [sys.executable, "-m", "mrtfeed.cli", "parse", "--progress", "never"]
    cores = os.cpu_count() or 1
    print(f"{'file':<48} {'tool':<22} {'wall s':>7} {'entries/s':>11} {'RSS MiB':>8} {'ratio':>6}")
    for name in args.files:
        path = str(MRT_DIR / name) if not os.path.exists(name) else name
        base, lines, rss = best_of([bgpdump, "-q", "-m", path], args.repeat)
        print(
            f"{name:<48} {'bgpdump -m':<22} {base:7.2f} {lines / base:11,.0f} "
            f"{rss / 1024:8.1f} {1:6.2f}"
        )
        for label, extra in (
            ("mrtfeed -j 1", ["-j", "1"]),
            (f"mrtfeed -j {cores}", ["-j", str(cores)]),
        ):
            wall, got, rss = best_of([*mrtfeed, *extra, path], args.repeat)
            print(
                f"{'':<48} {label:<22} {wall:7.2f} {got / wall:11,.0f} {rss / 1024:8.1f} "
                f"{wall / base:6.2f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
