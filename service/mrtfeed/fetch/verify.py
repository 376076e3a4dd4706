"""Check that a downloaded file is whole before anyone processes it.

The archives publish no checksums. The gzip trailer (CRC-32 + length) and the
bzip2 end-of-stream marker (with its combined CRC) are the only integrity
evidence, so the whole compressed stream is decoded once and must end
cleanly. The decoding is the decoder's own (:mod:`mrtfeed.decode.compression`),
so multi-member gzip, multi-stream bzip2 and zero padding are judged exactly as
``mrtfeed parse`` will read them.
"""

from __future__ import annotations

from pathlib import Path

from mrtfeed.decode.compression import SNIFF_SIZE, Compression, Decompressor, sniff_compression
from mrtfeed.decode.errors import DecodeError, TruncatedInputError

__all__ = ["Compression", "CorruptFile", "verify_file"]

_CHUNK = 1 << 20


class CorruptFile(ValueError):
    """The file's compressed stream is truncated or damaged.

    ``kind``: the compression, when the file is of the expected kind and damaged
    inside (None for another kind of data, such as an HTML error page).
    """

    def __init__(self, message: str, kind: Compression | None = None) -> None:
        super().__init__(message)
        self.kind = kind


def _expected_compression(name: str) -> Compression | None:
    if name.endswith(".gz"):
        return "gzip"
    if name.endswith(".bz2"):
        return "bz2"
    return None


def verify_file(path: Path, name: str | None = None) -> Compression:
    """Decode the whole file; raise CorruptFile unless every stream ends cleanly.

    ``name`` (the archive file name) states the expected format, so an HTML
    error page served with status 200 for ``x.gz`` is caught too.
    """
    with path.open("rb") as fh:
        kind = sniff_compression(fh.read(SNIFF_SIZE))
        expected = _expected_compression(name or path.name)
        if expected is not None and kind != expected:
            raise CorruptFile(f"expected {expected} data, found {kind}")
        if kind == "raw":
            return kind
        fh.seek(0)
        decompressor = Decompressor()
        try:
            while chunk := fh.read(_CHUNK):
                for _ in decompressor.feed(chunk):
                    pass  # only whether it decompresses matters here
            decompressor.finish()
        except TruncatedInputError:
            raise CorruptFile(
                f"{kind} stream ends before its end-of-stream marker (truncated)", kind
            ) from None
        except DecodeError as e:
            raise CorruptFile(f"damaged {kind} stream: {e.message}", kind) from None
        return kind
