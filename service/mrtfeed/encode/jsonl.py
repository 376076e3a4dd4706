"""``mrtfeed parse --format json``: the event schema of the service, one object per line.

The same :class:`~mrtfeed.encode.event.EventEncoder` produces the Kafka values, so
offline output and the live stream never drift apart (see docs/schema.md).
"""

from __future__ import annotations

from collections.abc import Sequence

from mrtfeed.decode.events import Event
from mrtfeed.encode.event import EventEncoder


class JsonEncoder:
    """JSON lines of schema-v1 events for a local file (no project or collector)."""

    def __init__(self, *, source: str = "") -> None:
        self._encoder = EventEncoder(file_url=source)

    def encode(self, events: Sequence[Event]) -> str:
        pairs, _ = self._encoder.encode(events)
        return "".join([value.decode() + "\n" for _, value in pairs])
