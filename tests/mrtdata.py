"""Where the shared real MRT files and their bgpdump references live (read-only)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

from mrtfeed.decode.framing import Record

ROOT = Path(__file__).resolve().parent.parent
MRT_DIR = (ROOT.parent / "shared" / "data" / "mrt").resolve()
REFERENCE_DIR = MRT_DIR / "reference"


def mrt_files() -> list[str]:
    """Names of every MRT file in the shared data folder."""
    return sorted(p.name for p in MRT_DIR.iterdir() if p.is_file() and p.name != "MANIFEST.md")


def reference_lines(name: str) -> list[str]:
    """The exact ``bgpdump -m`` output for a shared file, as lines with newlines."""
    plain = REFERENCE_DIR / f"{name}.bgpdump-m.txt"
    if plain.exists():
        return plain.read_text().splitlines(keepends=True)
    with gzip.open(REFERENCE_DIR / f"{name}.bgpdump-m.txt.gz", "rt") as handle:
        return handle.readlines()


def framed(record: Record, body: bytes | None = None) -> bytes:
    """A real record's bytes again (header and body), or with another ``body``."""
    body = record.body if body is None else body
    return struct.pack(">IHHI", record.timestamp, record.type, record.subtype, len(body)) + body
