"""Persistent state: which files are done, per-file checkpoints, small settings.

SQLite (stdlib) is the default because the daemon must survive restarts
without an external service, and a single local file is easy to back up.
Each mutation commits on its own so that a crash loses at most the file being
processed — which is then processed again, never skipped.

The store is used from one thread (the event loop); every call is a short
local transaction, far cheaper than the HTTP round trips around it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from mrtfeed.archive.model import FileId, Kind, Project, utc

__all__ = ["MemoryStateStore", "SqliteStateStore", "StateStore", "StateStoreError"]


class StateStoreError(RuntimeError):
    """The state database cannot be opened or has an unexpected layout."""


class StateStore(Protocol):
    """What the fetcher and the decoder need from persistent state."""

    def is_done(self, file_id: FileId) -> bool: ...

    def mark_done(self, file_id: FileId, size: int | None = None) -> None: ...

    def done_times(
        self, project: Project, collector: str, kind: Kind, start: datetime, end: datetime
    ) -> list[datetime]: ...

    def save_checkpoint(self, file_id: FileId, blob: bytes) -> None: ...

    def load_checkpoint(self, file_id: FileId) -> bytes | None: ...

    def get_setting(self, key: str) -> str | None: ...

    def set_setting(self, key: str, value: str) -> None: ...

    def close(self) -> None: ...


def _ts(dt: datetime) -> int:
    return int(utc(dt).timestamp())


_SCHEMA = """
CREATE TABLE IF NOT EXISTS done_files (
    file_key  TEXT PRIMARY KEY,
    project   TEXT NOT NULL,
    collector TEXT NOT NULL,
    kind      TEXT NOT NULL,
    nominal   INTEGER NOT NULL,
    size      INTEGER,
    done_at   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS done_files_series
    ON done_files (project, collector, kind, nominal);
CREATE TABLE IF NOT EXISTS checkpoints (
    file_key TEXT PRIMARY KEY,
    blob     BLOB NOT NULL,
    saved_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


class SqliteStateStore:
    """SQLite-backed :class:`StateStore`. ``path`` may be ``":memory:"``."""

    def __init__(self, path: str | Path) -> None:
        try:
            if str(path) != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as e:
            raise StateStoreError(f"cannot open state database {path}: {e}") from None

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def is_done(self, file_id: FileId) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM done_files WHERE file_key = ?", (file_id.key,)
        ).fetchone()
        return row is not None

    def mark_done(self, file_id: FileId, size: int | None = None) -> None:
        """Record a file as processed and drop its checkpoint, atomically."""
        now = int(datetime.now(UTC).timestamp())
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO done_files VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    file_id.key,
                    file_id.project.value,
                    file_id.collector,
                    file_id.kind.value,
                    _ts(file_id.nominal),
                    size,
                    now,
                ),
            )
            db.execute("DELETE FROM checkpoints WHERE file_key = ?", (file_id.key,))

    def done_times(
        self, project: Project, collector: str, kind: Kind, start: datetime, end: datetime
    ) -> list[datetime]:
        """Nominal times of done files of one series in [start, end), ascending."""
        rows = self._db.execute(
            "SELECT nominal FROM done_files WHERE project = ? AND collector = ? AND kind = ?"
            " AND nominal >= ? AND nominal < ? ORDER BY nominal",
            (project.value, collector, kind.value, _ts(start), _ts(end)),
        ).fetchall()
        return [datetime.fromtimestamp(r[0], UTC) for r in rows]

    def save_checkpoint(self, file_id: FileId, blob: bytes) -> None:
        """Store an opaque resume point for a file that is being processed."""
        now = int(datetime.now(UTC).timestamp())
        self._db.execute(
            "INSERT OR REPLACE INTO checkpoints VALUES (?, ?, ?)", (file_id.key, blob, now)
        )

    def load_checkpoint(self, file_id: FileId) -> bytes | None:
        row = self._db.execute(
            "SELECT blob FROM checkpoints WHERE file_key = ?", (file_id.key,)
        ).fetchone()
        return None if row is None else bytes(row[0])

    def get_setting(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_setting(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO settings VALUES (?, ?)", (key, value))

    def close(self) -> None:
        self._db.close()


class MemoryStateStore:
    """In-memory :class:`StateStore` for tests and one-shot runs."""

    def __init__(self) -> None:
        self.done: dict[FileId, int | None] = {}
        self.checkpoints: dict[FileId, bytes] = {}
        self.settings: dict[str, str] = {}

    def is_done(self, file_id: FileId) -> bool:
        return file_id in self.done

    def mark_done(self, file_id: FileId, size: int | None = None) -> None:
        self.done[file_id] = size
        self.checkpoints.pop(file_id, None)

    def done_times(
        self, project: Project, collector: str, kind: Kind, start: datetime, end: datetime
    ) -> list[datetime]:
        start, end = utc(start), utc(end)
        return sorted(
            f.nominal
            for f in self.done
            if (f.project, f.collector, f.kind) == (project, collector, kind)
            and start <= f.nominal < end
        )

    def save_checkpoint(self, file_id: FileId, blob: bytes) -> None:
        self.checkpoints[file_id] = blob

    def load_checkpoint(self, file_id: FileId) -> bytes | None:
        return self.checkpoints.get(file_id)

    def get_setting(self, key: str) -> str | None:
        return self.settings.get(key)

    def set_setting(self, key: str, value: str) -> None:
        self.settings[key] = value

    def close(self) -> None:
        return None
