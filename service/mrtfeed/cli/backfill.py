"""``mrtfeed backfill --from T --to T``: process a past time range, then exit.

The same pipeline and state as ``mrtfeed run`` (files done by either are not done
again); exit status 0 when every file of the range is done, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from mrtfeed.cli.run import add_config_argument, install_stop_signals, load_or_report


def _time(text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _seconds(text: str) -> float:
    # Imported here: mrtfeed.config brings PyYAML, 0.1 s of every command's start
    # (``mrtfeed parse`` included) when imported with this module.
    from mrtfeed.config import parse_duration

    try:
        return parse_duration(text).total_seconds()
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"{text!r}: {e}") from None


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "backfill",
        help="process the archive files of a past time range into the sink, then exit",
        description="Process every archive file whose interval starts in [FROM, TO) with "
        "the configured sources, collectors and sink. Files already done (by run or an "
        "earlier backfill) are skipped.",
    )
    add_config_argument(parser)
    parser.add_argument("--from", dest="start", type=_time, required=True, metavar="TIME")
    parser.add_argument("--to", dest="end", type=_time, required=True, metavar="TIME")
    parser.add_argument(
        "--sink-wait",
        type=_seconds,
        default=60.0,
        metavar="DURATION",
        help="how long to retry a sink that does not start (default 1m), then exit 1",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="listing rounds to wait for files not complete yet (default 5)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = load_or_report(args.config)
    if config is None:
        return 1
    if args.end <= args.start:
        print("mrtfeed: backfill: --to must be after --from", file=sys.stderr)
        return 1
    if args.start >= datetime.now(UTC):
        future = "--from is in the future (mrtfeed run follows new files)"
        print(f"mrtfeed: backfill: {future}", file=sys.stderr)
        return 1
    if args.rounds < 1:
        print("mrtfeed: backfill: --rounds must be at least 1", file=sys.stderr)
        return 1
    import asyncio

    from mrtfeed.service.app import Service, ServiceOptions, SinkUnavailable
    from mrtfeed.service.logs import setup_logging

    setup_logging(config.log.level, config.log.format)

    async def main() -> int:
        service = Service(config, ServiceOptions(http=False, sink_wait=args.sink_wait))
        install_stop_signals(service.stop)
        report = await service.run_backfill(args.start, args.end, max_rounds=args.rounds)
        summary = {
            "from": report.start.isoformat(),
            "to": report.end.isoformat(),
            "rounds": report.rounds,
            "processed": len(report.processed),
            "failed": {str(k): v for k, v in report.failed.items()},
            "postponed": [str(f) for f in report.postponed],
            "not_ready": [str(f) for f in report.not_ready],
            "range_over": report.range_over,
            "stopped": report.stopped,
            "listing_errors": report.listing_errors,
            "unmatched_collectors": report.unmatched_collectors,
            "quarantined": service.status.quarantined,
            "complete": report.complete,
        }
        import json

        print(json.dumps(summary), file=sys.stderr)
        return 0 if report.complete else 1

    try:
        return asyncio.run(main())
    except SinkUnavailable as e:  # before it could start: nothing done, no summary
        print(f"mrtfeed: backfill: {e}", file=sys.stderr)
        return 1
    except Exception as e:
        print(f"mrtfeed: backfill failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
