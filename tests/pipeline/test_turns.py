"""Pool workers writing their output in stream order (:mod:`mrtfeed.pipeline.turns`),
in real forked processes writing to a real file descriptor."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from mrtfeed.pipeline.turns import STOPPED, OutputTurns, Turns

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


def test_a_stop_outlives_the_hand_on_of_the_turn_in_progress() -> None:
    """Ctrl-C under `-j 3`: the parent stopped the turns while the worker of turn 1
    finished it; its hand-on set turn 2 over the stop, after turn 2's worker had seen
    the stop and given up, so the workers of turns 3 and on, and the parent, waited
    for ever (2 hangs in 12 interrupts in a review)."""
    turns = Turns(CONTEXT)
    turns.hand_on(0)
    turns.stop()  # the parent, interrupted, while turn 1 is in progress
    turns.hand_on(1)  # its worker finishes
    assert turns.current == STOPPED
    assert turns.wait(3) is False  # returns: a later worker gives up
    turns.hand_on(5)  # nor does a stray hand-on of another turn move it
    assert turns.current == STOPPED
