"""Done-file state that also trusts the sink's checkpoints.

The fetcher's SQLite store is per replica. The sink's checkpoints are the truth about
what is committed, and with Kafka they are shared: after a scale-out handover, or with a
lost state folder, a file another process finished is known there but not here. Asking
the sink first saves downloading such a file only to find it done.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from mrtfeed.archive.model import FileId, Kind, Project
from mrtfeed.sink.base import Checkpoint
from mrtfeed.state.store import StateStore

__all__ = ["SinkAwareStore", "resume_points", "sink_key"]

_KINDS = frozenset(kind.value for kind in Kind)


def sink_key(file_id: FileId) -> str:
    """The sink's key of a file (``SourceFile.key``)."""
    return (
        f"{file_id.project.value}/{file_id.collector}/{file_id.kind.value}/"
        f"{int(file_id.nominal.timestamp())}"
    )


def resume_points(checkpoints: Mapping[str, Checkpoint]) -> dict[tuple[str, str], datetime]:
    """Per (project, collector), where its live feed goes on according to the sink:
    its newest file done or its oldest file left half-done, whichever is older.

    A pod whose state folder is new (an emptyDir, a replacement replica) starts the
    live feed at ``start: now``; without these, the files its predecessor left
    half-done or not yet published were outside its window, and never done."""
    unfinished: dict[tuple[str, str], datetime] = {}
    newest_done: dict[tuple[str, str], datetime] = {}
    for key, checkpoint in checkpoints.items():
        parts = key.split("/")
        if len(parts) != 4 or parts[2] not in _KINDS or not parts[3].isdigit():
            continue  # not a file's checkpoint (a stale-collector alert's, say)
        collector = (parts[0], parts[1])
        at = datetime.fromtimestamp(int(parts[3]), UTC)
        if checkpoint.done:
            newest_done[collector] = max(at, newest_done.get(collector, at))
        else:
            unfinished[collector] = min(at, unfinished.get(collector, at))
    points = dict(newest_done)
    for collector, at in unfinished.items():
        points[collector] = min(at, points.get(collector, at))
    return points


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
