"""Persistent state of done files and per-file checkpoints (SQLite by default)."""

from mrtfeed.state.store import MemoryStateStore, SqliteStateStore, StateStore, StateStoreError

__all__ = ["MemoryStateStore", "SqliteStateStore", "StateStore", "StateStoreError"]
