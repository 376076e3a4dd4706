"""Framing helpers for data cut anywhere: the guess of a block's first record, and the
check of bytes that must be whole records."""

from __future__ import annotations

import bz2
import gzip
import random
import struct

import pytest

from mrtfeed.decode.bz2blocks import BlockSplitter, decompress_block
from mrtfeed.decode.framing import HEADER, first_record_guess, whole_records
from tests.mrtdata import MRT_DIR


def _record(rtype: int, subtype: int, body: bytes, timestamp: int = 1_401_487_200) -> bytes:
    return HEADER.pack(timestamp, rtype, subtype, len(body)) + body


def _boundaries(stream: bytes) -> list[int]:
    starts, pos = [], 0
    while pos < len(stream):
        starts.append(pos)
        pos += 12 + HEADER.unpack_from(stream, pos)[3]
    return starts


def _blocks(name: str) -> list[bytes]:
    raw = (MRT_DIR / name).read_bytes()
    if name.endswith(".gz"):
        raw = bz2.compress(gzip.decompress(raw), 1)
    return [decompress_block(block) for block in BlockSplitter().feed(raw)]


@pytest.mark.parametrize(
    "name", ["rib6.20151101.0600_firstMB.bz2", "updates.20190101.0000.gz", "update.bz2"]
)
def test_the_guess_is_each_blocks_first_record(name: str) -> None:
    """In real bz2 blocks (a RIB's 900 kB ones; UPDATEs in 100 kB ones), the guess
    is where the first record starting in the block lies."""
    blocks = _blocks(name)
    stream = b"".join(blocks)
    starts = iter(_boundaries(stream))
    at = next(starts)
    checked = 0
    block_start = 0
    for data in blocks:
        while at < block_start:
            at = next(starts)
        if block_start + len(data) - at > 4096:  # the record starts well inside
            assert first_record_guess(data) == at - block_start
            checked += 1
        block_start += len(data)
    assert checked >= min(5, len(blocks) - 1)


def test_a_header_whose_length_points_past_the_end_is_no_guess() -> None:
    """Bytes that read as a TABLE_DUMP_V2 header of 4 MB cannot be checked against
    the records after them: they are skipped for the chain that follows."""
    records = b"".join(_record(16, 4, bytes(range(i, i + 40))) for i in range(6))
    data = b"\x00\x01" + HEADER.pack(1_401_487_200, 13, 2, 4 << 20) + records
    assert first_record_guess(data) == 14


def test_a_chain_of_other_types_or_times_is_no_guess() -> None:
    """The records of one chain share their type and lie within a day."""
    first = _record(16, 4, bytes(30))
    assert first_record_guess(first + _record(13, 2, bytes(30)) * 4) == 42
    late = _record(16, 4, bytes(30), timestamp=1_401_487_200 + 2 * 86_400)
    assert first_record_guess(first + late * 4) == 42
    assert first_record_guess(first + _record(16, 4, bytes(30)) * 3) == 0


@pytest.mark.parametrize("seed", range(5))
def test_no_guess_in_data_without_records(seed: int) -> None:
    rng = random.Random(seed)
    assert first_record_guess(bytes(100_000)) is None
    assert first_record_guess(rng.randbytes(100_000)) is None


def test_no_guess_past_the_limit() -> None:
    records = _record(16, 4, bytes(30)) * 4
    assert first_record_guess(b"\xff" * 100 + records, limit=100) is None
    assert first_record_guess(b"\xff" * 100 + records, limit=101) == 100


def _peer_table(peers: int, claimed: int | None = None) -> bytes:
    """A PEER_INDEX_TABLE body of IPv4 peers with 2-byte ASNs (claiming ``claimed``)."""
    entries = b"".join(b"\0" + bytes(4) + bytes((10, 0, 0, n)) + b"\xfd\xe9" for n in range(peers))
    return bytes(4) + b"\0\0" + struct.pack(">H", peers if claimed is None else claimed) + entries


def test_whole_records_counts_them_and_keeps_the_last_peer_table_that_fits() -> None:
    first, second = _record(13, 1, _peer_table(1)), _record(13, 1, _peer_table(2))
    damaged = _record(13, 1, _peer_table(2, claimed=3))
    rib = _record(13, 2, bytes(20))
    assert whole_records(b"") == (0, None)
    assert whole_records(rib * 3) == (3, None)
    assert whole_records(first + rib + second + rib) == (4, _peer_table(2))
    assert whole_records(first + rib + damaged + rib) == (4, _peer_table(1))


@pytest.mark.parametrize("cut", [1, 11, 12, 31])
def test_whole_records_refuses_bytes_that_are_not(cut: int) -> None:
    rib = _record(13, 2, bytes(20))
    assert whole_records(rib * 2 + rib[:cut]) is None
    assert whole_records(rib[cut:] + rib) is None
    assert whole_records(struct.pack(">IHHI", 0, 13, 2, (16 << 20) + 1)) is None


def _tables() -> list[bytes]:
    from mrtfeed.decode.framing import iter_records

    found: list[bytes] = []
    for name in ("routeviews.route-views.jinx.ribs.1401487200.bz2", "bird6-mrtdump_rib"):
        raw = (MRT_DIR / name).read_bytes()
        data = bz2.BZ2Decompressor().decompress(raw, 100_000) if name.endswith("bz2") else raw
        records = iter_records(data[: _boundaries_within(data)])
        found.extend(r.body for r in records if (r.type, r.subtype) == (13, 1))
    return found


def _boundaries_within(data: bytes) -> int:
    """The end of the last whole record in ``data``."""
    pos = 0
    while pos + 12 <= len(data) and pos + 12 + HEADER.unpack_from(data, pos)[3] <= len(data):
        pos += 12 + HEADER.unpack_from(data, pos)[3]
    return pos


def _installs(body: bytes) -> bool:
    from mrtfeed.decode.decoder import Decoder
    from mrtfeed.decode.errors import DecodeError

    try:
        Decoder().load_peer_index(body)
    except (DecodeError, struct.error, IndexError, ValueError, OSError):
        return False
    return True


def test_a_peer_table_fits_exactly_when_the_decoder_can_install_it() -> None:
    """Real tables whole, cut anywhere, with a count that claims more or fewer
    peers, and with an entry's type changed (IPv6, 4-byte AS): the framing's check
    and the decoder agree on every one."""
    from mrtfeed.decode.framing import peer_table_fits

    tables = _tables()
    assert len(tables) >= 3
    rng = random.Random(7)
    cases = 0
    for table in tables:
        count_at = 6 + struct.unpack_from(">H", table, 4)[0]
        variants = [table[:cut] for cut in range(len(table) + 1)]
        for count in (0, 1, 2, 200, 65_535):
            changed = bytearray(table)
            struct.pack_into(">H", changed, count_at, count)
            variants.append(bytes(changed))
        for _ in range(400):
            changed = bytearray(table)
            changed[rng.randrange(count_at + 2, len(table))] ^= rng.choice((1, 2, 3))
            variants.append(bytes(changed[: rng.randrange(len(table) - 8, len(table) + 1)]))
        for body in variants:
            assert peer_table_fits(body) == _installs(body), body.hex()
            cases += 1
    assert cases > 1_000
