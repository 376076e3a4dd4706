"""The ``mrtfeed`` command line: one sub-command per module in this package."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from mrtfeed import __version__


def build_parser() -> argparse.ArgumentParser:
    # Imported here, where main() catches Ctrl-C: a user who presses it during the
    # start-up sees no traceback.
    from mrtfeed.cli import backfill as backfill_command
    from mrtfeed.cli import check_config as check_config_command
    from mrtfeed.cli import parse as parse_command
    from mrtfeed.cli import run as run_command

    parser = argparse.ArgumentParser(
        prog="mrtfeed",
        description="Public BGP archives (Route Views, RIPE RIS) as a stream of route events.",
    )
    parser.add_argument("--version", action="version", version=f"mrtfeed {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parse_command.register(commands)
    run_command.register(commands)
    check_config_command.register(commands)
    backfill_command.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status (130 after
    Ctrl-C, as a shell reports a process that SIGINT ended)."""
    if sys.stderr is None:  # started with its descriptor closed (2>&-): say nothing
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - for the process's life
    try:
        args = build_parser().parse_args(argv)
        status: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    return status


if __name__ == "__main__":
    sys.exit(main())
