"""Garbage-collector thresholds for processes that decode.

Decoding allocates hundreds of thousands of tuples per second (events, attribute
segments) and keeps large caches of immutable objects; none of it forms reference
cycles, so reference counting frees it all. CPython's default first-generation
threshold (700 allocations) still runs the cycle collector thousands of times per
file and walks the caches in older generations again and again: about a quarter of
a service worker's CPU on the jinx RIB. A threshold of 50,000 keeps cycle collection
(exceptions do make cycles) while making it rare.
"""

from __future__ import annotations

import gc


def tune_gc() -> None:
    """Raise the collector's thresholds in this process (pool initializer)."""
    gc.set_threshold(50_000, 20, 100)
