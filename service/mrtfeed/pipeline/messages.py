"""Chunks to sink messages: decode, filter, encode and raise alerts inside the workers.

This is the service's unit of work (``mrtfeed parse`` uses :mod:`.work`). Everything
per event happens here, in the worker processes, so the parent only forwards bytes
to the sink. Workers keep one :class:`MessageWorker` per file (its decoder caches and
encoder) and compile filter expressions themselves: only strings cross processes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from mrtfeed.decode.decoder import Decoder, DecoderStats
from mrtfeed.decode.errors import DecodeError
from mrtfeed.decode.events import Event, Flags, RouteEvent
from mrtfeed.decode.framing import Chunk
from mrtfeed.decode.lines import RibRows
from mrtfeed.encode.event import EventRows, PrefixList
from mrtfeed.pipeline.decoding import ChunkDecoder
from mrtfeed.sink.base import Message, SourceFile

ALERT_LOOP = "as_path_loop"
ALERT_UNSIGNALLED_ADDPATH = "unsignalled_addpath"


class EventPredicate(Protocol):
    """What the pipeline needs of a compiled filter (see :mod:`mrtfeed.filter`)."""

    def matches(self, event: Event, collector: str = "") -> bool: ...


def compile_expression(expression: str) -> EventPredicate | None:
    """The compiled filter, None for the empty expression (every event)."""
    if not expression.strip():
        return None
    from mrtfeed.filter import compile_filter

    predicate: EventPredicate = compile_filter(expression)
    return predicate


def _install_early_filter(decoder: Decoder, options: StreamOptions) -> None:
    """Let the decoder skip routes no destination wants (issue 4's early checks).

    Only when every event goes through some filter: the union of the expressions
    decides. Alerts look at every event, so with alerts on nothing is skipped.
    """
    if options.alert_loops or options.alert_unsignalled_addpath:
        return
    expressions = [options.events_filter, *(e for _, e, _ in options.filter_sets)]
    if not all(e.strip() for e in expressions):
        return
    from mrtfeed.filter import compile_filter

    union = compile_filter(" or ".join(f"({e})" for e in expressions))
    decoder.set_early_filter(union.early)


@dataclass(frozen=True)
class StreamOptions:
    """Where messages go and which events qualify; the same in every worker."""

    events_topic: str = "mrtfeed.events.v1"
    alerts_topic: str = "mrtfeed.alerts.v1"
    #: Filter expression for the events topic; "" = every event.
    events_filter: str = ""
    #: Named filter sets: (name, expression, topic).
    filter_sets: tuple[tuple[str, str, str], ...] = ()
    alert_loops: bool = True
    alert_unsignalled_addpath: bool = True


@dataclass
class ChunkMessages:
    """What one chunk produced: messages in order, counts, and where it stopped."""

    messages: list[Message]
    stats: DecoderStats
    #: Events by event type (all decoded events, before filtering).
    events: Counter[str] = field(default_factory=Counter)
    filter_matches: Counter[str] = field(default_factory=Counter)
    alerts: Counter[str] = field(default_factory=Counter)
    #: Stream position after the last record whose events are in ``messages``.
    next_offset: int = 0
    next_record_index: int = 0
    error: DecodeError | None = None


def alert_value(alert_type: str, detail: str, event_value: bytes) -> bytes:
    """An alert: its type and class, with the event that raised it embedded whole."""
    return (
        b'{"schema_version":1,"event_type":"alert","alert_type":"'
        + alert_type.encode()
        + b'","alert_class":'
        + (f'"{detail}"'.encode() if detail else b"null")
        + b',"event":'
        + event_value
        + b"}"
    )


def addpath_alert_pairs(
    events: Sequence[Event], pairs: Sequence[tuple[bytes, bytes]]
) -> list[tuple[bytes, bytes]]:
    """(key, value) of the first event of each UPDATE decoded with un-signalled
    ADD-PATH path ids: one alert per UPDATE."""
    out: list[tuple[bytes, bytes]] = []
    last_record = -1
    for event, pair in zip(events, pairs, strict=True):
        if (
            isinstance(event, RouteEvent)
            and event.flags & Flags.UNSIGNALLED_ADDPATH
            and event.record_index != last_record
        ):
            last_record = event.record_index
            out.append(pair)
    return out


class MessageRows(EventRows):
    """The schema-v1 encoder as a :class:`~mrtfeed.decode.lines.RowFormat` of sink
    messages: RIB entries become event-topic messages without RouteEvents (when no
    filter needs events).

    Per pass over a chunk it records the messages whose AS path loops and the alert
    pairs for un-signalled ADD-PATH, which :meth:`MessageWorker.process` turns into
    alerts.
    """

    def __init__(self, file: SourceFile, topic: str) -> None:
        super().__init__(
            project=file.project,
            collector=file.collector,
            file_kind=file.kind,
            file_timestamp=file.timestamp,
            file_url=file.url,
        )
        self.topic = topic
        #: (key, value, loop class) of this pass's events whose AS path loops.
        self.loops: list[tuple[bytes, bytes, str]] = []
        self.addpath: list[tuple[bytes, bytes]] = []

    def begin(self) -> None:
        self.loops = []
        self.addpath = []

    def rows_for(self, events: Sequence[Event]) -> list[Message]:
        pairs, positions = self.encode(events)
        for position, loop in zip(positions, self.loop_classes, strict=True):
            self.loops.append((*pairs[position], loop))
        if any(isinstance(e, RouteEvent) and e.flags & Flags.UNSIGNALLED_ADDPATH for e in events):
            self.addpath.extend(addpath_alert_pairs(events, pairs))
        topic = self.topic
        return [(topic, key, value, None) for key, value in pairs]

    def _rib_row(
        self,
        head: tuple[str, str, str],
        prefix: str,
        tail: tuple[str, str, str | None],
        originated: int,
        record_index: int,
        position: int,
    ) -> Message:
        """The message of a RIB entry: :meth:`EventEncoder.encode`'s bytes exactly."""
        key = f"{head[0]}{prefix}|0".encode()
        value = self.rib_value(head, prefix, tail, originated, record_index, position).encode()
        loop = tail[2]
        if loop is not None:
            self.loops.append((key, value, loop))
        return (self.topic, key, value, None)

    rib_row = _rib_row

    def prefix_rows(self, out: list[Message], key_head: str, prefixes: PrefixList) -> None:
        """Messages of an UPDATE's prefix list, looping announcements noted."""
        texts, ids, before, after, loop = prefixes
        start, topic = self._value_start, self.topic
        rows: list[Message] = [
            (topic, f"{key_head}{p}|0".encode(), f"{start}{i}{before}{p}{after}".encode(), None)
            for i, p in zip(ids, texts, strict=True)
        ]
        if loop is not None:
            self.loops.extend((key, value, loop) for _, key, value, _ in rows)
        out.extend(rows)


class MessageWorker:
    """Turns the chunks of one file into sink messages."""

    def __init__(self, file: SourceFile, options: StreamOptions) -> None:
        self.file = file
        self.options = options
        self.chunks = ChunkDecoder()
        self.decoder = self.chunks.decoder
        self.encoder = MessageRows(file, options.events_topic)
        self.events_filter = compile_expression(options.events_filter)
        self.filter_sets = [
            (name, predicate, topic)
            for name, expression, topic in options.filter_sets
            if (predicate := compile_expression(expression)) is not None
        ]
        _install_early_filter(self.decoder, options)
        #: Without filters every event becomes a message: RIB entries and plain UPDATEs
        #: skip RouteEvents.
        self.rows = (
            RibRows(self.encoder, updates=self.encoder)
            if self.events_filter is None and not self.filter_sets
            else None
        )

    def process(self, chunk: Chunk) -> ChunkMessages:
        encoder = self.encoder
        matches: Counter[str] = Counter()
        if self.rows is not None:
            messages, error = self.chunks.decode_rows(chunk, self.rows)
            loops, addpath = encoder.loops, encoder.addpath
        else:
            events, error = self.chunks.decode(chunk)
            messages, loops, addpath = self._messages(events, matches)
        if error is None:
            next_offset = chunk.first_offset + len(chunk.data)
            next_index = chunk.first_index + chunk.records
        else:
            # Stop at the damaged record: the checkpoint says everything before it is done.
            next_offset = error.offset if error.offset is not None else chunk.first_offset
            next_index = error.record_index if error.record_index is not None else chunk.first_index
        stats = self.decoder.stats
        result = ChunkMessages(messages, stats, Counter(stats.events), next_offset=next_offset)
        result.next_record_index = next_index
        result.error = error
        options = self.options
        if options.alert_loops and loops:
            topic = options.alerts_topic
            messages.extend(
                (topic, key, alert_value(ALERT_LOOP, loop, value), None)
                for key, value, loop in loops
            )
            result.alerts[ALERT_LOOP] += len(loops)
        if options.alert_unsignalled_addpath and addpath:
            topic = options.alerts_topic
            messages.extend(
                (topic, key, alert_value(ALERT_UNSIGNALLED_ADDPATH, "", value), None)
                for key, value in addpath
            )
            result.alerts[ALERT_UNSIGNALLED_ADDPATH] += len(addpath)
        result.filter_matches = matches
        return result

    def _messages(
        self, events: list[Event], matches_by_set: Counter[str]
    ) -> tuple[list[Message], list[tuple[bytes, bytes, str]], list[tuple[bytes, bytes]]]:
        """Event-topic and filter-set messages of decoded events (counting each set's
        matches), the looping events' (key, value, loop class) and the un-signalled
        ADD-PATH alert pairs."""
        encoder = self.encoder
        pairs, positions = encoder.encode(events)
        events_topic = self.options.events_topic
        collector = self.file.collector
        events_filter = self.events_filter
        messages: list[Message]
        if events_filter is None:
            messages = [(events_topic, key, value, None) for key, value in pairs]
        else:
            matches = events_filter.matches
            messages = [
                (events_topic, key, value, None)
                for event, (key, value) in zip(events, pairs, strict=True)
                if matches(event, collector)
            ]
        for name, predicate, topic in self.filter_sets:
            matches = predicate.matches
            selected: list[Message] = [
                (topic, key, value, None)
                for event, (key, value) in zip(events, pairs, strict=True)
                if matches(event, collector)
            ]
            matches_by_set[name] += len(selected)
            messages.extend(selected)
        loops = [
            (*pairs[position], loop)
            for position, loop in zip(positions, encoder.loop_classes, strict=True)
        ]
        addpath = (
            addpath_alert_pairs(events, pairs) if self.decoder.stats.unsignalled_addpath else []
        )
        return messages, loops, addpath


_workers: dict[tuple[str, StreamOptions], MessageWorker] = {}


def process_chunk(file: SourceFile, options: StreamOptions, chunk: Chunk) -> ChunkMessages:
    """Pool task (also called inline): this process's worker for the file does the chunk.

    Workers of finished files are dropped when a new file starts, so a long-running
    process holds the caches of a few files at most.
    """
    key = (file.key, options)
    worker = _workers.get(key)
    if worker is None:
        if len(_workers) >= 4:
            _workers.pop(next(iter(_workers)))
        worker = _workers[key] = MessageWorker(file, options)
    return worker.process(chunk)
