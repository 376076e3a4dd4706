"""``mrtfeed parse --format json``: the event schema of the service, one object per line.

The same :class:`~mrtfeed.encode.event.EventEncoder` produces the Kafka values, so
offline output and the live stream never drift apart (see docs/schema.md).
"""

from __future__ import annotations

from collections.abc import Sequence

from mrtfeed.decode.events import Event
from mrtfeed.encode.event import EventRows


class JsonRows(EventRows):
    """JSON lines as a :class:`~mrtfeed.decode.lines.RowFormat`: RIB entries and plain
    UPDATEs become lines without RouteEvents (twice as fast on a RIB, a third less
    time on UPDATE files), other records' events go through
    :meth:`EventEncoder.encode`."""

    line_end = "\n"
    rib_row = EventRows.rib_value

    def begin(self) -> None:
        pass

    def rows_for(self, events: Sequence[Event]) -> list[str]:
        pairs, _ = self.encode(events)
        return [value.decode() + "\n" for _, value in pairs]

    def update_rows(
        self,
        out: list[str],
        record_index: int,
        heads: tuple[str, str, str, str],
        peer: tuple[str, str],
        withdrawn: list[str],
        nlri: list[str],
        nlri_tail: tuple[str, str | None] | None,
        reach: tuple[list[str], tuple[str, str | None]] | None,
    ) -> None:
        """The lines of a plain UPDATE record (see
        :class:`~mrtfeed.decode.update_lines.UpdateRowWriter`): the bytes
        :meth:`rows_for` gives for its events."""
        start = self._value_start
        for texts, ids, before, after, _ in self.update_sections(
            record_index, heads, peer[1], withdrawn, nlri, nlri_tail, reach
        ):
            out.extend([f"{start}{i}{before}{p}{after}" for i, p in zip(ids, texts, strict=True)])


class JsonEncoder:
    """JSON lines of schema-v1 events for a local file (no project or collector)."""

    def __init__(self, *, source: str = "") -> None:
        self.rows = JsonRows(file_url=source)

    def encode(self, events: Sequence[Event]) -> str:
        return "".join(self.rows.rows_for(events))
