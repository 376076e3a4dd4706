"""Chunks to sink messages: decode, filter, encode and raise alerts inside the workers.

This is the service's unit of work (``mrtfeed parse`` uses :mod:`.work`). Everything
per event happens here, in the worker processes, so the parent only forwards bytes
to the sink. Workers keep one :class:`MessageWorker` per file (its decoder caches and
encoder) and compile filter expressions themselves: only strings cross processes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

from mrtfeed.decode.decoder import Decoder, DecoderStats
from mrtfeed.decode.errors import DecodeError
from mrtfeed.decode.events import Event, Flags, RouteEvent
from mrtfeed.decode.framing import Chunk
from mrtfeed.encode.event import EventEncoder
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


class MessageWorker:
    """Turns the chunks of one file into sink messages."""

    def __init__(self, file: SourceFile, options: StreamOptions) -> None:
        self.file = file
        self.options = options
        self.chunks = ChunkDecoder()
        self.decoder = self.chunks.decoder
        self.encoder = EventEncoder(
            project=file.project,
            collector=file.collector,
            file_kind=file.kind,
            file_timestamp=file.timestamp,
            file_url=file.url,
        )
        self.events_filter = compile_expression(options.events_filter)
        self.filter_sets = [
            (name, predicate, topic)
            for name, expression, topic in options.filter_sets
            if (predicate := compile_expression(expression)) is not None
        ]
        _install_early_filter(self.decoder, options)

    def process(self, chunk: Chunk) -> ChunkMessages:
        events, error = self.chunks.decode(chunk)
        if error is None:
            next_offset = chunk.first_offset + len(chunk.data)
            next_index = chunk.first_index + chunk.records
        else:
            # Stop at the damaged record: the checkpoint says everything before it is done.
            next_offset = error.offset if error.offset is not None else chunk.first_offset
            next_index = error.record_index if error.record_index is not None else chunk.first_index
        stats = self.decoder.stats
        result = ChunkMessages([], stats, Counter(stats.events), next_offset=next_offset)
        result.next_record_index = next_index
        result.error = error
        options = self.options
        encoder = self.encoder
        pairs, loops = encoder.encode(events)
        events_topic = options.events_topic
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
        result.messages = messages
        for name, predicate, topic in self.filter_sets:
            matches = predicate.matches
            selected: list[Message] = [
                (topic, key, value, None)
                for event, (key, value) in zip(events, pairs, strict=True)
                if matches(event, collector)
            ]
            result.filter_matches[name] += len(selected)
            messages.extend(selected)
        if options.alert_loops:
            for position, loop in zip(loops, encoder.loop_classes, strict=True):
                key, value = pairs[position]
                messages.append(
                    (options.alerts_topic, key, alert_value(ALERT_LOOP, loop, value), None)
                )
            if loops:
                result.alerts[ALERT_LOOP] += len(loops)
        if options.alert_unsignalled_addpath and stats.unsignalled_addpath:
            self._addpath_alerts(events, pairs, result)
        return result

    def _addpath_alerts(
        self, events: list[Event], pairs: list[tuple[bytes, bytes]], result: ChunkMessages
    ) -> None:
        """One alert per UPDATE decoded with un-signalled ADD-PATH path ids."""
        last_record = -1
        topic = self.options.alerts_topic
        for event, (key, value) in zip(events, pairs, strict=True):
            if (
                isinstance(event, RouteEvent)
                and event.flags & Flags.UNSIGNALLED_ADDPATH
                and event.record_index != last_record
            ):
                last_record = event.record_index
                result.alerts[ALERT_UNSIGNALLED_ADDPATH] += 1
                result.messages.append(
                    (topic, key, alert_value(ALERT_UNSIGNALLED_ADDPATH, "", value), None)
                )


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
