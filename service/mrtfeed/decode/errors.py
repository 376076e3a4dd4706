"""Decoding errors that carry their location, so users see *where* a file is damaged."""

from __future__ import annotations


class DecodeError(Exception):
    """A record (or the stream) cannot be decoded.

    ``offset`` is the byte offset of the record's MRT header in the decompressed stream
    and ``record_index`` its zero-based position; both are ``None`` when unknown (for
    example when the damage is inside the compressed container).
    """

    def __init__(
        self, message: str, *, offset: int | None = None, record_index: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.record_index = record_index

    def located(self, *, offset: int, record_index: int) -> DecodeError:
        """Return a copy of this error placed at a record (the decoder knows, its helpers not)."""
        return type(self)(self.message, offset=offset, record_index=record_index)

    def describe(self, source: str) -> str:
        """One line naming the file, byte offset and record index, as users need it."""
        where = [source]
        if self.offset is not None:
            where.append(f"byte offset {self.offset}")
        if self.record_index is not None:
            where.append(f"record {self.record_index}")
        return f"{': '.join([', '.join(where), self.message])}"


class TruncatedInputError(DecodeError):
    """The input ends inside a record or inside the compressed stream."""
