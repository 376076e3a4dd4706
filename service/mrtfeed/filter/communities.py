"""Community patterns (standard, extended, large) with ``*`` wildcards.

Standard communities are compared as 32-bit ints under a mask, so ``65000:*`` costs one
AND per community; patterns without wildcards use set intersection.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from mrtfeed.encode.communities import ext_community_text

#: RFC 1997 / RFC 7999 / RFC 8326 well-known names (as bgpdump and bgpscanner print them).
WELL_KNOWN = {
    "no-export": 0xFFFFFF01,
    "no_export": 0xFFFFFF01,
    "no-advertise": 0xFFFFFF02,
    "no_advertise": 0xFFFFFF02,
    "local-as": 0xFFFFFF03,
    "local_as": 0xFFFFFF03,
    "no-export-subconfed": 0xFFFFFF03,
    "no_export_subconfed": 0xFFFFFF03,
    "no-peer": 0xFFFFFF04,
    "no_peer": 0xFFFFFF04,
    "nopeer": 0xFFFFFF04,  # bgpscanner's spelling
    "blackhole": 0xFFFF029A,
    "graceful-shutdown": 0xFFFF0000,
    "graceful_shutdown": 0xFFFF0000,
}

Pattern = tuple[int, int]  # (value, mask)


def _part(text: str, bits: int, whole: str) -> tuple[int, int]:
    full = (1 << bits) - 1
    if text == "*":
        return 0, 0
    if not text.isdigit() or int(text) > full:
        raise ValueError(f"bad community {whole!r}")
    return int(text), full


def standard(text: str) -> Pattern:
    """``65000:1``, ``65000:*``, ``*:666``, a well-known name or a 32-bit number."""
    named = WELL_KNOWN.get(text.lower())
    if named is not None:
        return named, 0xFFFFFFFF
    high, colon, low = text.partition(":")
    if not colon:
        value, mask = _part(text, 32, text)
        return value, mask
    hv, hm = _part(high, 16, text)
    lv, lm = _part(low, 16, text)
    return (hv << 16) | lv, (hm << 16) | lm


LargePattern = tuple[int | None, int | None, int | None]


def large(text: str) -> LargePattern:
    """``global:local1:local2``, each part a 32-bit number or ``*``."""
    parts = text.split(":")
    if len(parts) != 3:
        raise ValueError(f"bad large community {text!r} (want a:b:c)")
    out: list[int | None] = []
    for part in parts:
        value, mask = _part(part, 32, text)
        out.append(value if mask else None)
    return out[0], out[1], out[2]


def extended(text: str) -> tuple[str, ...]:
    """The text form mrtfeed prints (``rt:65000:100``, ``soo:192.0.2.1:7``, ``0x...``)
    split at ``:``; any part may be ``*``."""
    parts = tuple(text.lower().split(":"))
    if not all(parts):
        raise ValueError(f"bad extended community {text!r}")
    return parts


# -- matching ---------------------------------------------------------------------------


def standard_matcher(text: str) -> Callable[[Sequence[int]], bool]:
    """Parse a standard pattern into a test of an attribute's community tuple."""
    value, mask = standard(text)
    if mask == 0xFFFFFFFF:
        return lambda comms: value in comms
    return lambda comms: any(c & mask == value for c in comms)


def large_matcher(text: str) -> Callable[[Sequence[tuple[int, int, int]]], bool]:
    a, b, c = large(text)

    def test(comms: Sequence[tuple[int, int, int]]) -> bool:
        return any(
            (a is None or x == a) and (b is None or y == b) and (c is None or z == c)
            for x, y, z in comms
        )

    return test


def extended_matcher(text: str) -> Callable[[Sequence[bytes]], bool]:
    pattern = extended(text)

    def test(comms: Sequence[bytes]) -> bool:
        for raw in comms:
            parts = ext_community_text(raw).split(":")
            if len(parts) == len(pattern) and all(
                want in ("*", got) for want, got in zip(pattern, parts, strict=True)
            ):
                return True
        return False

    return test
