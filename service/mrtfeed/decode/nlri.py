"""NLRI prefix lists (RFC 4271 §4.3, RFC 7911 ADD-PATH), validated before use.

A prefix list either decodes exactly (every length within the address family, no
byte left over) or is reported invalid, so that a caller can try the other ADD-PATH
reading: un-signalled path identifiers produce the ``/208`` garbage of
RIPE-NCC/bgpdump#9 when read naively.
"""

from __future__ import annotations

import struct

from mrtfeed.decode.addresses import prefix4, prefix6

_U32 = struct.Struct(">I").unpack_from

Prefix = tuple[str, int | None]  # (text, path id)
#: Two zero-length prefixes: how a small ADD-PATH path id reads without path ids.
_TWO_DEFAULT_ROUTES = b"\0\0"
#: Path ids of un-signalled ADD-PATH must keep under this (see :func:`looks_misread`).
SMALL_PATH_IDS = 1 << 16


class PrefixCache:
    """Bounded memo of NLRI bytes → prefix text; UPDATE files repeat prefixes a lot."""

    def __init__(self, limit: int = 50_000) -> None:
        # 200,000 texts per family held 20 MB on updates.et-header.2015; with 50,000
        # its time did not change measurably.
        self._v4: dict[bytes, str] = {}
        self._v6: dict[bytes, str] = {}
        self._limit = limit

    def parse_prefix_of(self, data: bytes, ipv6: bool, addpath: bool) -> list[Prefix]:
        """The prefixes that decode before the first damaged one."""
        return self.parse(data, ipv6, addpath, lenient=True) or []

    def parse(
        self, data: bytes, ipv6: bool, addpath: bool, *, lenient: bool = False
    ) -> list[Prefix] | None:
        """Decode a whole prefix list, or return None when the bytes do not fit
        (``lenient``: return the prefixes before the damage instead)."""
        cache = self._v6 if ipv6 else self._v4
        if len(cache) > self._limit:
            cache.clear()
        max_bits = 128 if ipv6 else 32
        fmt = prefix6 if ipv6 else prefix4
        out: list[Prefix] = []
        pos = 0
        end = len(data)
        path_id: int | None = None
        while pos < end:
            if addpath:
                if end - pos < 5:
                    return out if lenient else None
                path_id = _U32(data, pos)[0]
                pos += 4
            bits = data[pos]
            stop = pos + 1 + ((bits + 7) >> 3)
            if bits > max_bits or stop > end:
                return out if lenient else None
            key = data[pos:stop]
            text = cache.get(key)
            if text is None:
                text = cache[key] = fmt(key[1:], bits)
            out.append((text, path_id))
            pos = stop
        return out


def looks_misread(data: bytes, start: int = 0) -> bool:
    """True when the prefix list at ``data[start:]``, read without path ids, starts the
    way an ADD-PATH list does: a path id below 2**16 (implementations number paths
    from 1) reads as two zero-length prefixes, 0.0.0.0/0 twice (RIPE-NCC/bgpdump#9).

    A weaker sign, any default route among several prefixes or any prefix twice,
    also fired on ordinary UPDATEs: the ADD-PATH reading of a /24 and then 0.0.0.0/0
    fits by chance often enough (15 to 25 % of such IPv4 lists) to turn real routes
    into invented ones."""
    return data[start : start + 2] == _TWO_DEFAULT_ROUTES
