"""Text forms of extended communities (RFC 4360, RFC 5668, RFC 7153 registry) and of
large communities (RFC 8092), shared by every output format."""

from __future__ import annotations

import socket
import struct

_U16 = struct.Struct(">H").unpack_from
_U32 = struct.Struct(">I").unpack_from
_SUBTYPES = {0x02: "rt", 0x03: "soo"}


def ext_community_text(raw: bytes) -> str:
    """``rt:65000:100``, ``soo:192.0.2.1:7``..., or ``0x`` + hex for other types."""
    high, low = raw[0] & 0x3F, raw[1]
    name = _SUBTYPES.get(low)
    if name is not None:
        if high == 0x00:  # 2-octet AS specific
            return f"{name}:{_U16(raw, 2)[0]}:{_U32(raw, 4)[0]}"
        if high == 0x01:  # IPv4 address specific
            return f"{name}:{socket.inet_ntoa(raw[2:6])}:{_U16(raw, 6)[0]}"
        if high == 0x02:  # 4-octet AS specific
            return f"{name}:{_U32(raw, 2)[0]}:{_U16(raw, 6)[0]}"
    return "0x" + raw.hex()


def large_community_text(value: tuple[int, int, int]) -> str:
    """``global:local1:local2`` (RFC 8092 §4's canonical form)."""
    return f"{value[0]}:{value[1]}:{value[2]}"
