"""Quarantine: damaged or repeatedly failing files leave the pipeline, with a note why.

A service must never stop on one bad file, nor retry it forever; an operator should
still be able to look at it. The file goes to ``<state>/quarantine/`` with a JSON note
(identity, URL, reason, when) next to it. It keeps at most ``state.quarantine_max_bytes``
of files, the oldest removed first: it shares the state volume with the downloads in
flight, and a collector writing damaged files for days must not fill it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

from mrtfeed.fetch.download import ReadyFile

__all__ = ["Quarantine"]

log = logging.getLogger(__name__)


class Quarantine:
    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes

    def put(self, ready: ReadyFile, reason: str) -> Path:
        """Move ``ready.path`` into the quarantine folder; returns the new path."""
        fid = ready.file_id
        dest_dir = self.folder / fid.project.value / fid.collector
        dest_dir.mkdir(parents=True, exist_ok=True)
        dest = dest_dir / ready.name
        try:
            os.replace(ready.path, dest)
        except OSError:
            shutil.copyfile(ready.path, dest)  # another file system
        note = {
            "file": fid.key,
            "url": ready.url,
            "size": ready.size,
            "sha256": ready.sha256,
            "reason": reason,
            "quarantined_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        dest.with_name(dest.name + ".json").write_text(json.dumps(note, indent=1) + "\n")
        log.warning("quarantined %s as %s: %s", fid.key, dest, reason)
        self.prune(keep=dest)
        return dest

    def prune(self, keep: Path | None = None) -> list[Path]:
        """Remove the oldest files (with their notes) until the rest fit in ``max_bytes``.

        ``keep``, the file just quarantined, stays whatever its size: the operator
        alerted by it must find it. Returns the files removed.
        """
        if not self.folder.is_dir():
            return []
        held = [
            (_quarantined_at(path), path)
            for path in self.folder.rglob("*")
            if path != keep and path.is_file() and not path.name.endswith(".json")
        ]
        total = sum(path.stat().st_size for _, path in held)
        if keep is not None:
            total += keep.stat().st_size
        removed = []
        for _, path in sorted(held):
            if total <= self.max_bytes:
                break
            total -= path.stat().st_size
            path.unlink()
            path.with_name(path.name + ".json").unlink(missing_ok=True)
            removed.append(path)
            log.info("removed %s from the quarantine (state.quarantine_max_bytes)", path)
        return removed


def _quarantined_at(path: Path) -> float:
    """The note's mtime: when the file was quarantined (the file keeps its download's)."""
    try:
        return path.with_name(path.name + ".json").stat().st_mtime
    except FileNotFoundError:
        return path.stat().st_mtime
