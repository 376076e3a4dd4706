"""What filters cost: mrtfeed parse with and without filters, and bgpdump -m, in one run.

Targets (issue 4), on the jinx RIB, one worker: a filter of 10,000 prefixes adds less
than 20 % to the parse time; a one-peer filter makes parsing at least 3x faster than no
filter. The 10,000-prefix cases:

* ``10k keep-all``: ``not prefix-more @list`` with 10,000 prefixes of the RIB (so its
  mix of lengths) moved into 240.0.0.0/4, where no route falls: every event is still
  checked and printed, so this is the filter's whole cost with nothing saved on output.
* ``10k selective``: ``-S list`` with the same 10,000 prefixes where they are
  (bgpscanner's more-specific flag): what a user of a prefix list sees.

Prints, per command, the best wall time and the best CPU time (user + system, from
wait4, which the other load of a shared machine disturbs far less) over the repeats,
output lines, and the CPU-time ratios to mrtfeed without a filter and to bgpdump. The
commands run round-robin, so a burst of load hits every case alike. Needs the Debian
package ``bgpdump``.

    .venv/bin/python bench/filter_vs_parse.py [--repeat 3] [--peer-asn 37105] [FILE]
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from parse_vs_bgpdump import MRT_DIR, compile_bytecode

DEFAULT_FILE = "routeviews.route-views.jinx.ribs.1401487200.bz2"


def rib_prefixes(name: str, count: int) -> list[str]:
    """``count`` distinct IPv4 prefixes of the file, from its bgpdump reference lines."""
    with gzip.open(MRT_DIR / "reference" / f"{name}.bgpdump-m.txt.gz", "rt") as handle:
        prefixes = sorted({line.split("|")[5] for line in handle if "." in line.split("|")[5]})
    return random.Random(4).sample(prefixes, count)


def moved_to_class_e(prefixes: list[str]) -> list[str]:
    """The same prefixes (so the same mix of lengths) moved into 240.0.0.0/4, where no
    announced route lies; prefixes shorter than /8 are left out."""
    moved = []
    for prefix in prefixes:
        address, length = prefix.split("/")
        first, rest = address.split(".", 1)
        if int(length) >= 8:
            moved.append(f"{240 + int(first) % 16}.{rest}/{length}")
    return moved


def run_once(command: list[str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (the process and its children) and output lines."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    stdout = proc.stdout
    assert stdout is not None
    lines = 0
    while block := stdout.read(1 << 20):
        lines += block.count(b"\n")
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{command} failed with status {status}")
    return time.perf_counter() - start, usage.ru_utime + usage.ru_stime, lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", default=DEFAULT_FILE)
    parser.add_argument("--repeat", type=int, default=3, help="runs per command (best kept)")
    parser.add_argument("--peer-asn", default="37105", help="peer of the one-peer case")
    args = parser.parse_args()
    bgpdump = shutil.which("bgpdump")
    if bgpdump is None:
        print("bgpdump not found: apt-get install bgpdump", file=sys.stderr)
        return 2
    path = str(MRT_DIR / args.file)
    compile_bytecode()
    mrtfeed = [sys.executable, "-m", "mrtfeed.cli", "parse", "--progress", "never", "-j", "1"]
    with tempfile.TemporaryDirectory() as tmp:
        sample = rib_prefixes(args.file, 10_000)
        keep_all = Path(tmp) / "unused.txt"
        keep_all.write_text("\n".join(moved_to_class_e(sample)) + "\n")
        selective = Path(tmp) / "rib.txt"
        selective.write_text("\n".join(sample) + "\n")
        cases = [
            ("no filter", []),
            ("10k keep-all", ["--filter", f"not prefix-more @{keep_all}"]),
            ("10k selective (-S)", ["-S", str(selective)]),
            (f"one peer (-a {args.peer_asn})", ["-a", args.peer_asn]),
            ("as-path 3356 (no early)", ["--filter", "as-path 3356"]),
        ]
        commands = [("bgpdump -m", [bgpdump, "-q", "-m", path])]
        commands += [(f"mrtfeed {label}", [*mrtfeed, *extra, path]) for label, extra in cases]
        best: dict[str, tuple[float, float, int]] = {}
        for _ in range(args.repeat):
            for label, command in commands:
                wall, cpu, lines = run_once(command)
                old = best.get(label, (wall, cpu, lines))
                best[label] = (min(wall, old[0]), min(cpu, old[1]), lines)
    base_wall, base_cpu, _ = best["bgpdump -m"]
    plain_wall, plain_cpu, _ = best["mrtfeed no filter"]
    print(f"{args.file}, best of {args.repeat}, one worker; ratios: wall (CPU)")
    header = f"{'command':<32} {'wall s':>7} {'CPU s':>7} {'lines':>9}"
    print(f"{header} {'/no filter':>13} {'/bgpdump':>13}")
    for label, (wall, cpu, lines) in best.items():
        print(
            f"{label:<32} {wall:7.2f} {cpu:7.2f} {lines:9,} "
            f"{wall / plain_wall:6.2f} ({cpu / plain_cpu:4.2f}) "
            f"{wall / base_wall:6.2f} ({cpu / base_cpu:4.2f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
