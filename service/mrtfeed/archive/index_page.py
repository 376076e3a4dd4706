"""Pure parsers for the archives' directory index pages (text in, entries out).

Two real server styles exist (see shared/fixtures/archives/):

* Apache mod_autoindex tables — Route Views, and RIS before late 2022. Link
  text is truncated (``updates.20200401.000..&gt;``), so names come from ``href``.
* nginx ``<pre>`` autoindex — RIS today, CRLF line endings, ``01-Apr-2020 01:35``
  dates and human-readable sizes.

Human-readable sizes (``4M``) are kept but flagged inexact: they cannot prove a
file is complete, so readiness falls back to HEAD for them.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from urllib.parse import unquote, urlsplit

from mrtfeed.archive.model import IndexEntry

__all__ = ["IndexParseError", "parse_index", "parse_size"]


class IndexParseError(ValueError):
    """The text is not a directory index page we understand."""


_UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_ROW = re.compile(r"<tr[^>]*>(.*?)</tr>", re.IGNORECASE | re.DOTALL)
_HREF = re.compile(r"""<a\s[^>]*?href\s*=\s*["']([^"']*)["']""", re.IGNORECASE)
_CELL = re.compile(r"<td[^>]*>(.*?)</td>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_PRE_LINE = re.compile(
    r"""<a\s[^>]*?href\s*=\s*["']([^"']*)["'][^>]*>.*?</a>\s*"""
    r"""(\d{1,2}-[A-Za-z]{3}-\d{4}\s+\d{1,2}:\d{2}(?::\d{2})?)?\s*(\S+)?""",
    re.IGNORECASE,
)


def parse_size(text: str) -> tuple[int | None, bool]:
    """Return (bytes, exact) for an index size cell; ``-`` or blank gives None.

    Apache and nginx use binary multiples for their human-readable sizes.
    """
    t = html.unescape(text).strip()
    if not t or t == "-":
        return None, False
    if t.isdigit():
        return int(t), True
    unit = t[-1].upper()
    if unit in _UNITS:
        try:
            return int(float(t[:-1]) * _UNITS[unit]), False
        except ValueError:
            return None, False
    return None, False


def _parse_time(text: str) -> datetime | None:
    t = html.unescape(text).strip()
    for fmt in ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%d-%b-%Y %H:%M", "%d-%b-%Y %H:%M:%S"):
        try:
            return datetime.strptime(t, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def _entry_name(href: str) -> tuple[str, bool] | None:
    """Turn an href into (basename, is_dir), or None for navigation links."""
    h = html.unescape(href).strip()
    if not h or h.startswith(("?", "#", "..")):
        return None
    path = unquote(urlsplit(h).path)
    is_dir = path.endswith("/")
    base = path.rstrip("/").rsplit("/", 1)[-1]
    if not base or base in (".", ".."):
        return None
    # Autoindex children are always relative; absolute links are the
    # parent-directory row (``/rrc00/``) or site navigation.
    if path.startswith("/"):
        return None
    return base, is_dir


def _entry(
    name: str, is_dir: bool, size: int | None, exact: bool, modified: datetime | None
) -> IndexEntry:
    if is_dir:
        return IndexEntry(name, True, None, False, modified)
    return IndexEntry(name, False, size, exact, modified)


def _parse_table(text: str) -> list[IndexEntry]:
    out: list[IndexEntry] = []
    for row in _ROW.findall(text):
        m = _HREF.search(row)
        if m is None:
            continue
        named = _entry_name(m.group(1))
        if named is None:
            continue
        name, is_dir = named
        raw_cells = _CELL.findall(row)
        # Columns after the name cell: last modified, size, description.
        idx = next((i for i, c in enumerate(raw_cells) if m.group(0) in c), None)
        rest = [_TAG.sub("", c) for c in raw_cells[idx + 1 :]] if idx is not None else []
        modified = _parse_time(rest[0]) if rest else None
        size, exact = parse_size(rest[1]) if len(rest) > 1 else (None, False)
        out.append(_entry(name, is_dir, size, exact, modified))
    return out


def _parse_pre(text: str) -> list[IndexEntry]:
    out: list[IndexEntry] = []
    for line in text.splitlines():
        m = _PRE_LINE.search(line)
        if m is None:
            continue
        named = _entry_name(m.group(1))
        if named is None:
            continue
        name, is_dir = named
        modified = _parse_time(m.group(2)) if m.group(2) else None
        size, exact = parse_size(m.group(3) or "")
        out.append(_entry(name, is_dir, size, exact, modified))
    return out


def parse_index(text: str) -> list[IndexEntry]:
    """Parse an Apache-table or nginx-``<pre>`` index page into entries.

    Raises IndexParseError when the text is not an index page at all (an error
    page, a captive portal, an empty body), so a broken listing is reported
    instead of being read as "no files".
    """
    lowered = text.lower()
    if "index of" not in lowered:
        raise IndexParseError("not a directory index page (no 'Index of' title)")
    if "<table" in lowered:
        return _parse_table(text)
    if "<pre" in lowered:
        return _parse_pre(text)
    raise IndexParseError("unrecognised directory index style (neither table nor <pre>)")
