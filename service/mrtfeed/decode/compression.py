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
from collections.abc import Iterator
from typing import Literal, Protocol

from mrtfeed.decode.bz2blocks import BLOCK_MAGIC, END_MAGIC
from mrtfeed.decode.errors import DecodeError, TruncatedInputError

Compression = Literal["bz2", "gzip", "raw"]

#: gzip's magic and its one compression method (deflate).
_GZIP_MAGIC = b"\x1f\x8b\x08"
_BZ2_MAGIC = b"BZh"
#: What follows a bz2 stream header: a block's magic, or an empty stream's end marker.
_BZ2_NEXT = (BLOCK_MAGIC.to_bytes(6, "big"), END_MAGIC.to_bytes(6, "big"))
#: Bytes that :func:`sniff_compression` needs to be sure.
SNIFF_SIZE = 10


def sniff_compression(head: bytes) -> Compression:
    """Name the container from the first :data:`SNIFF_SIZE` bytes of a file.

    Magic numbers alone are not enough: an uncompressed MRT file starts with a
    timestamp, and "BZh1" to "BZh9" are nine seconds of 2005-04-11 (12:06:09 to 17
    UTC). In a real bz2 stream a block magic follows, which would be an MRT type no
    collector writes. (gzip's magic is a time of 1986, before BGP-4; its method byte
    is checked all the same.)"""
    if head.startswith(_GZIP_MAGIC):
        return "gzip"
    if head.startswith(_BZ2_MAGIC) and head[3:4] in b"123456789" and head[4:10] in _BZ2_NEXT:
        return "bz2"
    return "raw"


def _compressed_stub(head: bytes) -> Compression | None:
    """Name the container whose header a file shorter than :data:`SNIFF_SIZE` begins.

    Such a file is cut short whatever it is (an MRT header alone is 12 bytes), but
    "ends inside an MRT header" misleads about a download cut after 3 bytes of gzip."""
    if head and _GZIP_MAGIC.startswith(head[:3]):
        return "gzip"
    digit = head[3:4]
    if (
        head
        and _BZ2_MAGIC.startswith(head[:3])
        and digit in b"123456789"
        and any(magic.startswith(head[4:]) for magic in _BZ2_NEXT)
    ):
        return "bz2"
    return None


#: Most decompressed bytes one :meth:`Decompressor.feed` piece holds. Without a
#: bound, 337 bytes of bz2 (400 MB of zeros) came out as one 400 MB piece: memory
#: grew with the content, not the input. 2 MiB is what a 256 KiB read of a RIB
#: gives anyway; smaller pieces cost time with bz2, whose 3.6 MB of state leaves the
#: CPU caches between pieces (256 KiB pieces: +0.2 s on the jinx RIB).
PIECE_SIZE = 1 << 21
#: Most bz2 output held back until its blocks' CRCs are checked. A block of MRT data
#: is a few MB at most; a block of one repeated byte can be 45 MB, so a bomb still
#: runs in bounded memory (its unchecked output passes on beyond this).
_UNCHECKED_LIMIT = 64 << 20
#: Compressed bytes given to the bz2 decompressor at a time: less than a compressed
#: block of MRT data (100 kB and more), so that every block's output is passed on
#: before the next block's damage is found.
_BZ2_SLICE = 16 << 10


class _Inner(Protocol):
    @property
    def eof(self) -> bool: ...
    @property
    def unused_data(self) -> bytes: ...
    def decompress(self, data: bytes, /, max_length: int = ...) -> bytes: ...


_ZLIB_DECOMPRESS = type(zlib.decompressobj())


def _output_before_damage(inflater: _Inner, data: bytes) -> Iterator[bytes]:
    """What a failed zlib call had inflated before it met the damage: ``data`` again,
    a byte at a time, into a copy of the decompressor from before that call (a
    byte of deflate input gives a few kB at most). Only damaged files pay."""
    for at in range(len(data)):
        try:
            piece = inflater.decompress(data[at : at + 1])
        except zlib.error:
            return
        if piece:
            yield piece


def _new_inner(kind: Compression) -> _Inner:
    if kind == "bz2":
        return bz2.BZ2Decompressor()
    return zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)


class Decompressor:
    """Feed compressed chunks, get decompressed pieces; ``finish()`` checks completeness.

    The container is sniffed from the first bytes fed. ``bytes_in`` counts compressed
    bytes consumed, which the progress display uses. No piece is longer than
    ``piece_size``, whatever the compression ratio.
    """

    def __init__(self, kind: Compression | None = None, piece_size: int = PIECE_SIZE) -> None:
        self.kind: Compression | None = kind
        self.piece_size = piece_size
        self._inner: _Inner | None = None
        self._pending = b""
        self._midstream = False
        self.bytes_in = 0

    def feed(self, chunk: bytes) -> Iterator[bytes]:
        """Decompress one chunk, in pieces of at most ``piece_size`` bytes; raises
        :class:`DecodeError` on a corrupt container (after the pieces before it)."""
        self.bytes_in += len(chunk)
        if self.kind is None:
            self._pending += chunk
            if len(self._pending) < SNIFF_SIZE and chunk:
                return
            self.kind = sniff_compression(self._pending)
            chunk, self._pending = self._pending, b""
        if self.kind == "raw":
            for start in range(0, len(chunk), self.piece_size):
                yield chunk[start : start + self.piece_size]
            return
        if self.kind == "gzip":
            yield from self._decompress("gzip", chunk)
            return
        # bz2 in slices: a block's output is passed on once the decompressor wants
        # input again (see below), which a big slice may delay past the next block;
        # when that one is damaged, the good block's records were lost with it.
        for start in range(0, max(len(chunk), 1), _BZ2_SLICE):
            yield from self._decompress("bz2", chunk[start : start + _BZ2_SLICE])

    def _decompress(self, kind: Compression, data: bytes) -> Iterator[bytes]:
        limit = self.piece_size
        #: bz2 output not yet known to have passed its block's CRC (see below).
        held: list[bytes] = []
        held_size = 0
        while True:
            inner = self._inner
            if inner is None:
                if self._skip_padding(data):
                    return
                inner = self._inner = _new_inner(kind)
            # zlib drops the output of a call that fails: up to 2 MB of good records
            # before damage (or before a bad CRC at a member's end) were lost.
            before = inner.copy() if isinstance(inner, _ZLIB_DECOMPRESS) else None
            try:
                piece = inner.decompress(data, limit)
            except (OSError, EOFError, ValueError, zlib.error) as exc:
                if before is not None:
                    yield from _output_before_damage(before, data)
                raise DecodeError(f"corrupt {kind} data: {exc}") from None
            # zlib hands back the input it did not reach; bz2 keeps it inside.
            data = getattr(inner, "unconsumed_tail", b"")
            self._midstream = not inner.eof
            if piece:
                held.append(piece)
                held_size += len(piece)
            # bz2 checks a block's CRC after its last byte: a piece cut by the limit
            # may belong to a block that then fails, and must not become records.
            # Once the decompressor wants input again, every block it output is
            # checked. (gzip's CRC covers the whole member, as without pieces.)
            checked = inner.eof or getattr(inner, "needs_input", True)
            if checked or held_size > _UNCHECKED_LIMIT:
                yield from held
                held = []
                held_size = 0
            if inner.eof:
                data = inner.unused_data
                self._inner = None
            elif len(piece) < limit and not data:
                return

    def _skip_padding(self, data: bytes) -> bool:
        """True when what follows a finished stream is only zero padding (tar-style)."""
        return not data.strip(b"\x00")

    def finish(self) -> bytes:
        """Return what is still held back (under 4 bytes); raise
        :class:`TruncatedInputError` when the input ended inside a compressed stream."""
        if self.kind is None:
            rest, self._pending = self._pending, b""
            stub = _compressed_stub(rest)
            if stub is not None:
                raise TruncatedInputError(f"{stub} stream ends inside its first {SNIFF_SIZE} bytes")
            self.kind = "raw"
            return rest
        if self._midstream:
            raise TruncatedInputError(f"{self.kind} stream ends before its end-of-stream marker")
        return b""
