"""The encoder interface shared by the CLI, the worker pool and the sinks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from mrtfeed.decode.events import Event

FORMATS = ("bgpdump", "bgpscanner", "json")


class Encoder(Protocol):
    """Turns a batch of events into output text; batches keep per-event calls out."""

    def encode(self, events: Sequence[Event]) -> str: ...


def make_encoder(name: str, *, large_communities: bool = False, source: str = "") -> Encoder:
    """Build the encoder named by ``-f/--format``."""
    if name == "bgpdump":
        from mrtfeed.encode.bgpdump import BgpdumpEncoder

        return BgpdumpEncoder(large_communities=large_communities)
    if name == "bgpscanner":
        from mrtfeed.encode.bgpscanner import BgpscannerEncoder

        return BgpscannerEncoder()
    if name == "json":
        from mrtfeed.encode.jsonl import JsonEncoder

        return JsonEncoder(source=source)
    raise ValueError(f"unknown output format {name!r} (choose from {', '.join(FORMATS)})")
