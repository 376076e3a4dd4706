"""Reading predicate values: lists with ``@file`` references, ASNs, addresses, ranges.

A value ``@path`` stands for every token of that file, read as bgpscanner reads its
template files: whitespace-separated, ``#`` starts a comment, ``"..."`` keeps spaces.
Errors name the file and line, and the column of the ``@path`` token.
"""

from __future__ import annotations

import ipaddress
import shlex
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from mrtfeed.filter.syntax import Token

T = TypeVar("T")


class BadValue(ValueError):
    """A value that does not read; the compiler turns it into a FilterSyntaxError."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(message)
        self.message = message
        self.column = column


def read_file_tokens(path: str) -> list[tuple[str, int]]:
    """Tokens of a template file with their line numbers."""
    out: list[tuple[str, int]] = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if '"' in line or "'" in line or "\\" in line:  # shlex is slow: only when needed
                lexer = shlex.shlex(line, posix=True)
                lexer.whitespace_split = True
                lexer.commenters = "#"
                out.extend((token, number) for token in lexer)
            else:
                out.extend((token, number) for token in line.partition("#")[0].split())
    return out


def read_values(args: tuple[Token, ...], convert: Callable[[str], T], what: str) -> list[T]:
    """Convert every value (expanding ``@file``); raise :class:`BadValue` at the
    column of the first bad one."""
    out: list[T] = []
    for arg in args:
        if arg.text.startswith("@") and len(arg.text) > 1:
            path = arg.text[1:]
            try:
                tokens = read_file_tokens(path)
            except (OSError, ValueError) as exc:
                raise BadValue(f"cannot read {what} file {path!r}: {exc}", arg.column) from None
            for text, line in tokens:
                try:
                    out.append(convert(text))
                except ValueError as exc:
                    raise BadValue(f"{path}:{line}: {exc}", arg.column) from None
            continue
        try:
            out.append(convert(arg.text))
        except ValueError as exc:
            raise BadValue(str(exc), arg.column) from None
    return out


def asn(text: str) -> int:
    """A 32-bit ASN, plain or ``AS`` prefixed, or in asdot (``1.10``)."""
    body = text[2:] if text[:2].upper() == "AS" else text
    high, dot, low = body.partition(".")
    try:
        value = (int(high) << 16) + int(low) if dot else int(body)
    except ValueError:
        raise ValueError(f"bad AS number {text!r}") from None
    if not 0 <= value <= 0xFFFFFFFF or (dot and not 0 <= int(low) <= 0xFFFF):
        raise ValueError(f"AS number {text!r} out of range")
    return value


def ip_address(text: str) -> str:
    """The canonical text of an address, as the decoder prints peers (RFC 5952)."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise ValueError(f"bad IP address {text!r}") from None


def timestamp(text: str) -> int:
    """Unix seconds, or an ISO 8601 date/time (UTC unless it says otherwise)."""
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"bad time {text!r} (Unix seconds or ISO 8601)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def int_range(text: str, convert: Callable[[str], int]) -> tuple[int | None, int | None]:
    """``N``, ``>N``, ``>=N``, ``<N``, ``<=N``, ``N..M``, ``N..``, ``..M`` as an
    inclusive ``(low, high)``; None is unbounded."""
    for op in (">=", "<=", ">", "<", "="):
        if text.startswith(op):
            value = convert(text[len(op) :])
            return {
                ">=": (value, None),
                "<=": (None, value),
                ">": (value + 1, None),
                "<": (None, value - 1),
                "=": (value, value),
            }[op]
    low, dots, high = text.partition("..")
    if dots:
        if not low and not high:
            raise ValueError(f"empty range {text!r}")
        return (convert(low) if low else None, convert(high) if high else None)
    value = convert(text)
    return value, value


def non_negative(text: str) -> int:
    if not text.isdigit():
        raise ValueError(f"bad number {text!r}")
    return int(text)
