"""Quarantine: damaged or repeatedly failing files leave the pipeline, with a note why.

A service must never stop on one bad file, nor retry it forever; an operator should
still be able to look at it. The file goes to ``<state>/quarantine/`` with a JSON note
(identity, URL, reason, when) next to it.
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
    def __init__(self, folder: Path) -> None:
        self.folder = folder

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
        return dest
