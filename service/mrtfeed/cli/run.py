"""``mrtfeed run --config FILE``: the long-running service.

SIGTERM and SIGINT start a graceful stop (see :mod:`mrtfeed.service.app`); a second
signal is not needed, the stop has its own deadline.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio
    import logging

    from mrtfeed.config import Config

# The service's imports (asyncio, aiohttp, yaml, logging...) wait until a service
# command runs: ``mrtfeed parse`` starts 0.1 s sooner without them.


def _log() -> logging.Logger:
    import logging

    return logging.getLogger("mrtfeed")


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c",
        "--config",
        metavar="FILE",
        default=os.environ.get("MRTFEED_CONFIG"),
        help="YAML config file (default: $MRTFEED_CONFIG; without one, defaults and "
        "MRTFEED_* environment overrides only)",
    )


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "run",
        help="run the service: follow the archives, stream events to the sink",
        description="Follow Route Views and RIPE RIS, decode every new file and write its "
        "events to the configured sink (JSON lines or Kafka). Serves /metrics, /livez, "
        "/healthz, /readyz and /status.",
    )
    add_config_argument(parser)
    parser.add_argument(
        "--shutdown-timeout",
        type=float,
        default=20.0,
        metavar="SECONDS",
        help="after SIGTERM, cancel work still running after this long (default 20)",
    )
    parser.set_defaults(func=run)


def load_or_report(path: str | None) -> Config | None:
    from mrtfeed.config import ConfigError, load_config

    try:
        return load_config(path)
    except ConfigError as e:
        for problem in e.problems:
            print(f"mrtfeed: config: {problem}", file=sys.stderr)
        return None


def install_stop_signals(stop: asyncio.Event) -> None:
    import asyncio

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):

        def handler(sig: signal.Signals = sig) -> None:
            _log().info("%s received: stopping", sig.name)
            stop.set()

        loop.add_signal_handler(sig, handler)


def run(args: argparse.Namespace) -> int:
    config = load_or_report(args.config)
    if config is None:
        return 1
    import asyncio

    from mrtfeed.service.app import Service, ServiceOptions
    from mrtfeed.service.logs import setup_logging

    setup_logging(config.log.level, config.log.format)

    async def main() -> int:
        service = Service(config, ServiceOptions(shutdown_timeout=args.shutdown_timeout))
        install_stop_signals(service.stop)
        return await service.run()

    try:
        return asyncio.run(main())
    except Exception as e:  # a start-up failure: one line, no traceback for users
        _log().critical("mrtfeed run failed: %s: %s", type(e).__name__, e)
        _log().debug("mrtfeed run failed", exc_info=True)
        return 1
