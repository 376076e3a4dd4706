"""Pool workers writing their output in stream order (:mod:`mrtfeed.pipeline.turns`),
in real forked processes writing to a real file descriptor."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from mrtfeed.pipeline.turns import OutputTurns

CONTEXT = multiprocessing.get_context("fork")
_turns: OutputTurns | None = None


def _init(turns: OutputTurns) -> None:
    global _turns
    _turns = turns


def _write(turn: int, data: bytes, last: bool) -> bool:
    assert _turns is not None
    return _turns.write(turn, data, last=last)


@pytest.fixture
def output(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    path = tmp_path / "out"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    yield path, fd
    os.close(fd)


def test_a_later_turn_waits_for_the_earlier_one(output: tuple[Path, int]) -> None:
    """Turn 1 reaches a worker first and blocks there until the other worker has
    written turn 0 (two workers: no deadlock, no sleep)."""
    path, fd = output
    turns = OutputTurns(CONTEXT, fd)
    with ProcessPoolExecutor(2, mp_context=CONTEXT, initializer=_init, initargs=(turns,)) as pool:
        second = pool.submit(_write, 1, b"second\n", False)
        first = pool.submit(_write, 0, b"first\n" * 50_000, False)
        assert first.result() and second.result()
    assert path.read_bytes() == b"first\n" * 50_000 + b"second\n"


def test_the_last_turn_stops_the_ones_after_it(output: tuple[Path, int]) -> None:
    path, fd = output
    turns = OutputTurns(CONTEXT, fd)
    with ProcessPoolExecutor(2, mp_context=CONTEXT, initializer=_init, initargs=(turns,)) as pool:
        later = pool.submit(_write, 1, b"after the damage\n", False)
        damaged = pool.submit(_write, 0, b"good part\n", True)
        assert damaged.result() is True
        assert later.result() is False
    assert path.read_bytes() == b"good part\n"


def test_a_failed_write_raises_and_stops_the_output() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody reads: the write fails with EPIPE
    try:
        turns = OutputTurns(CONTEXT, write_end)
        with pytest.raises(BrokenPipeError):
            turns.write(0, b"lost\n")
        assert turns.write(1, b"never written\n") is False
    finally:
        os.close(write_end)
