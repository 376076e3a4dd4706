"""Content-sniffed, incremental decompression (bz2 multi-stream, gzip multi-member, raw).

Archives are not trusted to have the right file name (mirrors rename, users pipe
through stdin), so the container is detected from its magic bytes. Concatenated
bz2 streams (pbzip2, lbzip2) and gzip members are followed to the end, the way
``bzip2 -d`` and ``gzip -d`` do. The stdlib ``bz2`` module is used: the ``bz2file``
backport adds nothing on Python ≥ 3.3.
"""

from __future__ import annotations

import bz2
import zlib
from typing import Literal, Protocol

from mrtfeed.decode.errors import DecodeError, TruncatedInputError

Compression = Literal["bz2", "gzip", "raw"]

_GZIP_MAGIC = b"\x1f\x8b"
_BZ2_MAGIC = b"BZh"


def sniff_compression(head: bytes) -> Compression:
    """Name the container from the first bytes of a file (at least 3 for certainty)."""
    if head.startswith(_GZIP_MAGIC):
        return "gzip"
    if head.startswith(_BZ2_MAGIC) and len(head) >= 4 and head[3:4] in b"123456789":
        return "bz2"
    return "raw"


class _Inner(Protocol):
    @property
    def eof(self) -> bool: ...
    @property
    def unused_data(self) -> bytes: ...
    def decompress(self, data: bytes, /) -> bytes: ...


def _new_inner(kind: Compression) -> _Inner:
    if kind == "bz2":
        return bz2.BZ2Decompressor()
    return zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)


class Decompressor:
    """Feed compressed chunks, get decompressed bytes; ``finish()`` checks completeness.

    The container is sniffed from the first bytes fed. ``bytes_in`` counts compressed
    bytes consumed, which the progress display uses.
    """

    def __init__(self, kind: Compression | None = None) -> None:
        self.kind: Compression | None = kind
        self._inner: _Inner | None = None
        self._pending = b""
        self._midstream = False
        self.bytes_in = 0

    def feed(self, chunk: bytes) -> bytes:
        """Decompress one chunk; raises :class:`DecodeError` on a corrupt container."""
        self.bytes_in += len(chunk)
        if self.kind is None:
            self._pending += chunk
            if len(self._pending) < 4 and chunk:
                return b""
            self.kind = sniff_compression(self._pending)
            chunk, self._pending = self._pending, b""
        if self.kind == "raw":
            return chunk
        out: list[bytes] = []
        data = chunk
        while data:
            if self._inner is None:
                if self._skip_padding(data):
                    return b"".join(out)
                self._inner = _new_inner(self.kind)
            try:
                out.append(self._inner.decompress(data))
            except (OSError, EOFError, ValueError, zlib.error) as exc:
                raise DecodeError(f"corrupt {self.kind} data: {exc}") from None
            self._midstream = not self._inner.eof
            if self._inner.eof:
                data = self._inner.unused_data
                self._inner = None
            else:
                data = b""
        return b"".join(out)

    def _skip_padding(self, data: bytes) -> bool:
        """True when what follows a finished stream is only zero padding (tar-style)."""
        return not data.strip(b"\x00")

    def finish(self) -> bytes:
        """Return what is still held back; raise :class:`TruncatedInputError` when the
        input ended inside a compressed stream."""
        if self.kind is None:
            self.kind = "raw"
            rest, self._pending = self._pending, b""
            return rest
        if self._midstream:
            raise TruncatedInputError(f"{self.kind} stream ends before its end-of-stream marker")
        return b""
