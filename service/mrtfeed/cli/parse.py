"""``mrtfeed parse``: offline decoding of MRT files, a drop-in for ``bgpdump -m``."""

from __future__ import annotations

import argparse
import os
import sys
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, BinaryIO

from mrtfeed.decode.decoder import DecoderStats
from mrtfeed.decode.errors import DecodeError
from mrtfeed.decode.framing import Chunk
from mrtfeed.encode.base import FORMATS
from mrtfeed.pipeline.progress import Progress
from mrtfeed.pipeline.reader import ChunkReader
from mrtfeed.pipeline.work import (
    ChunkResult,
    ChunkWorker,
    WorkOptions,
    init_worker,
    process_in_worker,
)


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "parse",
        help="decode MRT files to text (bgpdump -m, bgpscanner) or JSON lines",
        description="Decode MRT files (bz2, gzip or raw; '-' is stdin) into one line per "
        "route event. Exit status 1 when a file is damaged (after printing every record "
        "before the damage).",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="MRT file, or - for stdin")
    parser.add_argument(
        "-f",
        "--format",
        choices=FORMATS,
        default="bgpdump",
        dest="output_format",
        help="output format (default: bgpdump, i.e. the 'bgpdump -m' line format)",
    )
    parser.add_argument(
        "--large-communities",
        action="store_true",
        help="bgpdump format: add the large-communities column, as 'bgpdump -m -l'",
    )
    parser.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="worker processes decoding each file in parallel (0: one per core)",
    )
    parser.add_argument(
        "--skip-bad-records",
        action="store_true",
        help="continue past damaged records, count them and report them on stderr",
    )
    parser.add_argument(
        "--stats", action="store_true", help="print counts per record type on stderr at the end"
    )
    parser.add_argument(
        "--progress",
        choices=("auto", "always", "never"),
        default="auto",
        help="progress display on stderr (auto: only when stderr is a terminal)",
    )
    parser.set_defaults(func=run)


def _results_inline(reader: ChunkReader, options: WorkOptions) -> Iterator[ChunkResult]:
    worker = ChunkWorker(options)
    for chunk in reader:
        yield worker.process(chunk)


def _results_pooled(reader: ChunkReader, options: WorkOptions, jobs: int) -> Iterator[ChunkResult]:
    """Chunks go to the pool in order; at most 2 * jobs are in flight, which bounds
    memory whatever the input size, and results come back in stream order."""
    with ProcessPoolExecutor(jobs, initializer=init_worker, initargs=(options,)) as pool:
        pending: deque[Future[ChunkResult]] = deque()
        chunks: Iterator[Chunk] = iter(reader)
        for chunk in chunks:
            pending.append(pool.submit(process_in_worker, chunk))
            if len(pending) >= 2 * jobs:
                result = pending.popleft().result()
                yield result
                if result.error is not None:
                    break
        while pending:
            yield pending.popleft().result()


def _parse_file(
    path: str,
    args: argparse.Namespace,
    jobs: int,
    out: BinaryIO,
    total: DecoderStats,
    progress: Progress,
) -> DecodeError | None:
    options = WorkOptions(
        output_format=args.output_format,
        large_communities=args.large_communities,
        skip_bad_records=args.skip_bad_records,
        source=path,
    )
    reader = ChunkReader(path)
    results = (
        _results_pooled(reader, options, jobs) if jobs > 1 else _results_inline(reader, options)
    )
    progress.start(path, reader)
    for result in results:
        out.write(result.text)
        total.merge(result.stats)
        progress.update(result.stats)
        for skipped in result.skipped or ():
            print(f"mrtfeed: skipped bad record: {skipped.describe(path)}", file=sys.stderr)
        if result.error is not None:
            return result.error
    progress.finish()
    return reader.error


def _print_stats(stats: DecoderStats) -> None:
    err = sys.stderr
    print("MRT records by type:", file=err)
    for name, count in sorted(stats.records.items()):
        print(f"  {name}\t{count}", file=err)
    if stats.bgp_messages:
        print("BGP messages by type:", file=err)
        for name, count in sorted(stats.bgp_messages.items()):
            print(f"  {name}\t{count}", file=err)
    print("Events by kind:", file=err)
    for name, count in sorted(stats.events.items()):
        print(f"  {name}\t{count}", file=err)
    for name, count in sorted(stats.unsupported_nlri.items()):
        print(f"NLRI kept raw (AFI/SAFI {name})\t{count}", file=err)
    print(f"Un-signalled ADD-PATH UPDATEs\t{stats.unsignalled_addpath}", file=err)
    print(f"Treat-as-withdraw UPDATEs (RFC 7606)\t{stats.treat_as_withdraw}", file=err)
    print(f"Bad records\t{stats.bad_records}", file=err)


def run(args: argparse.Namespace) -> int:
    jobs = args.jobs if args.jobs > 0 else (os.cpu_count() or 1)
    total = DecoderStats()
    status = 0
    progress = Progress.for_stream(sys.stderr, args.progress)
    out = sys.stdout.buffer
    try:
        for path in args.files:
            try:
                error = _parse_file(path, args, jobs, out, total, progress)
            except OSError as exc:
                progress.finish()
                print(f"mrtfeed: {path}: {exc.strerror or exc}", file=sys.stderr)
                status = 1
                continue
            if error is not None:
                progress.finish()
                out.flush()
                print(f"mrtfeed: {error.describe(path)}", file=sys.stderr)
                status = 1
        out.flush()
    except BrokenPipeError:
        # The reader went away (| head): not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return status
    except KeyboardInterrupt:
        return 130
    if args.stats:
        _print_stats(total)
    return status
