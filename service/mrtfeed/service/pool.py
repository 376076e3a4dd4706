"""The parser pool: worker processes that decode, filter and encode chunks.

Wrapped so the parent can see how busy the pool is (``mrtfeed_workers_busy``,
``mrtfeed_queue_depth{queue="chunks"}``) without any counting inside the workers, and
so a pool broken by a dying worker (OOM kill, segfault) is replaced instead of failing
every later file.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import Connection
from typing import Any, ParamSpec, TypeVar

from mrtfeed.observe.metrics import ServiceMetrics
from mrtfeed.pipeline.gcpolicy import tune_gc
from mrtfeed.pipeline.interrupts import ignore_interrupts
from mrtfeed.pipeline.orphans import ParentWatch, exit_with_parent

__all__ = ["BrokenProcessPool", "ParserPool"]

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")


def _init_worker(parent: tuple[Connection, Connection]) -> None:
    """A worker decodes (see gcpolicy), ends with the service (a killed service
    left its workers and forkserver behind) and leaves Ctrl-C to the service's
    graceful stop (:mod:`mrtfeed.pipeline.interrupts`)."""
    ignore_interrupts()
    exit_with_parent(parent)
    tune_gc()


class ParserPool(Executor):
    """A ``ProcessPoolExecutor`` of ``workers`` processes that counts tasks in flight."""

    def __init__(self, workers: int, metrics: ServiceMetrics | None = None) -> None:
        self.workers = workers
        self.metrics = metrics
        self._lock = threading.Lock()
        self._inflight = 0
        #: The most chunks ever in the pool at once (the bound the queues promise).
        self.max_inflight = 0
        # forkserver: workers do not inherit the parent's event loop, sockets or SQLite.
        self._context = multiprocessing.get_context("forkserver")
        self._watch = ParentWatch(self._context)
        self._pool = self._new_pool()
        if metrics is not None:
            metrics.workers.set(workers)

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=self._context,
            initializer=_init_worker,
            initargs=(self._watch.ends,),
        )

    @property
    def inflight(self) -> int:
        return self._inflight

    def _update(self, delta: int) -> None:
        with self._lock:
            self._inflight += delta
            n = self._inflight
            self.max_inflight = max(self.max_inflight, n)
        if self.metrics is not None:
            self.metrics.queue_depth.labels("chunks").set(n)
            self.metrics.workers_busy.set(min(n, self.workers))

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        try:
            future = self._pool.submit(fn, *args, **kwargs)
        except BrokenProcessPool:
            self.renew()
            future = self._pool.submit(fn, *args, **kwargs)
        self._update(+1)
        future.add_done_callback(lambda _f: self._update(-1))
        return future

    def renew(self) -> None:
        """Replace a broken pool (a worker died); its pending tasks have failed already."""
        log.warning("parser pool broken (a worker died); starting new workers")
        old = self._pool
        self._pool = self._new_pool()
        old.shutdown(wait=False, cancel_futures=True)

    @property
    def broken(self) -> bool:
        return bool(getattr(self._pool, "_broken", False))

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)

    def terminate(self, grace: float = 5.0) -> None:
        """Stop: cancel queued chunks, let workers finish the chunk in hand (at most
        ``grace`` seconds), kill the ones still busy.

        Killing at once left the pool's task-queue feeder thread blocked on a full pipe
        now and then (chunks are larger than a pipe buffer), and the interpreter waits
        for that thread at exit: the process hung after "mrtfeed stopped".
        """
        pool = self._pool
        procs: dict[Any, Any] = dict(getattr(pool, "_processes", None) or {})
        pool.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + grace
        for proc in procs.values():
            proc.join(timeout=max(0.0, deadline - time.monotonic()))
        stuck = [proc for proc in procs.values() if proc.is_alive()]
        for proc in stuck:
            proc.kill()
        for proc in stuck:
            proc.join(timeout=5)
        if stuck:
            call_queue = getattr(pool, "_call_queue", None)
            if call_queue is not None:
                call_queue.cancel_join_thread()
