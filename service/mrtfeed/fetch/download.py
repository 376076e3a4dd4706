"""Safe downloads: temporary file, length and stream checks, atomic rename.

A file is handed on only as a :class:`ReadyFile`, which exists only after
the body length matched ``Content-Length`` (and the exact listed size, when
the index showed one) and the compressed stream decoded to its end.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from mrtfeed.archive.model import FileId, RemoteFile
from mrtfeed.fetch.http import FetchError, HttpClient, IncompleteDownload
from mrtfeed.fetch.verify import Compression, CorruptFile, verify_file

__all__ = ["FileChanged", "ReadyFile", "download_file", "remove_partial_downloads"]

log = logging.getLogger(__name__)


class FileChanged(FetchError):
    """The server's copy differs in size from the one judged ready: wait again."""

    outcome = "changed"
    retryable = False


@dataclass(frozen=True)
class ReadyFile:
    """A complete, verified local copy of one archive file.

    ``path`` belongs to the fetcher: it is deleted after ``on_file`` returns
    unless the fetcher was configured to keep files.
    """

    file_id: FileId
    path: Path
    url: str
    name: str
    size: int
    sha256: str
    compression: Compression
    #: Why the archive's own copy is damaged (the same bytes came twice, damaged the
    #: same way); None for a whole file. The decoder keeps what precedes the damage,
    #: and the file is quarantined.
    damage: str | None = None


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _check(path: Path, name: str) -> tuple[Compression, str]:
    return verify_file(path, name), _digest(path)


def target_path(workdir: Path, remote: RemoteFile) -> Path:
    fid = remote.file_id
    return workdir / fid.project.value / fid.collector / remote.name


def remove_partial_downloads(workdir: Path, now: float, idle: float = 900.0) -> int:
    """Delete the temporary files of downloads that a killed process left under
    ``workdir``: those not written to for ``idle`` seconds before ``now`` (Unix
    time; a download in progress writes every few seconds at most, or times out).
    Returns how many. Their names are random, so no later attempt reuses or removes
    them: they piled up (a RIS bview is 1.5 GB)."""
    removed = 0
    for partial in workdir.rglob(".*.part"):
        with contextlib.suppress(FileNotFoundError):
            if partial.stat().st_mtime < now - idle:
                partial.unlink()
                removed += 1
    return removed


async def download_file(
    client: HttpClient,
    remote: RemoteFile,
    workdir: Path,
    *,
    expected_size: int | None = None,
) -> ReadyFile:
    """Download, verify and atomically place ``remote`` under ``workdir``.

    Truncated or damaged transfers are retried (rotating through mirrors)
    under the client's backoff policy; the temporary file never survives a
    failure. Raises FetchError (IncompleteDownload, FileChanged, NotFound, …).
    """
    final = target_path(workdir, remote)
    final.parent.mkdir(parents=True, exist_ok=True)
    urls = remote.urls
    #: sha256 -> damage of the downloads that failed verification.
    corrupt: dict[str, str] = {}

    async def attempt(n: int) -> ReadyFile:
        url = urls[n % len(urls)]
        tmp = final.with_name(f".{remote.name}.{secrets.token_hex(4)}.part")
        try:
            result = await client.download_once(url, tmp)
            if expected_size is not None and result.size != expected_size:
                raise FileChanged(url, f"size {result.size}, expected {expected_size}")
            damage = None
            try:
                compression, digest = await asyncio.to_thread(_check, tmp, remote.name)
            except CorruptFile as e:
                if e.kind is None:
                    raise IncompleteDownload(url, str(e), "corrupt") from None
                digest = await asyncio.to_thread(_digest, tmp)
                if corrupt.get(digest) != str(e):
                    corrupt[digest] = str(e)
                    raise IncompleteDownload(url, str(e), "corrupt") from None
                # The same bytes twice, damaged the same way: the archive's copy is
                # damaged, not the transfer. Fetching it again for ever (4 downloads an
                # attempt, a 1.5 GB bview included) would never end; its records before
                # the damage are still worth having.
                log.warning("%s is damaged on the archive itself: %s", remote.file_id, e)
                compression, damage = e.kind, str(e)
            os.replace(tmp, final)
            return ReadyFile(
                remote.file_id, final, url, remote.name, result.size, digest, compression, damage
            )
        finally:
            tmp.unlink(missing_ok=True)

    return await client.retrying(f"download {remote.file_id}", attempt)
