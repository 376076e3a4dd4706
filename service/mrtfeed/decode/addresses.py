"""Address and prefix formatting, with the trailing-bit masking bgpdump learnt late.

``socket.inet_ntoa``/``inet_ntop`` run in C and produce the canonical text forms
(RFC 5952 for IPv6), the same glibc produces for bgpdump.
"""

from __future__ import annotations

import socket

_AF_INET6 = socket.AF_INET6
_ntop = socket.inet_ntop
ipv4 = socket.inet_ntoa

_PAD16 = b"\x00" * 16
#: mask for the last byte of a prefix of (bits % 8) bits; index 0 means a whole byte.
_LAST_BYTE_MASK = (0xFF, 0x80, 0xC0, 0xE0, 0xF0, 0xF8, 0xFC, 0xFE)
#: Bits past the prefix length in its last byte, by ``bits % 8`` (0: whole byte): a
#: fast test of whether :func:`mask_prefix` has anything to do.
TRAILING_BITS = (0, 0x7F, 0x3F, 0x1F, 0x0F, 0x07, 0x03, 0x01)
#: For the hot loops: the bytes that pad an IPv4 prefix's significant bytes to four,
#: by their count, and the ``/length`` texts (no int formatting per prefix).
V4_PADS = tuple(bytes(4 - size) for size in range(5))
SLASHES = tuple(f"/{bits}" for bits in range(129))


def ipv6(packed: bytes) -> str:
    """Text form of a 16-byte IPv6 address."""
    return _ntop(_AF_INET6, packed)


def mask_prefix(addr: bytes, bits: int) -> bytes:
    """Clear the bits past the prefix length (RIPE-NCC/bgpdump commit 8f067c8)."""
    rem = bits & 7
    if rem and addr:
        last = addr[-1]
        masked = last & _LAST_BYTE_MASK[rem]
        if masked != last:
            return addr[:-1] + bytes((masked,))
    return addr


def prefix4(addr: bytes, bits: int) -> str:
    """``a.b.c.d/len`` from the (at most four) significant bytes of an IPv4 prefix."""
    if bits & 7 and addr[-1] & TRAILING_BITS[bits & 7]:
        addr = mask_prefix(addr, bits)
    return f"{ipv4(addr + V4_PADS[len(addr)])}{SLASHES[bits]}"


def prefix4_texts(data: bytes, pos: int, end: int) -> list[str] | None:
    """The texts of the IPv4 prefix list ``data[pos:end]`` (length byte, significant
    bytes, ...), or None unless it reads exactly.

    One call per list, no cache: a full-table dump names each prefix once (578,000
    of them in updates.et-header.2015), and a text costs about what a cache lookup
    by its bytes does. The loop repeats :func:`prefix4`'s two lines rather than call
    it: a call per prefix made that file 5 % slower (1.28 s against 1.35 s in-process,
    interleaved best of 6)."""
    texts: list[str] = []
    append = texts.append
    ntoa, pads, slashes, trailing = ipv4, V4_PADS, SLASHES, TRAILING_BITS
    while pos < end:
        bits = data[pos]
        size = (bits + 7) >> 3
        after = pos + 1 + size
        if bits > 32 or after > end:
            return None
        raw = data[pos + 1 : after]
        if bits & 7 and raw[-1] & trailing[bits & 7]:
            raw = mask_prefix(raw, bits)
        append(f"{ntoa(raw + pads[size])}{slashes[bits]}")
        pos = after
    return texts


def prefix6(addr: bytes, bits: int) -> str:
    """``x:y::/len`` from the significant bytes of an IPv6 prefix."""
    return f"{_ntop(_AF_INET6, (mask_prefix(addr, bits) + _PAD16)[:16])}/{bits}"
