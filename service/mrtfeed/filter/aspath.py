"""AS-path matching: bgpscanner's simplified expressions, full regexes, origin ASNs.

Both forms match against one text per path, built once per shared attribute object:
every ASN of an AS_SEQUENCE is a token, an AS_SET is one token ``{a,b}``; confederation
segments are left out (they are private to the neighbour AS). The text starts and ends
with a space, so ``" 701 3356 {1,2} "``.

bgpscanner's form (``-p``): ASNs, ``?`` (any one ASN), ``*`` (zero or more ASNs),
``^`` (anchor at the start, the neighbour side) and ``$`` (at the end, the origin
side). It is translated into a regex over the token text. An ASN also matches an AS_SET
that contains it, as bgpscanner's matcher does.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from mrtfeed.decode.attributes import AS_SEQUENCE, AS_SET

Segments = Sequence[tuple[int, Sequence[int]]]


def path_tokens(segments: Segments | None) -> str:
    """The matching text of a path: ``" 701 3356 {1,2} "`` (``" "`` when empty)."""
    parts = [" "]
    for seg_type, asns in segments or ():
        if seg_type == AS_SEQUENCE:
            parts.extend(f"{asn} " for asn in asns)
        elif seg_type == AS_SET:
            parts.append("{" + ",".join(map(str, asns)) + "} ")
    return "".join(parts)


def path_text(segments: Segments | None) -> str:
    """The path as users see it (bgpdump's text without confederations) for regexes."""
    return path_tokens(segments).strip()


def origin_asns(segments: Segments | None) -> Sequence[int]:
    """The origin: the last ASN of the path, or every member of a trailing AS_SET."""
    for seg_type, asns in reversed(segments or ()):
        if seg_type == AS_SEQUENCE and asns:
            return asns[-1:]
        if seg_type == AS_SET and asns:
            return asns
    return ()


def _asn_pattern(asn: int) -> str:
    return rf"(?:{asn}|\{{(?:\d+,)*{asn}(?:,\d+)*\}}) "


def simplified(expression: str) -> re.Pattern[str]:
    """Compile a bgpscanner path expression; raises ValueError with the offending part."""
    text = expression.strip()
    anchored_start = text.startswith("^")
    if anchored_start:
        text = text[1:]
    anchored_end = text.endswith("$")
    if anchored_end:
        text = text[:-1]
    items = text.split()
    if not items and not (anchored_start and anchored_end):
        raise ValueError(f"empty AS path expression {expression!r}")
    regex = ["^ " if anchored_start else " "]
    for item in items:
        if item == "?":
            regex.append(r"\S+ ")
        elif item == "*":
            regex.append(r"(?:\S+ )*")
        elif item.isdigit() and int(item) <= 0xFFFFFFFF:
            regex.append(_asn_pattern(int(item)))
        else:
            raise ValueError(
                f"bad AS path expression {expression!r}: {item!r} is not an ASN, '?' or '*'"
            )
    if anchored_end:
        regex.append("$")
    return re.compile("".join(regex))


def full_regex(expression: str) -> re.Pattern[str]:
    try:
        return re.compile(expression)
    except re.error as exc:
        raise ValueError(f"bad AS path regex {expression!r}: {exc}") from None
