"""mrtfeed parse vs bgpdump -m on the same files, in the same run.

Prints wall time, CPU time, entries/s, peak RSS and the wall-time ratio mrtfeed/bgpdump
for each file and mode (one core, and --jobs on every core). Timed runs write to
/dev/null, as in the targets of issue 2; one more run of each counts the lines. The
commands take turns, round after round, and each keeps its best run: the machines this
runs on drift by 20 % and more within a minute, which would bias one tool if its runs
came in a block. Needs the Debian package ``bgpdump``
(``apt-get install bgpdump``).

    .venv/bin/python bench/parse_vs_bgpdump.py [--repeat 3] [--format json]
        [--baseline CHECKOUT] [FILE...]

``--format`` times mrtfeed's other output formats against the same bar (bgpdump -m);
``--baseline`` times another checkout's mrtfeed in the same rounds, which is how a
change is measured on a machine that drifts.
"""

from __future__ import annotations

import argparse
import compileall
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


def compile_bytecode() -> None:
    """Write the package's bytecode, as ``pip install`` does. An editable checkout
    run with PYTHONDONTWRITEBYTECODE (set on these machines) would otherwise compile
    every changed module at each start: 25 ms per run, 5 % of an UPDATE file."""
    import mrtfeed

    compileall.compile_dir(Path(mrtfeed.__file__).parent, quiet=1)


def measure(command: list[str]) -> tuple[float, int, float]:
    """Wall seconds, peak RSS (KiB, largest process) and CPU seconds (the command's and
    its worker processes') of one run, its output going to /dev/null as in the
    targets (a pipe would add its reader's CPU, on a machine of two cores)."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise SystemExit(f"{command} failed with status {status}")
    # wait4's usage covers the child and the worker processes it waited for.
    return elapsed, usage.ru_maxrss, usage.ru_utime + usage.ru_stime


def count_lines(command: list[str]) -> int:
    """Output lines of one (untimed) run."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    lines = 0
    while block := proc.stdout.read(1 << 20):
        lines += block.count(b"\n")
    proc.wait()
    return lines


def best_in_turns(commands: list[list[str]], repeat: int) -> list[tuple[float, int, float]]:
    """Each command's fastest run, the commands taking turns ``repeat`` times."""
    runs: list[list[tuple[float, int, float]]] = [[] for _ in commands]
    for _ in range(repeat):
        for command, done in zip(commands, runs, strict=True):
            done.append(measure(command))
    return [min(done, key=lambda r: r[0]) for done in runs]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", default=DEFAULT_FILES)
    parser.add_argument("--repeat", type=int, default=3, help="runs per command (best kept)")
    parser.add_argument(
        "--format", default="bgpdump", choices=("bgpdump", "bgpscanner", "json"), help="mrtfeed's"
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="CHECKOUT",
        help="also time the mrtfeed of another checkout (say, git worktree add "
        "/tmp/old COMMIT) in the same rounds",
    )
    args = parser.parse_args()
    bgpdump = shutil.which("bgpdump")
    if bgpdump is None:
        print("bgpdump not found: apt-get install bgpdump", file=sys.stderr)
        return 2
    compile_bytecode()
    mrtfeed = [sys.executable, "-m", "mrtfeed.cli", "parse", "--progress", "never"]
    mrtfeed += ["--format", args.format]
    versions = [("mrtfeed", mrtfeed)]
    if args.baseline is not None:
        service = args.baseline.resolve() / "service"
        compileall.compile_dir(service / "mrtfeed", quiet=1)
        versions.append(("baseline", ["env", f"PYTHONPATH={service}", *mrtfeed]))
    cores = os.cpu_count() or 1
    print(
        f"{'file':<48} {'tool':<26} {'wall s':>7} {'CPU s':>6} {'entries/s':>11} "
        f"{'RSS MiB':>8} {'ratio':>6}"
    )
    for name in args.files:
        path = str(MRT_DIR / name) if not os.path.exists(name) else name
        modes = [("bgpdump -m", [bgpdump, "-q", "-m", path])] + [
            (f"{version} -j {jobs} {args.format}", [*command, "-j", str(jobs), path])
            for jobs in sorted({1, cores})
            for version, command in versions
        ]
        results = best_in_turns([command for _, command in modes], args.repeat)
        base = results[0][0]
        for number, ((label, command), (wall, rss, cpu)) in enumerate(
            zip(modes, results, strict=True)
        ):
            lines = count_lines(command)
            print(
                f"{name if number == 0 else '':<48} {label:<26} {wall:7.2f} {cpu:6.2f} "
                f"{lines / wall:11,.0f} {rss / 1024:8.1f} {wall / base:6.2f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
