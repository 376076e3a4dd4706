"""``mrtfeed check-config FILE``: validate a config file (and the environment), exit 0/1.

The chart's CI runs it on the rendered ConfigMap, so it checks exactly what ``mrtfeed
run`` would load, filter expressions included, and prints every problem with its key
path at once.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "check-config",
        help="validate a service config file; exit status 0 (valid) or 1",
        description="Validate a mrtfeed config file plus MRTFEED_* environment overrides, "
        "as 'mrtfeed run' would load them.",
    )
    parser.add_argument("file", metavar="FILE", help="YAML config file")
    parser.add_argument(
        "--print",
        action="store_true",
        dest="print_config",
        help="print the effective config (defaults filled in, secrets masked)",
    )
    parser.add_argument(
        "--no-env",
        action="store_true",
        help="ignore MRTFEED_* environment overrides",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import yaml

    from mrtfeed.config import ConfigError, config_to_dict, load_config

    environ = {} if args.no_env else dict(os.environ)
    try:
        config = load_config(args.file, environ)
    except ConfigError as e:
        for problem in e.problems:
            print(f"mrtfeed: {args.file}: {problem}", file=sys.stderr)
        return 1
    if args.print_config:
        sys.stdout.write(yaml.safe_dump(config_to_dict(config), sort_keys=False))
    else:
        print(f"{args.file}: ok", file=sys.stderr)
    return 0
