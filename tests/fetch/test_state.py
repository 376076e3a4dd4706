"""The SQLite state store survives restarts and keeps checkpoints per file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mrtfeed.archive.model import FileId, Kind, Project
from mrtfeed.fetch.poller import StartPosition, live_start
from mrtfeed.state import MemoryStateStore, SqliteStateStore, StateStore, StateStoreError

T0 = datetime(2026, 7, 20, tzinfo=UTC)


def ids(n: int) -> list[FileId]:
    return [
        FileId(Project.RIS, "rrc00", Kind.UPDATES, T0 + timedelta(minutes=5 * i)) for i in range(n)
    ]


@pytest.mark.parametrize("kind", ["sqlite", "memory"])
def test_done_and_checkpoints(kind: str, tmp_path: Path) -> None:
    store: StateStore = (
        SqliteStateStore(tmp_path / "s.db") if kind == "sqlite" else MemoryStateStore()
    )
    a, b, c = ids(3)
    store.save_checkpoint(a, b"\x00offset=42")
    assert store.load_checkpoint(a) == b"\x00offset=42" and store.load_checkpoint(b) is None
    store.mark_done(a, 10)
    store.mark_done(c)
    assert store.is_done(a) and not store.is_done(b)
    assert store.load_checkpoint(a) is None  # done files need no resume point
    assert store.done_times(Project.RIS, "rrc00", Kind.UPDATES, T0, T0 + timedelta(hours=1)) == [
        a.nominal,
        c.nominal,
    ]
    assert store.done_times(Project.RIS, "rrc01", Kind.UPDATES, T0, T0 + timedelta(hours=1)) == []


def test_sqlite_survives_reopen(tmp_path: Path) -> None:
    a, b = ids(2)
    s1 = SqliteStateStore(tmp_path / "s.db")
    s1.mark_done(a)
    s1.save_checkpoint(b, b"half")
    s1.close()
    s2 = SqliteStateStore(tmp_path / "s.db")
    assert s2.is_done(a) and not s2.is_done(b) and s2.load_checkpoint(b) == b"half"


def test_unopenable_database_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StateStoreError, match="cannot open state database"):
        SqliteStateStore(bad)


def test_live_start_is_persisted_so_restarts_skip_nothing() -> None:
    store = MemoryStateStore()
    first = live_start(store, StartPosition.hours(2), T0)
    assert first == T0 - timedelta(hours=2)
    later = live_start(store, StartPosition.now(), T0 + timedelta(days=1))
    assert later == first
    reset = live_start(store, StartPosition.timestamp(T0), T0 + timedelta(days=1), reset=True)
    assert reset == T0
