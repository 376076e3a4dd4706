"""Ctrl-C belongs to the parent, not to its pool workers.

A terminal sends SIGINT to every process of its foreground group: the parent and each
pool worker. In a worker it raised ``KeyboardInterrupt`` wherever the worker was: an
idle one died printing a traceback, a busy one sent the exception back as its task's
result, which ``mrtfeed run`` then raised as its own (a traceback and exit status
-2 instead of the graceful stop its SIGINT handler starts), and one interrupted inside
a lock or condition shared with the other workers could leave them waiting. So
workers ignore SIGINT, and the parent stops them: ``mrtfeed parse`` stops the output
turns and cancels what is queued, ``mrtfeed run`` drains its pool as on SIGTERM.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def interrupts_held() -> Iterator[None]:
    """In the parent, around the fork of pool workers: a SIGINT arriving meanwhile
    waits, instead of interrupting a child before :func:`ignore_interrupts` runs in it
    (a child inherits the forking thread's signal mask). The parent gets it on leaving."""
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def ignore_interrupts() -> None:
    """In a pool worker (its initializer): SIGINT no longer reaches it, and a SIGINT
    held since the fork (see :func:`interrupts_held`) is dropped."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
