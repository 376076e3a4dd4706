"""Pool workers writing their chunks' output themselves, in stream order.

With ``mrtfeed parse --jobs N`` the parent decompresses and cuts chunks. Sending each
chunk's output back to it (58 MB of lines for the jinx RIB: a pickle, a pipe and an
unpickle) only for it to write them cost about a tenth of the wall time (``-j 2`` into
/dev/null, interleaved best of 7: 1.53 s against 1.36 s on the jinx RIB, 0.55 s
against 0.50 s on updates.20190101.0000). Instead every worker writes to the
inherited output descriptor when its chunk's turn has come, and the parent gets the
counts and errors alone. A turn is the chunk's place in the stream: the worker of
chunk ``n`` waits until chunk ``n - 1`` is written. That cannot deadlock: chunks reach
the workers in stream order, so every earlier chunk is already in a worker's hands,
and its turn comes whatever the parent does.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from multiprocessing.context import BaseContext

#: The value of the next turn once nothing more is to be done (damage, a failed
#: write, a broken relay): every worker still waiting gives up.
STOPPED = -1


class OutputError(Exception):
    """Writing the output failed (a full disk, an I/O error): the run stops, and the
    error is the output's, not the file's being read. A closed pipe stays a
    ``BrokenPipeError``: the reader went away, which is no error at all."""


@contextmanager
def output_errors() -> Iterator[None]:
    """Around writes to the output, in a worker or the parent: their errors are the
    output's (:class:`OutputError`), not the input file's; a closed pipe stays itself."""
    try:
        yield
    except BrokenPipeError:
        raise
    except OSError as e:
        raise OutputError(e.strerror or str(e)) from None


class Turns:
    """Whose turn it is, shared by the parent and the workers of one pool (made before
    the pool, inherited by its workers). Turns count from 0; only the holder of the
    current turn acts, then hands it on (or stops every later one)."""

    def __init__(self, context: BaseContext) -> None:
        self._condition = context.Condition()
        self._next = context.RawValue("q", 0)

    @property
    def current(self) -> int:
        """The turn that may act now (:data:`STOPPED` once stopped)."""
        return int(self._next.value)

    def wait(self, turn: int) -> bool:
        """Wait until turn ``turn`` has come; False when the turns stopped before it."""
        next_turn = self._next
        with self._condition:
            self._condition.wait_for(lambda: next_turn.value in (turn, STOPPED))
            return bool(next_turn.value != STOPPED)

    def hand_on(self, turn: int) -> None:
        """After turn ``turn``: the next one may act, unless the turns stopped
        meanwhile. Overwriting a stop (Ctrl-C while a worker finished its turn) let
        turn ``turn + 1`` come after its worker had seen the stop and given up, so the
        later workers, and the parent waiting for them, waited for ever."""
        with self._condition:
            if self._next.value == turn:
                self._next.value = turn + 1
                self._condition.notify_all()

    def stop(self) -> None:
        """No turn acts any more: the ones waiting give up."""
        with self._condition:
            self._next.value = STOPPED
            self._condition.notify_all()


class OutputTurns:
    """Output written in turns by the workers of one pool (made before the pool,
    inherited by its workers).

    ``fd`` is the descriptor the output goes to, shared by every process: one
    file offset, so the writes land one after the other.
    """

    def __init__(self, context: BaseContext, fd: int) -> None:
        self.fd = fd
        self._turns = Turns(context)

    def write(self, turn: int, data: bytes, *, last: bool = False) -> bool:
        """Write ``data`` once turn ``turn`` has come (turns count from 0), then hand the
        turn on; ``last``: no turn after this one (the chunk ended in damage). False:
        the output stopped before this turn, nothing written. A failed write stops
        the output and raises (a closed pipe: ``BrokenPipeError``; any other error:
        :class:`OutputError`)."""
        turns = self._turns
        if not turns.wait(turn):
            return False
        try:
            with output_errors():
                _write_all(self.fd, data)
        except BaseException:
            turns.stop()
            raise
        if last:
            turns.stop()
        else:
            turns.hand_on(turn)
        return True

    def stop(self) -> None:
        """Nothing more is written: the workers waiting for a turn give up, and so do
        the ones whose turn had not come yet (the parent was interrupted)."""
        self._turns.stop()


def _write_all(fd: int, data: bytes) -> None:
    """``os.write`` until all of ``data`` is out (a pipe may take part of it)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
