"""Pool workers that end with the process that started them.

A ``ProcessPoolExecutor`` worker waits for its next task on a pipe it holds both ends
of, so when its parent dies without shutting the pool down (SIGKILL, the OOM killer)
it waits forever, and so does a forkserver, which every worker keeps alive: a killed
``mrtfeed run`` left its forkserver and workers behind (seen after the scale-out test
that kills a replica). Each worker therefore watches a pipe whose write end only the
parent holds, and exits when that pipe reaches its end.
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.context import BaseContext

#: A worker's exit status when its parent is gone.
ORPHANED = 70


class ParentWatch:
    """Made by the parent before its pools; :attr:`ends` go to each worker's
    initializer, which passes them to :func:`exit_with_parent`."""

    def __init__(self, context: BaseContext) -> None:
        read_end, write_end = context.Pipe(duplex=False)
        #: The read end, and the write end (only a forked worker inherits it, and
        #: closes its copy; a forkserver or spawned worker gets it sent and does too).
        self.ends = (read_end, write_end)


def exit_with_parent(ends: tuple[Connection, Connection]) -> None:
    """In a worker: close this process's copy of the write end, then exit as soon as
    the read end is at its end, that is, once the parent's copy is gone."""
    read_end, write_end = ends
    write_end.close()
    threading.Thread(target=_wait_for_end, args=(read_end,), daemon=True).start()


def _wait_for_end(read_end: Connection) -> None:
    # Nothing is ever sent: the read ends (EOFError) when the parent's write end closes.
    with contextlib.suppress(EOFError, OSError):
        read_end.recv_bytes()
    os._exit(ORPHANED)
