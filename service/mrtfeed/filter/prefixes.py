"""Prefix sets answering exact / more-specific / less-specific questions in constant time.

A prefix is ``(network as an int, length)`` per address family. Instead of a pointer
trie walked bit by bit in Python, the set keeps plain ``set`` s of ints:

* ``by_len[L]``: the networks of length ``L``, shifted right to their ``L`` bits. A
  prefix of length ``n`` is more specific than (or equal to) a listed one iff, for some
  listed length ``L <= n``, its first ``L`` bits are in ``by_len[L]``: at most one
  hash lookup per distinct listed length (33 for IPv4, 129 for IPv6; typically < 20).
* ``covers``: for every listed prefix, each of its ancestors ``(first k bits, k)``. A
  prefix is less specific than (or equal to) a listed one iff it is in ``covers``: one
  lookup. It costs ``length + 1`` ints per listed prefix (25 for a /24).

Both costs are independent of the list's size, which is what a filter of 10,000
prefixes needs; no third-party radix module is needed (see docs/filters.md).
"""

from __future__ import annotations

import socket
from collections.abc import Iterable

from mrtfeed.decode.decoder import PrefixKey

_AF_INET6 = socket.AF_INET6
_pton = socket.inet_pton
_from_bytes = int.from_bytes


def parse_prefix(text: str) -> PrefixKey:
    """``(is IPv6, network, length)`` of ``a.b.c.d/n`` or ``x::/n`` (a bare address is
    a host prefix). Host bits past the length are cleared. Raises ValueError."""
    address, slash, length_text = text.partition("/")
    v6 = ":" in address
    width = 128 if v6 else 32
    try:
        packed = _pton(_AF_INET6, address) if v6 else socket.inet_pton(socket.AF_INET, address)
    except OSError:
        raise ValueError(f"bad prefix {text!r}") from None
    if slash:
        if not length_text.isdigit() or int(length_text) > width:
            raise ValueError(f"bad prefix length in {text!r}")
        length = int(length_text)
    else:
        length = width
    network = _from_bytes(packed, "big")
    shift = width - length
    return v6, (network >> shift) << shift, length


class _Family:
    __slots__ = ("_covers", "by_len", "exact", "lengths", "width")

    def __init__(self, width: int) -> None:
        self.width = width
        self.exact: set[int] = set()
        self.by_len: dict[int, set[int]] = {}
        self.lengths: tuple[int, ...] = ()
        self._covers: set[int] | None = None

    def add(self, network: int, length: int) -> None:
        self.exact.add((network >> (self.width - length)) << 8 | length)
        self.by_len.setdefault(length, set()).add(network >> (self.width - length))
        self.lengths = tuple(sorted(self.by_len))
        self._covers = None

    @property
    def covers(self) -> set[int]:
        """Every ancestor of every listed prefix, built on first use (only the
        less-specific and related lookups need it)."""
        if self._covers is None:
            covers: set[int] = set()
            for length, tops in self.by_len.items():
                for top in tops:
                    for k in range(length, -1, -1):
                        covers.add((top << 8) | k)
                        top >>= 1
            self._covers = covers
        return self._covers


class PrefixSet:
    """IPv4 and IPv6 prefixes with exact, more-specific, less-specific lookups."""

    def __init__(self, prefixes: Iterable[PrefixKey] = ()) -> None:
        self._v4 = _Family(32)
        self._v6 = _Family(128)
        for v6, network, length in prefixes:
            self.add(v6, network, length)

    def add(self, v6: bool, network: int, length: int) -> None:
        (self._v6 if v6 else self._v4).add(network, length)

    def __len__(self) -> int:
        return len(self._v4.exact) + len(self._v6.exact)

    def exact(self, key: PrefixKey) -> bool:
        v6, network, length = key
        family = self._v6 if v6 else self._v4
        return ((network >> (family.width - length)) << 8 | length) in family.exact

    def within(self, key: PrefixKey) -> bool:
        """True when the prefix is a listed one or more specific than one."""
        v6, network, length = key
        family = self._v6 if v6 else self._v4
        width = family.width
        by_len = family.by_len
        for listed in family.lengths:
            if listed > length:
                return False
            if (network >> (width - listed)) in by_len[listed]:
                return True
        return False

    def covering(self, key: PrefixKey) -> bool:
        """True when the prefix is a listed one or less specific than one."""
        v6, network, length = key
        family = self._v6 if v6 else self._v4
        return (((network >> (family.width - length)) << 8) | length) in family.covers

    def related(self, key: PrefixKey) -> bool:
        return self.covering(key) or self.within(key)
