"""Run a filter over a shared file the way ``mrtfeed parse`` does, and read the
``bgpdump -m`` reference lines as the independent side of each comparison."""

from __future__ import annotations

from mrtfeed.pipeline.reader import ChunkReader
from mrtfeed.pipeline.work import ChunkWorker, WorkOptions
from tests.mrtdata import MRT_DIR, reference_lines

#: (type, peer IP, peer AS, prefix or state numbers) of a bgpdump -m line.
Key = tuple[str, ...]


def key(line: str) -> Key:
    fields = line.rstrip("\n").split("|")
    return (fields[2], fields[3], fields[4], *fields[5 : 7 if fields[2] == "STATE" else 6])


def filtered(name: str, expression: str) -> list[Key]:
    """The keys of the lines ``mrtfeed parse --filter EXPRESSION`` prints."""
    worker = ChunkWorker(WorkOptions(filter_expression=expression))
    text = b"".join(worker.process(chunk).text for chunk in ChunkReader(str(MRT_DIR / name)))
    return [key(line) for line in text.decode().splitlines()]


def reference(name: str) -> list[list[str]]:
    """The reference lines of a file, split into fields."""
    return [line.rstrip("\n").split("|") for line in reference_lines(name)]


def expected(name: str, keep: object) -> list[Key]:
    """The keys of the reference lines for which ``keep(fields)`` is true."""
    assert callable(keep)
    return [key("|".join(f)) for f in reference(name) if keep(f)]
