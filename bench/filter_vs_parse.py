"""What filters cost: mrtfeed parse with and without filters, and bgpdump -m, in one run.

Targets (issue 4), on the jinx RIB, one worker: a filter of 10,000 prefixes adds less
than 20 % to the parse time; a one-peer filter makes parsing at least 3x faster than no
filter. The 10,000-prefix cases:

* ``10k keep-all``: ``not prefix-more @list`` with prefixes no route falls in, so every
  event is still checked and printed: the filter's whole cost, nothing saved on output.
* ``10k selective``: ``-S list`` with 10,000 prefixes of the RIB itself (bgpscanner's
  more-specific flag): what a user of a prefix list sees.

Prints wall seconds, output lines, and the ratios to mrtfeed without a filter and to
bgpdump. Needs the Debian package ``bgpdump``.

    .venv/bin/python bench/filter_vs_parse.py [--repeat 3] [--peer-asn 37105] [FILE]
"""

from __future__ import annotations

import argparse
import gzip
import random
import shutil
import sys
import tempfile
from pathlib import Path

from parse_vs_bgpdump import MRT_DIR, best_of

DEFAULT_FILE = "routeviews.route-views.jinx.ribs.1401487200.bz2"


def rib_prefixes(name: str, count: int) -> list[str]:
    """``count`` distinct IPv4 prefixes of the file, from its bgpdump reference lines."""
    with gzip.open(MRT_DIR / "reference" / f"{name}.bgpdump-m.txt.gz", "rt") as handle:
        prefixes = sorted({line.split("|")[5] for line in handle if "." in line.split("|")[5]})
    return random.Random(4).sample(prefixes, count)


def unused_prefixes(count: int) -> list[str]:
    """``count`` /24s of 240.0.0.0/4 (reserved): no announced route lies inside them."""
    rng = random.Random(4)
    chosen = {(240 << 24) | (rng.getrandbits(20) << 8) for _ in range(count * 2)}
    return [f"{n >> 24}.{n >> 16 & 255}.{n >> 8 & 255}.0/24" for n in sorted(chosen)[:count]]


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
    mrtfeed = [sys.executable, "-m", "mrtfeed.cli", "parse", "--progress", "never", "-j", "1"]
    with tempfile.TemporaryDirectory() as tmp:
        keep_all = Path(tmp) / "unused.txt"
        keep_all.write_text("\n".join(unused_prefixes(10_000)) + "\n")
        selective = Path(tmp) / "rib.txt"
        selective.write_text("\n".join(rib_prefixes(args.file, 10_000)) + "\n")
        cases = [
            ("no filter", []),
            ("10k keep-all", ["--filter", f"not prefix-more @{keep_all}"]),
            ("10k selective (-S)", ["-S", str(selective)]),
            (f"one peer (-a {args.peer_asn})", ["-a", args.peer_asn]),
            ("community, no early", ["--filter", "community-any 30844:*"]),
        ]
        base, base_lines, _ = best_of([bgpdump, "-q", "-m", path], args.repeat)
        print(f"{args.file}, best of {args.repeat}, one worker")
        print(f"{'command':<30} {'wall s':>7} {'lines':>9} {'/no filter':>11} {'/bgpdump':>9}")
        print(f"{'bgpdump -m':<30} {base:7.2f} {base_lines:9,} {'':>11} {1:9.2f}")
        unfiltered = 0.0
        for label, extra in cases:
            wall, lines, _ = best_of([*mrtfeed, *extra, path], args.repeat)
            unfiltered = unfiltered or wall
            print(
                f"{'mrtfeed ' + label:<30} {wall:7.2f} {lines:9,} "
                f"{wall / unfiltered:11.2f} {wall / base:9.2f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
