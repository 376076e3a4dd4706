"""Filters: the expression language, bgpscanner flags, and AS-path loop classes.

``compile_filter(expression)`` gives an :class:`EventFilter`; its ``matches(event,
collector)`` decides per event and its ``early`` hook lets the decoder skip records and
RIB entries before decoding their attributes. ``filter_from_bgpscanner`` turns parsed
bgpscanner flags into an expression (a string, so worker processes can compile it).
"""

from mrtfeed.filter.bgpscanner import (
    BgpscannerFlags,
    ConflictingFlags,
    bgpscanner_expression,
    filter_from_bgpscanner,
)
from mrtfeed.filter.engine import EarlyFilter, EventFilter, compile_filter
from mrtfeed.filter.syntax import FilterSyntaxError

__all__ = [
    "BgpscannerFlags",
    "ConflictingFlags",
    "EarlyFilter",
    "EventFilter",
    "FilterSyntaxError",
    "bgpscanner_expression",
    "compile_filter",
    "filter_from_bgpscanner",
]
