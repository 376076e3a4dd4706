"""``mrtfeed parse --format json``: the event schema of the service, one object per line.

The same :class:`~mrtfeed.encode.event.EventEncoder` produces the Kafka values, so
offline output and the live stream never drift apart (see docs/schema.md).
"""

from __future__ import annotations

from collections.abc import Sequence

from mrtfeed.decode.events import Event
from mrtfeed.encode.event import EventRows, event_ids


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
        announce, withdraw, end, withdraw_tail = heads
        value_end = self._update_value_end(record_index, end)
        sections: list[tuple[list[str], str, str]] = []
        if withdrawn:
            sections.append((withdrawn, withdraw, withdraw_tail))
        if nlri:
            assert nlri_tail is not None
            sections.append((nlri, announce, nlri_tail[0]))
        if reach is not None:
            sections.append((reach[0], announce, reach[1][0]))
        start = self._value_start
        number = record_index << 16
        for texts, head, tail in sections:
            before = f"{head}{peer[1]}"
            after = f'","path_id":null,{tail}{value_end}'
            ids = event_ids(number, len(texts))
            out.extend([f"{start}{i}{before}{p}{after}" for i, p in zip(ids, texts, strict=True)])
            number += len(texts)


class JsonEncoder:
    """JSON lines of schema-v1 events for a local file (no project or collector)."""

    def __init__(self, *, source: str = "") -> None:
        self.rows = JsonRows(file_url=source)

    def encode(self, events: Sequence[Event]) -> str:
        return "".join(self.rows.rows_for(events))
