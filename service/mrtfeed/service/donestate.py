"""Done-file state that also trusts the sink's checkpoints.

The fetcher's SQLite store is per replica. The sink's checkpoints are the truth about
what is committed, and with Kafka they are shared: after a scale-out handover, or with a
lost state folder, a file another process finished is known there but not here. Asking
the sink first saves downloading such a file only to find it done.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from mrtfeed.archive.model import FileId, Kind, Project
from mrtfeed.sink.base import Checkpoint
from mrtfeed.state.store import StateStore

__all__ = ["SinkAwareStore", "sink_key"]


def sink_key(file_id: FileId) -> str:
    """The sink's key of a file (``SourceFile.key``)."""
    return (
        f"{file_id.project.value}/{file_id.collector}/{file_id.kind.value}/"
        f"{int(file_id.nominal.timestamp())}"
    )


class SinkAwareStore:
    """A :class:`StateStore` whose ``is_done`` is also true for files done in the sink.

    ``checkpoints`` is the sink's live mapping of committed checkpoints by file key.
    """

    def __init__(self, store: StateStore, checkpoints: Mapping[str, Checkpoint]) -> None:
        self.store = store
        self.checkpoints = checkpoints

    def is_done(self, file_id: FileId) -> bool:
        if self.store.is_done(file_id):
            return True
        cp = self.checkpoints.get(sink_key(file_id))
        return cp is not None and cp.done

    def mark_done(self, file_id: FileId, size: int | None = None) -> None:
        self.store.mark_done(file_id, size)

    def done_times(
        self, project: Project, collector: str, kind: Kind, start: datetime, end: datetime
    ) -> list[datetime]:
        return self.store.done_times(project, collector, kind, start, end)

    def save_checkpoint(self, file_id: FileId, blob: bytes) -> None:
        self.store.save_checkpoint(file_id, blob)

    def load_checkpoint(self, file_id: FileId) -> bytes | None:
        return self.store.load_checkpoint(file_id)

    def get_setting(self, key: str) -> str | None:
        return self.store.get_setting(key)

    def set_setting(self, key: str, value: str) -> None:
        self.store.set_setting(key, value)

    def close(self) -> None:
        self.store.close()
