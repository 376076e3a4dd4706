"""Record framing handed from worker to worker, for pools that decompress in the workers.

When every worker decompresses its own bz2 block (:mod:`mrtfeed.decode.bz2blocks`),
no process sees the whole stream, yet records straddle blocks and only the stream
read in order tells where one ends. So the framing is relayed: the worker of block
``n`` takes the :class:`~mrtfeed.decode.framing.RecordSplitter` state that block
``n - 1`` left (the unfinished record's bytes, its offset and index, the last peer
index table) and passes on the state its block leaves. It does not wait for that
state to decode: it decodes its block ahead from the first offset where records seem
to start, under the peer table of its last block
(:meth:`~mrtfeed.pipeline.work.ChunkWorker.decode_ahead`), and when its turn comes
only checks that guess against the state and decodes the record or two before it.
Should the guess be wrong, the block is cut at its turn and decoded then (3 ms
of cutting a block waited for the turn that way, and each block's record headers
were walked twice: cut, then decoded).

The state goes through a shared anonymous memory map made before the pool forks:
a pipe would block a worker whose successor is not yet running. The map is as
large as the largest state (two records of the largest length), but the kernel only
backs the pages a state touches.
"""

from __future__ import annotations

import mmap
import struct
from typing import TYPE_CHECKING

from mrtfeed.decode.framing import HEADER_SIZE, MAX_RECORD_LENGTH, RecordSplitter
from mrtfeed.pipeline.turns import Turns

if TYPE_CHECKING:
    from multiprocessing.context import BaseContext

#: offset, record index, unfinished bytes' length, peer index table's length (-1: none).
_STATE = struct.Struct("=qqqq")
#: An unfinished record and a peer index table, each as long as a record may be.
CAPACITY = 2 * (HEADER_SIZE + MAX_RECORD_LENGTH)


class FramingRelay:
    """The framing state and whose turn it is, shared by the parent and the workers
    of one pool (made before the pool, inherited by its forked workers)."""

    def __init__(self, context: BaseContext, capacity: int = CAPACITY) -> None:
        self._turns = Turns(context)
        self._shared = mmap.mmap(-1, _STATE.size + capacity)

    def take(self, turn: int) -> RecordSplitter | None:
        """Wait for turn ``turn`` (from 0) and return the framing state block
        ``turn - 1`` left; None when the relay stopped before this turn."""
        if not self._turns.wait(turn):
            return None
        return RecordSplitter() if turn == 0 else self._load()

    def give(self, turn: int, splitter: RecordSplitter) -> bool:
        """After :meth:`take` of ``turn``: store the state for the next block and hand
        the turn on. False (and the relay stopped) when the state does not fit."""
        rest, peer_index = splitter.pending(), splitter.peer_index
        peer_length = -1 if peer_index is None else len(peer_index)
        if _STATE.size + len(rest) + max(peer_length, 0) > len(self._shared):
            self.stop()
            return False
        shared = self._shared
        _STATE.pack_into(shared, 0, splitter.offset, splitter.index, len(rest), peer_length)
        start = _STATE.size
        shared[start : start + len(rest)] = rest
        if peer_index is not None:
            shared[start + len(rest) : start + len(rest) + peer_length] = peer_index
        self._turns.hand_on(turn)
        return True

    def stop(self) -> None:
        """Break the relay: the blocks still waiting give up."""
        self._turns.stop()

    def last_state(self, turns: int) -> RecordSplitter | None:
        """For the parent once all ``turns`` blocks are done: the state the last one
        left (None when the relay stopped)."""
        if self._turns.current != turns:
            return None
        return RecordSplitter() if turns == 0 else self._load()

    def _load(self) -> RecordSplitter:
        shared = self._shared
        offset, index, rest_length, peer_length = _STATE.unpack_from(shared, 0)
        start = _STATE.size
        rest = shared[start : start + rest_length]
        peer_index = None
        if peer_length >= 0:
            peer_index = shared[start + rest_length : start + rest_length + peer_length]
        return RecordSplitter.resume(rest, offset=offset, index=index, peer_index=peer_index)
