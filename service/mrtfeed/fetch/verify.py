"""Check that a downloaded file is whole before anyone processes it.

The archives publish no checksums. The gzip trailer (CRC-32 + length) and the
bzip2 end-of-stream marker (with its combined CRC) are the only integrity
evidence, so the whole compressed stream is decoded once and must end
cleanly. Multi-member gzip and multi-stream bzip2 are accepted.
"""

from __future__ import annotations

import bz2
import zlib
from pathlib import Path
from typing import BinaryIO, Literal, Protocol

__all__ = ["Compression", "CorruptFile", "sniff_compression", "verify_file"]

Compression = Literal["gzip", "bzip2", "none"]
_CHUNK = 1 << 20


class CorruptFile(ValueError):
    """The file's compressed stream is truncated or damaged."""


class _Decompressor(Protocol):
    @property
    def eof(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    def decompress(self, data: bytes, /) -> bytes: ...


def sniff_compression(head: bytes) -> Compression:
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[:3] == b"BZh":
        return "bzip2"
    return "none"


def _expected_compression(name: str) -> Compression | None:
    if name.endswith(".gz"):
        return "gzip"
    if name.endswith(".bz2"):
        return "bzip2"
    return None


def _new(kind: Compression) -> _Decompressor:
    if kind == "gzip":
        return zlib.decompressobj(wbits=31)  # gzip header + trailer checks
    return bz2.BZ2Decompressor()


def _decode_all(fh: BinaryIO, kind: Compression) -> bool:
    """Decode every member/stream; True when the last one ended cleanly."""
    dec = _new(kind)
    buf = fh.read(_CHUNK)
    while buf:
        if dec.eof:
            if not buf.strip(b"\0"):  # zero padding after the last member
                buf = fh.read(_CHUNK)
                continue
            dec = _new(kind)
        dec.decompress(buf)
        buf = dec.unused_data if dec.eof else b""
        if not buf:
            buf = fh.read(_CHUNK)
    return dec.eof


def verify_file(path: Path, name: str | None = None) -> Compression:
    """Decode the whole file; raise CorruptFile unless every stream ends cleanly.

    ``name`` (the archive file name) states the expected format, so an HTML
    error page served with status 200 for ``x.gz`` is caught too.
    """
    with path.open("rb") as fh:
        head = fh.read(4)
        kind = sniff_compression(head)
        expected = _expected_compression(name or path.name)
        if expected is not None and kind != expected:
            raise CorruptFile(f"expected {expected} data, found {kind}")
        if kind == "none":
            return kind
        fh.seek(0)
        try:
            whole = _decode_all(fh, kind)
        except (zlib.error, OSError, EOFError, ValueError) as e:
            raise CorruptFile(f"damaged {kind} stream: {e}") from None
        if not whole:
            raise CorruptFile(f"{kind} stream ends before its end-of-stream marker (truncated)")
        return kind
