"""A one-line progress display on stderr, for humans at a terminal only."""

from __future__ import annotations

import time
from typing import Protocol, TextIO

from mrtfeed.decode.decoder import DecoderStats


class Source(Protocol):
    """What the display reads of a file's reader."""

    @property
    def size(self) -> int | None: ...
    @property
    def bytes_in(self) -> int: ...


class Progress:
    """Redraws ``file: 42% 1.2M records 3.4M events`` at most five times a second."""

    def __init__(self, stream: TextIO | None) -> None:
        self.stream = stream
        self._reader: Source | None = None
        self._path = ""
        self._records = 0
        self._events = 0
        self._last = 0.0

    @classmethod
    def for_stream(cls, stream: TextIO, mode: str) -> Progress:
        enabled = mode == "always" or (mode == "auto" and stream.isatty())
        return cls(stream if enabled else None)

    def start(self, path: str, reader: Source) -> None:
        self._path, self._reader = path, reader
        self._records = self._events = 0

    def update(self, stats: DecoderStats) -> None:
        if self.stream is None:
            return
        self._records += sum(stats.records.values())
        self._events += sum(stats.events.values())
        now = time.monotonic()
        if now - self._last < 0.2:
            return
        self._last = now
        reader = self._reader
        share = ""
        if reader is not None and reader.size:
            share = f" {100 * reader.bytes_in / reader.size:3.0f}%"
        self.stream.write(
            f"\r{self._path}:{share} {self._records:,} records {self._events:,} events\x1b[K"
        )
        self.stream.flush()

    def finish(self) -> None:
        if self.stream is not None and self._last:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._last = 0.0
