"""``mrtfeed parse``: offline decoding of MRT files, a drop-in for ``bgpdump -m``, with
bgpscanner's filter flags (``-f`` lists feeders, as in bgpscanner; the output format
is ``--format``)."""

from __future__ import annotations

import argparse
import os
import sys
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import fields
from typing import TYPE_CHECKING, Any, BinaryIO

from mrtfeed.decode.compression import PIECE_SIZE
from mrtfeed.decode.decoder import DecoderStats
from mrtfeed.decode.errors import DecodeError
from mrtfeed.decode.events import EventKind, Peer
from mrtfeed.decode.framing import Chunk
from mrtfeed.encode.base import FORMATS
from mrtfeed.pipeline.decoding import ChunkDecoder
from mrtfeed.pipeline.gcpolicy import tune_gc
from mrtfeed.pipeline.progress import Progress
from mrtfeed.pipeline.reader import BlockReader, ChunkReader, chunks_from, is_bz2_file
from mrtfeed.pipeline.turns import OutputError, output_errors
from mrtfeed.pipeline.work import (
    ChunkResult,
    ChunkWorker,
    WorkOptions,
    init_worker,
    process_and_write,
    process_block_and_write,
)

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor

    from mrtfeed.pipeline.relay import FramingRelay

#: Decompressed bytes per piece (and chunk) for JSON output. A JSON event is 700
#: bytes, an UPDATE's prefix 4: 2 MiB of UPDATEs became 90 MB of JSON
#: (updates.et-header.2015), held several times over (peak RSS 369 MB). With 128 KiB
#: pieces that file peaks at 144 MB; the time is the same within this machine's noise.
JSON_PIECE_SIZE = 1 << 17


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "parse",
        help="decode MRT files to text (bgpdump -m, bgpscanner) or JSON lines",
        description="Decode MRT files (bz2, gzip or raw; '-' is stdin) into one line per "
        "route event. Exit status 1 when a file is damaged (after printing every record "
        "before the damage).",
    )
    parser.add_argument("files", nargs="*", metavar="FILE", help="MRT file, or - for stdin")
    parser.add_argument(
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
        type=_jobs,
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
    _register_filters(parser)
    parser.set_defaults(func=run)


def _negatable(negated: bool) -> Callable[[str], tuple[bool, str]]:
    def convert(value: str) -> tuple[bool, str]:
        return negated, value

    return convert


def _prefix_flag(mode: str, is_file: bool) -> Callable[[str], tuple[str, str, bool]]:
    def convert(value: str) -> tuple[str, str, bool]:
        return mode, value, is_file

    return convert


def _register_filters(parser: argparse.ArgumentParser) -> None:
    """bgpscanner's flags: groups AND, repeats OR; capitals read files or negate."""
    group = parser.add_argument_group(
        "filters (bgpscanner's flags; different flags AND, repeated flags OR)"
    )
    add = group.add_argument
    add("--filter", metavar="EXPR", default="", help="filter expression (docs/filters.md)")
    add("-a", dest="peer_asns", action="append", default=[], metavar="AS", help="peer AS")
    add("-A", dest="peer_asn_files", action="append", default=[], metavar="FILE")
    add("-i", dest="peer_ips", action="append", default=[], metavar="ADDR", help="peer IP")
    add("-I", dest="peer_ip_files", action="append", default=[], metavar="FILE")
    add("-t", dest="attrs", action="append", default=[], metavar="ATTR", help="has attribute")
    add("-T", dest="attr_files", action="append", default=[], metavar="FILE")
    negatable = (
        ("-m", "communities", False, "COMMS", "has all these space-separated communities"),
        ("-M", "communities", True, "COMMS", "lacks one of these (negated -m)"),
        ("-p", "paths", False, "PATHEXPR", "AS path matches (ASNs, ^ $ ? *)"),
        ("-P", "paths", True, "PATHEXPR", "AS path does not match"),
    )
    for flag, dest, negated, metavar, text in negatable:
        add(
            flag,
            dest=dest,
            action="append",
            default=[],
            metavar=metavar,
            type=_negatable(negated),
            help=text,
        )
    add(
        "--all-communities",
        action="store_true",
        help="repeated -m/-M terms AND instead of OR (as bgpgrep's -all-communities)",
    )
    for mode, what in (
        ("e", "this exact prefix"),
        ("s", "this prefix or a more specific one"),
        ("u", "this prefix or a less specific one"),
        ("r", "this prefix, or a more or less specific one"),
    ):
        for flag, is_file in ((f"-{mode}", False), (f"-{mode.upper()}", True)):
            add(
                flag,
                dest="prefixes",
                action="append",
                default=[],
                metavar="FILE" if is_file else "PREFIX",
                type=_prefix_flag(mode, is_file),
                help=None if is_file else f"{what} (one of -e -s -u -r per run)",
            )
    add(
        "-l",
        dest="loops",
        action="store_const",
        const=True,
        help="AS-path loops only, as bgpscanner's -l (bgpdump's -l, large communities, "
        "is --large-communities)",
    )
    add("-L", dest="loops", action="store_const", const=False, help="no AS-path loops")
    add(
        "-f",
        dest="list_feeders",
        nargs="?",
        action=_FeedersOrFormat,
        default=False,
        metavar="FORMAT",
        help="list the feeders (peers) of the RIB entries that pass the filters, as "
        "bgpscanner -f; '-f bgpdump|bgpscanner|json' instead picks the output format, "
        "as earlier mrtfeed versions and scripts written for them do",
    )


class _FeedersOrFormat(argparse.Action):
    """``-f``: bgpscanner's "list feeders" switch, or ``-f FORMAT`` (an output format).

    Both meanings are in use: bgpscanner users type ``-f FILE`` and scripts written for
    ``mrtfeed parse -f bgpdump FILE`` exist. A value that names a format picks the
    format; any other value is the first input file.
    """

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        if isinstance(values, str) and values in FORMATS:
            namespace.output_format = values
            return
        namespace.list_feeders = True
        if isinstance(values, str):
            namespace.leading_files = [*getattr(namespace, "leading_files", []), values]


def _jobs(text: str) -> int:
    """--jobs: a count, 0 for one per core (-1 had meant that too, silently)."""
    try:
        jobs = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if jobs < 0:
        raise argparse.ArgumentTypeError(f"must be 0 (one per core) or more, not {jobs}")
    return jobs


#: argparse destinations of the filter flags that make a filter when given (the
#: others, ``loops`` and ``all_communities``, are checked apart or only qualify).
FILTER_DESTS = (
    "peer_asns",
    "peer_asn_files",
    "peer_ips",
    "peer_ip_files",
    "attrs",
    "attr_files",
    "communities",
    "paths",
    "prefixes",
)


def any_filter(args: argparse.Namespace) -> bool:
    """Whether a filter was asked for: without one, :mod:`mrtfeed.filter` is not even
    imported (15 ms of a start-up)."""
    return (
        bool(args.filter) or args.loops is not None or any(getattr(args, d) for d in FILTER_DESTS)
    )


def filter_expression(args: argparse.Namespace) -> str:
    """The one expression for --filter and the bgpscanner flags; raises ValueError."""
    from mrtfeed.filter import BgpscannerFlags, bgpscanner_expression, compile_filter

    if args.filter:
        compile_filter(args.filter)  # columns relative to what the user typed
    # The flags' argparse destinations are the field names of BgpscannerFlags.
    values = {
        f.name: getattr(args, f.name) for f in fields(BgpscannerFlags) if f.name != "expression"
    }
    flags = BgpscannerFlags(**values, expression=args.filter)
    expression = bgpscanner_expression(flags)
    if expression:
        compile_filter(expression)
    return expression


def _results_inline(reader: ChunkReader, options: WorkOptions) -> Iterator[ChunkResult]:
    """One process decodes the stream as it is decompressed (no cutting at records
    first: that walk over every record header cost 7 % of a RIB's time), then a last
    result carries the damage that ended the stream, if any."""
    tune_gc()  # this process decodes
    worker = ChunkWorker(options)
    for piece in reader.pieces():
        result = worker.process_piece(piece)
        yield result
        if result.error is not None:
            return
    yield worker.finish(reader.error)


class PooledResults:
    """Results of a pool of ``jobs`` workers, in stream order: at most 2 * jobs tasks
    in flight, which bounds memory whatever the input size. The workers write the
    output to ``out``'s descriptor themselves, in stream order
    (:mod:`mrtfeed.pipeline.turns`): the results carry no text.

    A bz2 file (a :class:`BlockReader`) goes to the workers as compressed blocks,
    which they decompress and frame (:mod:`mrtfeed.pipeline.relay`): this process
    only searches the file for block magics. When that stops working (damage, a
    block that does not decompress), the stream is read on in order from the end of
    the last record written, in chunks cut here, as other files are.
    """

    def __init__(self, path: str, options: WorkOptions, jobs: int, out: BinaryIO) -> None:
        self.path = path
        self.options = options
        self.jobs = jobs
        self.out = out
        self.pending: deque[Future[ChunkResult]] = deque()

    def results(self, reader: BlockReader | ChunkReader) -> Iterator[ChunkResult]:
        import multiprocessing  # only -j N pays for these imports
        from concurrent.futures import ProcessPoolExecutor

        from mrtfeed.pipeline.interrupts import interrupts_held
        from mrtfeed.pipeline.orphans import ParentWatch
        from mrtfeed.pipeline.relay import FramingRelay
        from mrtfeed.pipeline.turns import OutputTurns

        self.out.flush()  # what this process wrote comes first
        # fork: the workers inherit the output descriptor, the turns and the relay's
        # memory (this process has no other thread yet).
        context = multiprocessing.get_context("fork")
        turns = OutputTurns(context, self.out.fileno())
        relay = FramingRelay(context) if isinstance(reader, BlockReader) else None
        watch = ParentWatch(context)
        with ProcessPoolExecutor(
            self.jobs,
            mp_context=context,
            initializer=init_worker,
            initargs=(self.options, turns, watch.ends, relay),
        ) as pool:
            with interrupts_held():
                pool.submit(int)  # forks the workers (a "fork" pool does on its first task)
            try:
                if isinstance(reader, BlockReader):
                    assert relay is not None
                    yield from self._blocks(pool, reader, relay)
                else:
                    yield from self._chunks(pool, reader, iter(reader), 0)
            except BaseException:
                # Ctrl-C (the workers ignore it), a failure, or the caller stopped
                # early: nothing more is written and nothing queued starts. The tasks
                # in hand are waited for: a worker may be writing its lines, and the
                # workers exit when this generator lets go of the ParentWatch.
                turns.stop()
                if relay is not None:
                    relay.stop()
                pool.shutdown(cancel_futures=True)
                raise

    def _blocks(
        self, pool: ProcessPoolExecutor, reader: BlockReader, relay: FramingRelay
    ) -> Iterator[ChunkResult]:
        """The relay's results, then the rest read in order if the relay broke or the
        file did not end cleanly."""
        #: Where to read on in order, and the turn of the first chunk read so.
        read_on: tuple[int, int] | None = None
        turn = 0
        for result in self._block_results(pool, reader):
            if result.read_on_from is not None:
                read_on = result.read_on_from
                break
            yield result
            if result.error is not None:
                return
            turn += 1
        while self.pending:  # the blocks after a broken relay, which give up
            self.pending.popleft().result()
        if read_on is None:
            state = relay.last_state(turn)
            assert state is not None, "the relay stopped without a block saying so"
            if not reader.failed and not state.pending():
                return
            read_on = (state.offset, state.index)
        in_order = ChunkReader(self.path)
        chunks = chunks_from(iter(in_order), *read_on)
        yield from self._chunks(pool, in_order, chunks, turn, read_on)

    def _block_results(
        self, pool: ProcessPoolExecutor, reader: BlockReader
    ) -> Iterator[ChunkResult]:
        """One result per block, in stream order, with at most 2 * jobs blocks in
        flight; stopping early leaves the rest in ``self.pending``."""
        pending = self.pending
        for turn, block in enumerate(reader):
            pending.append(pool.submit(process_block_and_write, turn, block))
            if len(pending) >= 2 * self.jobs:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

    def _chunks(
        self,
        pool: ProcessPoolExecutor,
        reader: ChunkReader,
        chunks: Iterator[Chunk],
        first_turn: int,
        written_to: tuple[int, int] = (0, 0),
    ) -> Iterator[ChunkResult]:
        """Chunks cut in this process; the damage that ended the stream comes last,
        placed no earlier than ``written_to`` (offset, record index), the end of what
        the workers already wrote: the in-order decompressor may report damage in a
        bz2 block a little before the records of the blocks before it end."""
        pending = self.pending
        for turn, chunk in enumerate(chunks, first_turn):
            pending.append(pool.submit(process_and_write, turn, chunk))
            if len(pending) >= 2 * self.jobs:
                result = pending.popleft().result()
                yield result
                if result.error is not None:
                    return
        while pending:
            result = pending.popleft().result()
            yield result
            if result.error is not None:
                return
        error = reader.error
        if error is not None:
            if error.offset is not None and error.offset < written_to[0]:
                error = error.located(offset=written_to[0], record_index=written_to[1])
            yield ChunkResult(b"", DecoderStats(), error)


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
        filter_expression=args.filter_expression,
    )
    json = args.output_format == "json"
    reader: BlockReader | ChunkReader
    # JSON is 10 to 50 times its MRT bytes: whole bz2 blocks (about 1 MB of MRT) would
    # hold too much text per worker; its chunks stay small (JSON_PIECE_SIZE).
    if jobs > 1 and not json and is_bz2_file(path):
        reader = BlockReader(path)
    else:
        reader = ChunkReader(path, piece_size=JSON_PIECE_SIZE if json else PIECE_SIZE)
    if jobs > 1:
        results = PooledResults(path, options, jobs, out).results(reader)
    else:
        assert isinstance(reader, ChunkReader)
        results = _results_inline(reader, options)
    progress.start(path, reader)
    for result in results:
        with output_errors():
            out.write(result.text)
        total.merge(result.stats)
        progress.update(result.stats)
        for skipped in result.skipped or ():
            print(f"mrtfeed: skipped bad record: {skipped.describe(path)}", file=sys.stderr)
        if result.error is not None:
            return result.error
    progress.finish()
    return None


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
    print(
        f"Malformed attributes left out (UPDATEs, RIB blocks)\t{stats.attribute_discard}", file=err
    )
    print(f"Bad records\t{stats.bad_records}", file=err)


def _list_feeders(
    path: str, args: argparse.Namespace, out: BinaryIO, total: DecoderStats
) -> DecodeError | None:
    """bgpscanner -f: the peers of the RIB entries that pass, in PEER_INDEX_TABLE
    order (then TABLE_DUMP v1 peers as first seen), one ``IP ASN`` line each. The
    entries before damage count (and with ``--skip-bad-records`` the ones after it),
    as in the other outputs."""
    chunk_decoder = ChunkDecoder()
    decoder = chunk_decoder.decoder
    event_filter = None
    if args.filter_expression:
        from mrtfeed.filter import compile_filter

        event_filter = compile_filter(args.filter_expression)
    decoder.set_early_filter(event_filter.early if event_filter is not None else None)
    seen: dict[Peer, None] = {}
    reader = ChunkReader(path)
    error = None
    for chunk in reader:
        skipped: list[DecodeError] | None = [] if args.skip_bad_records else None
        events, error = chunk_decoder.decode(chunk, skipped)
        total.merge(decoder.stats)
        for bad in skipped or ():
            print(f"mrtfeed: skipped bad record: {bad.describe(path)}", file=sys.stderr)
        for event in events:
            if (
                event.kind == EventKind.RIB
                and event.peer not in seen
                and (event_filter is None or event_filter.matches(event))
            ):
                seen[event.peer] = None
        if error is not None:
            break
    ordered = [p for p in dict.fromkeys(decoder.peers) if p in seen]
    ordered += [p for p in seen if p not in set(ordered)]
    with output_errors():
        out.write("".join(f"{p.ip} {p.asn}\n" for p in ordered).encode())
    return error or reader.error


def run(args: argparse.Namespace) -> int:
    args.files = [*getattr(args, "leading_files", []), *args.files]
    if not args.files:
        print("mrtfeed parse: no input: give FILE... ('-' for stdin)", file=sys.stderr)
        return 2
    if args.large_communities and args.output_format != "bgpdump" and not args.list_feeders:
        print(
            f"mrtfeed parse: --large-communities adds a column to the bgpdump format; "
            f"{args.output_format} lines always carry the large communities",
            file=sys.stderr,
        )
        return 2
    args.filter_expression = ""
    if any_filter(args):
        from mrtfeed.filter import ConflictingFlags, FilterSyntaxError

        try:
            args.filter_expression = filter_expression(args)
        except FilterSyntaxError as exc:
            where = "--filter" if args.filter and exc.expression == args.filter else "filter"
            print(f"mrtfeed: {where}: {exc}\n{exc.pointer()}", file=sys.stderr)
            return 2
        except (ConflictingFlags, ValueError) as exc:
            print(f"mrtfeed: {exc}", file=sys.stderr)
            return 2
    if sys.stdout is None:  # started with its descriptor closed (>&-)
        print("mrtfeed: standard output is closed", file=sys.stderr)
        return 1
    jobs = args.jobs if args.jobs > 0 else (os.cpu_count() or 1)
    total = DecoderStats()
    status = 0
    progress = Progress.for_stream(sys.stderr, args.progress)
    out = sys.stdout.buffer
    try:
        for path in args.files:
            try:
                if args.list_feeders:
                    error = _list_feeders(path, args, out, total)
                else:
                    error = _parse_file(path, args, jobs, out, total, progress)
            except BrokenPipeError:
                raise  # the reader went away: below, not this file's error
            except OSError as exc:
                progress.finish()
                print(f"mrtfeed: {path}: {exc.strerror or exc}", file=sys.stderr)
                status = 1
                continue
            if error is not None:
                progress.finish()
                with output_errors():
                    out.flush()
                print(f"mrtfeed: {error.describe(path)}", file=sys.stderr)
                status = 1
        with output_errors():
            out.flush()
    except BrokenPipeError:
        # The reader went away (| head): not an error of ours.
        progress.finish()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OutputError as exc:
        progress.finish()
        print(f"mrtfeed: standard output: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        progress.finish()  # the shell's prompt goes on a clean line
        raise
    if args.stats:
        _print_stats(total)
    return status
