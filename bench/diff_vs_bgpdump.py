"""Differential test: ``mrtfeed parse -f bgpdump`` against ``bgpdump -m`` on random MRT files.

Real archives exercise only the common paths of both decoders. This writes random, well formed
files (TABLE_DUMP 1/2; TABLE_DUMP_V2 PEER_INDEX_TABLE and RIB 2/4/8/10; BGP4MP and BGP4MP_ET
STATE_CHANGE(_AS4) and MESSAGE(_AS4)(_ADDPATH) with every BGP message type), runs both tools
and compares each record's lines. Inputs that hit a documented difference (README "Where the
bgpdump format differs on purpose", ``BGPDUMP_BUGS`` in tests/decode/test_conformance.py)
are not generated, so any difference is new: an mrtfeed bug or a bgpdump quirk to document.

A marker STATE_CHANGE (peer 10.255.255.254, AS 65534, time = record index) after each record
splits both outputs. bgpdump runs under ``stdbuf -oL`` so the lines before an abort survive;
the record it dies on is a difference, and the file runs again without it. Exit status 1
when a record differs. Needs ``apt-get install bgpdump``.

    .venv/bin/python bench/diff_vs_bgpdump.py [--seed 1] [--files 20] [--records 200] [--large]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import random
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

AS_TRANS = 23456
MARK_IP = bytes((10, 255, 255, 254))
MARK_TAG = "|STATE|10.255.255.254|65534|"
WELL_KNOWN = "ffffff01 ffffff02 ffffff03 ffffff04 ffff0000 ffff029a ffff0001 ffff0006 0 ffff"
WELL_KNOWN_COMMUNITIES = (*(int(c, 16) for c in WELL_KNOWN.split()), 2**32 - 1)
UNKNOWN_CODES = (20, 21, 22, 25, 28, 29, 30, 33, 34, 36, 37, 40, 99, 128, 200, 255)
UNKNOWN_FLAGS = (0xC0, 0xE0, 0x80, 0x40)  # with and without partial, transitive
BGP4MP_SUBTYPES = {0: "STATE_CHANGE", 1: "MESSAGE", 4: "MESSAGE_AS4", 5: "STATE_CHANGE_AS4"}
BGP4MP_SUBTYPES |= {8: "MESSAGE_ADDPATH", 9: "MESSAGE_AS4_ADDPATH"}
RIB_SUBTYPES = {2: "RIB_IPV4_UNICAST", 4: "RIB_IPV6_UNICAST", 8: "RIB_IPV4_UNICAST_ADDPATH"}
RIB_SUBTYPES |= {10: "RIB_IPV6_UNICAST_ADDPATH"}
AsPath = list[tuple[int, list[int]]]  # AS_PATH segments: (type, ASNs)
Difference = tuple[int, int, str, bytes, bytes, list[str], list[str]]


def mrt(ts: int, kind: int, subtype: int, body: bytes, micro: int | None = None) -> bytes:
    """An MRT record; ``micro`` makes it an extended-timestamp (_ET) one."""
    extra = b"" if micro is None else u32(micro)
    return struct.pack(">IHHI", ts, kind, subtype, len(extra + body)) + extra + body


def marker(index: int) -> bytes:
    """The STATE_CHANGE both tools print after record ``index``: where its lines end."""
    body = struct.pack(">HHHH", 65534, 65533, 0, 1) + MARK_IP + bytes(4) + struct.pack(">HH", 1, 2)
    return mrt(index, 16, 0, body)


def attribute(code: int, flags: int, body: bytes, extended: bool = False) -> bytes:
    """One path attribute, with the extended-length flag when asked or needed."""
    if extended or len(body) > 255:
        return bytes((flags | 0x10, code)) + struct.pack(">H", len(body)) + body
    return bytes((flags & 0xEF, code, len(body))) + body


def block(data: bytes) -> bytes:
    return struct.pack(">H", len(data)) + data


def u32(value: int) -> bytes:
    return struct.pack(">I", value)


def encode_path(segments: AsPath, four: bool) -> bytes:
    """AS_PATH / AS4_PATH segments with 2- or 4-byte ASNs."""
    width = ">I" if four else ">H"
    return b"".join(
        bytes((t, len(a))) + struct.pack(f">{len(a)}{width[1]}", *a) for t, a in segments
    )


class Gen:
    """Random values and records of one file, from one seeded ``random.Random`` so that a
    file is the same whatever the number of worker threads."""

    def __init__(self, rng: random.Random) -> None:
        self.r = rng

    def chance(self, p: float) -> bool:
        return self.r.random() < p

    def asn(self, four: bool = True) -> int:
        r = self.r
        if self.chance(0.06):
            return r.choice([0, 1, 64512, 65535, AS_TRANS] + ([65536, 2**32 - 1] if four else []))
        if not four or self.chance(0.6):
            return r.choice([r.randint(1, 65535), r.randint(1, 4000), r.randint(64512, 65534)])
        return r.randint(65536, 2**32 - 1) if self.chance(0.5) else r.randint(131072, 400000)

    def ts(self) -> int:
        r = self.r
        return r.choice([r.randint(0, 2**32 - 1), r.randint(10**9, 2 * 10**9), 0, 2**31, 2**32 - 1])

    def v4(self, broadcast: bool = True) -> bytes:
        """An IPv4 address; 255.255.255.255 only when ``broadcast`` (bgpdump takes that
        AGGREGATOR address for "no aggregator", a known difference)."""
        c = self.r.random()
        if c < 0.04:
            return bytes(4)
        if c < 0.06 and broadcast:
            return b"\xff" * 4
        return self.r.randbytes(4)

    def v6(self) -> bytes:
        """Link-local, ::, ::1-3, ::a.b.c.d, ::ffff:a.b.c.d, or runs of zero groups of
        random lengths: where the :: compression of the two tools could part."""
        r, c = self.r, self.r.random()
        if c < 0.05:
            return b"\xfe\x80" + bytes(6) + r.randbytes(8)
        if c < 0.2:
            low = self.v4() if c < 0.12 else bytes((0, 0, 0, r.randint(0, 3)))
            return bytes(10) + (b"\xff\xff" if self.chance(0.4) else bytes(2)) + low
        zeros = r.random() * 0.7
        return b"".join(bytes(2) if self.chance(zeros) else r.randbytes(2) for _ in range(8))

    def prefix(self, afi: int) -> bytes:
        """An NLRI prefix without host bits past its length (a known difference)."""
        bits = 32 if afi == 1 else 128
        r = self.r
        usual = [24, 16, 8, 22] if afi == 1 else [48, 32, 64, 29]
        length = r.choice([0, bits, r.randint(1, bits), *usual] if self.chance(0.4) else usual)
        value = int.from_bytes(self.v4() if afi == 1 else self.v6(), "big")
        value &= ((1 << bits) - 1) ^ ((1 << (bits - length)) - 1)
        return bytes((length,)) + value.to_bytes(bits // 8, "big")[: (length + 7) // 8]

    def pref(self) -> int:
        return self.r.choice([0, 1, 100, 2**32 - 1, self.r.randint(0, 2**32 - 1)])

    def path_id(self) -> int:
        r = self.r
        return r.choice([0, 1, 2, r.randint(0, 10), r.randint(0, 2**32 - 1), 2**32 - 1])

    def nlri(self, afi: int, count: int, addpath: bool) -> bytes:
        """A prefix list, at times with a prefix twice. Never two default routes first
        without ADD-PATH: mrtfeed reads those as un-signalled ADD-PATH on purpose."""
        prefixes = [self.prefix(afi) for _ in range(count)]
        if count > 1 and self.chance(0.1):
            prefixes.append(self.r.choice(prefixes))
        while not addpath and prefixes[:2] == [b"\0", b"\0"]:
            del prefixes[0]
        if not addpath:
            return b"".join(prefixes)
        return b"".join(u32(self.path_id()) + p for p in prefixes)

    def path(self, four: bool, types: tuple[int, ...] = (1, 3, 4), short: bool = False) -> AsPath:
        """AS_PATH segments; ``short``: not empty and at most 4 segments of 8 ASNs."""
        r = self.r
        if not short and self.chance(0.06):
            return []
        segments: AsPath = []
        for _ in range(1 if self.chance(0.7) else r.randint(1, 4)):
            kind = 2 if self.chance(0.7) else r.choice(types)
            count = r.randint(1, 8) if kind == 2 else r.randint(1, 4)
            segments.append((kind, [self.asn(four) for _ in range(count)]))
        if not short and self.chance(0.02):  # under bgpdump's 7,900-character AS path
            asns = [self.asn(four) for _ in range(r.choice([255, 256, 300, 511, 600]))]
            segments += [(2, asns[i : i + 255]) for i in range(0, len(asns), 255)]
        return segments

    def as4_paths(self) -> tuple[AsPath, AsPath]:
        """AS_PATH and AS4_PATH of a 2-byte record. The ASNs AS_PATH keeps in front of
        AS4_PATH are one segment (bgpdump repeats the first one otherwise) and AS4_PATH
        has no confederation segments: both known differences."""
        r, as4 = self.r, self.path(True, types=(1,), short=True)  # AS4_PATH: SEQ, SET
        if self.chance(0.3):
            return [(2, [self.asn(False) for _ in range(r.randint(1, 8))])], as4
        as2 = [(kind, [a if a < 65536 else AS_TRANS for a in asns]) for kind, asns in as4]
        extra = [self.asn(False) for _ in range(r.randint(1, 3))]
        if as2[0][0] == 2 and self.chance(0.3):
            as2[0] = (2, extra + as2[0][1])
        elif self.chance(0.1):  # a leading AS_CONFED segment stays (RFC 6793 4.2.3)
            # Then AS_PATH is never shorter than AS4_PATH: bgpdump counts the AS_CONFED
            # ASNs and merges an AS4_PATH it should ignore (in BGPDUMP_BUGS).
            return [(r.choice([3, 4]), extra), *as2], as4
        if as2[-1][0] == 2 and len(as2[-1][1]) > 1 and self.chance(0.15):
            as2[-1] = (2, as2[-1][1][:-1])  # shorter than AS4_PATH: AS4_PATH ignored
        return as2, as4

    def attributes(
        self, four: bool, next_hop: bool, reach: bytes | None = None, small_pref: bool = False
    ) -> list[tuple[int, bytes]]:
        """(code, attribute) pairs, each at most once, AGGREGATOR before AS4_AGGREGATOR
        (bgpdump aborts otherwise). ``small_pref``: MED and LOCAL_PREF below 2**31 (bgpdump
        prints those of IPv4 routes in MP_REACH_NLRI signed)."""
        r, v4 = self.r, self.v4
        width = ">I" if four else ">H"
        origin = r.randint(0, 255) if self.chance(0.1) else r.choice([0, 0, 0, 1, 2])
        communities = [
            r.choice(WELL_KNOWN_COMMUNITIES) if self.chance(0.25) else r.randint(0, 2**32 - 1)
            for _ in range(r.choice([1, 2, 3, 5, 10, r.randint(1, 40)]))
        ]
        communities += r.sample(communities, 1) if self.chance(0.15) else []
        large = [(self.asn(), self.pref(), r.randint(0, 999)) for _ in range(r.randint(1, 5))]
        aggregator = struct.pack(width, self.asn(four)) + v4(broadcast=False)
        optional = [  # (probability, code, flags, value)
            (0.97, 1, 0x40, bytes((origin,))),
            (0.4, 4, 0x80, u32(self.pref() % 2**31 if small_pref else self.pref())),
            (0.4, 5, 0x40, u32(self.pref() % 2**31 if small_pref else self.pref())),
            (0.15, 6, 0x40, b""),
            (0.2, 7, 0xC0, aggregator),
            (0.5, 8, 0xC0, b"".join(map(u32, communities))),
            (0.1, 9, 0x80, v4()),
            (0.1, 10, 0x80, b"".join(v4() for _ in range(r.randint(1, 4)))),
            (0.15, 16, 0xC0, r.randbytes(8 * r.randint(1, 4))),
            (0.2, 32, 0xC0, b"".join(struct.pack(">III", *x) for x in large)),
            (0.06, 35, 0xC0, u32(self.asn())),
            (0.05, 26, 0x80, b"\x01\x00\x0b" + r.randbytes(8)),
            (0.07, r.choice(UNKNOWN_CODES), r.choice(UNKNOWN_FLAGS), r.randbytes(r.randint(0, 9))),
        ]
        out = [(code, flags, value) for p, code, flags, value in optional if self.chance(p)]
        as_path, as4_path = self.path(four), None
        if not four and self.chance(0.25):
            as_path, as4_path = self.as4_paths()
        elif four and self.chance(0.03):
            as4_path = self.path(True, types=(1,))
        out += [(2, 0x40, encode_path(as_path, four))] if self.chance(0.97) else []
        out += [(3, 0x40, v4())] if next_hop else []
        if as4_path is not None:
            out.append((17, 0xC0, encode_path(as4_path, True)))
            if not four and self.chance(0.4):
                if all(code != 7 for code, _, _ in out):
                    out.append((7, 0xC0, struct.pack(">H", AS_TRANS) + v4(broadcast=False)))
                out.append((18, 0xC0, u32(self.asn()) + v4(broadcast=False)))
        out += [(14, 0x80, reach)] if reach is not None else []
        pairs = [(c, attribute(c, f, body, self.chance(0.08))) for c, f, body in sorted(out)]
        if self.chance(0.12):
            r.shuffle(pairs)
            codes = [c for c, _ in pairs]
            if 18 in codes and (i := codes.index(18)) < (j := codes.index(7)):
                pairs[i], pairs[j] = pairs[j], pairs[i]
        return pairs

    def mp_reach(self, afi: int, nlri: bytes, abbreviated: bool, safi: int = 1) -> bytes:
        """MP_REACH_NLRI; ``abbreviated`` is the TABLE_DUMP form (next hop only)."""
        hop = self.v4() if afi == 1 and self.chance(0.9) else self.v6()  # RFC 8950 at times
        if afi == 2 and self.chance(0.4):
            hop += b"\xfe\x80" + bytes(6) + self.r.randbytes(8)  # global and link-local
        if abbreviated:
            return bytes((len(hop),)) + hop
        return struct.pack(">HBB", afi, safi, len(hop)) + hop + b"\0" + nlri

    def block(self, four: bool, next_hop: bool, reach: bytes | None = None) -> bytes:
        """The attributes of :meth:`attributes` after their 2-byte length."""
        return block(b"".join(a for _, a in self.attributes(four, next_hop, reach)))

    def table_dump(self) -> tuple[str, bytes]:
        """TABLE_DUMP subtype 1 or 2 (IPv4, IPv6; 2-byte ASNs)."""
        r, subtype = self.r, self.r.choice([1, 2])
        prefix = self.prefix(subtype)
        address = prefix[1:] + bytes((4 if subtype == 1 else 16) - len(prefix) + 1)
        if subtype == 1:
            attrs = self.block(False, self.chance(0.93))
        else:
            mp = prefix if self.chance(0.7) else b""
            attrs = self.block(False, False, self.mp_reach(2, mp, self.chance(0.5)))
        body = struct.pack(">HH", r.choice([0, 0, 1]), r.randint(0, 65535)) + address
        body += bytes((prefix[0], r.choice([1, 1, 0, r.randint(0, 255)])))
        peer = self.v4() if subtype == 1 else self.v6()
        body += struct.pack(">I", self.ts()) + peer + struct.pack(">H", self.asn(False)) + attrs
        label = "TABLE_DUMP/AFI_IP6" if subtype == 2 else "TABLE_DUMP/AFI_IP"
        return label, mrt(self.ts(), 12, subtype, body)

    def peer_table(self) -> tuple[int, bytes]:
        """A PEER_INDEX_TABLE of 1-6 peers, IPv4 or IPv6, 2- or 4-byte ASNs."""
        r, peers = self.r, b""
        count = r.randint(1, 6)
        for _ in range(count):
            v6, four = self.chance(0.4), self.chance(0.6)
            peers += bytes((v6 | four << 1,)) + self.v4() + (self.v6() if v6 else self.v4())
            peers += struct.pack(">I" if four else ">H", self.asn(four))
        view = r.choice([b"", b"", b"rv", b"view-name"])
        body = self.v4() + struct.pack(">H", len(view)) + view + struct.pack(">H", count) + peers
        return count, mrt(self.ts(), 13, 1, body)

    def rib(self, peers: int) -> tuple[str, bytes]:
        """TABLE_DUMP_V2 RIB subtypes 2, 4, 8, 10 (bgpdump 1.6.2 prints no others)."""
        r, subtype = self.r, self.r.choice([2, 2, 4, 4, 8, 10])
        afi, addpath = 1 if subtype in (2, 8) else 2, subtype >= 8
        prefix = self.prefix(afi)
        entries = r.choice([1, 1, 2, 3, r.randint(1, 8)])
        body = struct.pack(">I", r.randint(0, 2**32 - 1)) + prefix + struct.pack(">H", entries)
        for _ in range(entries):
            body += struct.pack(">HI", r.randint(0, peers - 1), self.ts())
            body += struct.pack(">I", self.path_id()) if addpath else b""
            abbreviated = self.chance(0.85)
            mp = b"" if abbreviated else prefix
            if afi == 2:
                body += self.block(True, False, self.mp_reach(2, mp, abbreviated))
            elif self.chance(0.05):
                body += self.block(True, self.chance(0.5), self.mp_reach(1, mp, abbreviated))
            else:
                body += self.block(True, self.chance(0.93))
        return f"TABLE_DUMP_V2/{RIB_SUBTYPES[subtype]}", mrt(self.ts(), 13, subtype, body)

    def update(self, four: bool, addpath: bool) -> bytes:
        """An UPDATE: IPv4 NLRI, withdrawals only, MP_REACH (IPv6 or IPv4) or MP_UNREACH."""
        r, kind = self.r, self.r.random()
        withdrawn = nlri = b""
        safi = r.choice([1, 1, 1, 2])
        if kind < 0.45:
            nlri = self.nlri(1, r.randint(1, 6), addpath)
            if self.chance(0.2):
                withdrawn = self.nlri(1, r.randint(1, 3), addpath)
            attrs = self.attributes(four, self.chance(0.93))
        elif kind < 0.6:
            withdrawn, attrs = self.nlri(1, r.randint(1, 6), addpath), []
        else:
            afi = 2 if self.chance(0.85) else 1
            unreach = struct.pack(">HB", afi, safi) + self.nlri(afi, r.randint(1, 5), addpath)
            if kind < 0.85:
                nlri_mp = self.nlri(afi, r.randint(1, 5), addpath)
                reach = self.mp_reach(afi, nlri_mp, False, safi)
                next_hop = afi == 1 and self.chance(0.5)
                attrs = self.attributes(four, next_hop, reach, small_pref=afi == 1)
            else:
                attrs = self.attributes(four, False) if self.chance(0.3) else []
            if kind >= 0.85 or self.chance(0.15):
                attrs.append((15, attribute(15, 0x80, unreach, self.chance(0.08))))
        data = b"".join(a for _, a in attrs)
        return b"".join((struct.pack(">H", len(withdrawn)), withdrawn, block(data), nlri))

    def message(self, peer_as: int, four: bool, addpath: bool) -> bytes:
        """A BGP message: mostly UPDATEs, some OPEN, NOTIFICATION, KEEPALIVE, ROUTE-REFRESH."""
        r, kind = self.r, self.r.choice([2, 2, 2, 2, 2, 2, 1, 3, 4, 5])
        if kind == 2:
            payload = self.update(four, addpath)
        elif kind == 1:
            params = bytes.fromhex("0206010400010001020641") + struct.pack(">BI", 4, peer_as)
            my_as = peer_as if peer_as < 65536 else AS_TRANS
            payload = struct.pack(">BHH", 4, my_as, 180) + self.v4()
            payload += bytes((len(params),)) + params
        elif kind == 3:
            payload = bytes((r.randint(1, 6), r.randint(0, 10))) + r.randbytes(r.randint(0, 6))
        else:
            payload = b"" if kind == 4 else struct.pack(">HBB", 1, 0, 1)
        return b"\xff" * 16 + struct.pack(">HB", 19 + len(payload), kind) + payload

    def bgp4mp(self) -> tuple[str, bytes]:
        """BGP4MP or BGP4MP_ET: STATE_CHANGE(_AS4), MESSAGE(_AS4)(_ADDPATH); no LOCAL ones."""
        r, kind = self.r, self.r.choice([16, 16, 17])
        subtype = r.choice([4, 4, 4, 1, 1, 0, 5, 5, 8, 9])
        four, addpath, v6 = subtype in (4, 5, 9), subtype in (8, 9), self.chance(0.4)
        peer = self.v6() if v6 else self.v4()
        while peer == MARK_IP:
            peer = self.v4()
        peer_as = self.asn(four)
        body = struct.pack(">II" if four else ">HH", peer_as, self.asn(four))
        body += struct.pack(">HH", r.choice([0, 0, 1, 65535]), 2 if v6 else 1) + peer
        body += self.v6() if v6 else self.v4()
        if subtype in (0, 5):
            body += struct.pack(">HH", r.randint(0, 8), r.randint(0, 8))
        else:
            body += self.message(peer_as, four, addpath)
        micro = r.choice([0, 1, 999999, r.randint(0, 999999)]) if kind == 17 else None
        name = "BGP4MP_ET" if kind == 17 else "BGP4MP"
        return f"{name}/{BGP4MP_SUBTYPES[subtype]}", mrt(self.ts(), kind, subtype, body, micro)


def make_file(seed: int, number: int, records: int) -> list[tuple[str, bytes]]:
    """File ``number`` of a run: a PEER_INDEX_TABLE, then ``records`` random records."""
    gen = Gen(random.Random(seed * 1_000_003 + number))
    peers, table = gen.peer_table()
    out = [("TABLE_DUMP_V2/PEER_INDEX_TABLE", table)]
    kinds = {"1": gen.table_dump, "2": lambda: gen.rib(peers), "3": gen.bgp4mp}
    return out + [kinds[gen.r.choice("122333")]() for _ in range(records)]


def split(text: str) -> dict[int, list[str]]:
    """Lines per record index, cut at the marker lines."""
    chunks: dict[int, list[str]] = {}
    lines: list[str] = []
    for line in text.splitlines():
        if MARK_TAG in line and line.startswith("BGP4MP|"):
            chunks[int(line.split("|")[1])] = lines
            lines = []
        else:
            lines.append(line)
    return chunks


def run(command: list[str]) -> tuple[str, str, str]:
    """Output, error output and exit status (in words) of a command."""
    proc = subprocess.run(command, capture_output=True, timeout=600)
    code = proc.returncode
    status = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
    return proc.stdout.decode("latin-1"), proc.stderr.decode("latin-1"), "" if code == 0 else status


@dataclass
class Tally:
    """Records and bgpdump lines compared per record type, and the differences: (file,
    index, record type, record, its file's PEER_INDEX_TABLE, bgpdump lines, mrtfeed lines)."""

    records: Counter[str] = field(default_factory=Counter)
    lines: Counter[str] = field(default_factory=Counter)
    differences: list[Difference] = field(default_factory=list)


def compare_file(args: argparse.Namespace, number: int, large: bool) -> Tally:
    """Both tools on one random file, compared record by record."""
    records = make_file(args.seed, number, args.records)
    tally, keep, aborted = Tally(), list(range(len(records))), dict[int, str]()
    whole: tuple[list[str], list[str]] = ([], [])  # what goes wrong beyond the markers
    with tempfile.TemporaryDirectory(prefix="diff_vs_bgpdump") as tmp:
        path = pathlib.Path(tmp) / f"seed{args.seed}-file{number}.mrt"
        path.write_bytes(b"".join(records[i][1] + marker(i) for i in keep))
        flag = ["--large-communities"] if large else []
        command = [*args.mrtfeed, "parse", "-f", "bgpdump", "--progress", "never", *flag]
        out, err, status = run([*command, str(path)])
        ours = split(out)
        if status:
            whole[1].append(f"mrtfeed {status}: {err.strip()[-500:]}")
        while True:
            command = ["stdbuf", "-oL", args.bgpdump, "-m", *(["-l"] if large else [])]
            out, _, status = run([*command, str(path)])
            theirs = split(out)
            dead = next((i for i in keep if i not in theirs), None)
            if not status or dead is None:
                if status:
                    whole[0].append(f"bgpdump {status} after the last record")
                break
            aborted[dead] = f"bgpdump {status} on this record"
            keep.remove(dead)
            path.write_bytes(b"".join(records[i][1] + marker(i) for i in keep))
    for index, (label, data) in enumerate(records):
        lines = [aborted[index]] if index in aborted else theirs.get(index, ["(no marker)"])
        mine = ours.get(index, ["(no marker)"])
        tally.records[label] += 1
        tally.lines[label] += len(lines)
        if lines != mine:
            tally.differences.append((number, index, label, data, records[0][1], lines, mine))
    if whole != ([], []):
        tally.differences.append((number, -1, "(whole file)", b"", b"", *whole))
    return tally


def report(mode: str, tallies: list[Tally], show: int) -> int:
    """Print the counts of one mode and the first ``show`` differences; their number."""
    records = sum((t.records for t in tallies), Counter[str]())
    lines = sum((t.lines for t in tallies), Counter[str]())
    differences = [d for t in tallies for d in t.differences]
    differing = Counter(d[2] for d in differences)
    print(f"\n{mode}\n{'record type':<44} {'records':>8} {'lines':>8} {'differing':>9}")
    rows = [(k, records[k], lines[k], differing[k]) for k in sorted(records | differing)]
    rows.append(("total", records.total(), lines.total(), differing.total()))
    for label, *counts in rows:
        print(f"{label:<44} {counts[0]:>8,} {counts[1]:>8,} {counts[2]:>9,}")
    for number, index, label, record, table, theirs, ours in differences[:show]:
        print(f"\n--- file {number}, record {index}: {label}")
        if record:
            print(f"record hex: {record.hex()}")
        if label.startswith("TABLE_DUMP_V2/RIB"):
            print(f"its PEER_INDEX_TABLE hex: {table.hex()}")
        print("bgpdump:", *theirs or ["(nothing)"], sep="\n  ")
        print("mrtfeed:", *ours or ["(nothing)"], sep="\n  ")
    return len(differences)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--records", type=int, default=200, help="random records per file")
    parser.add_argument("--large", action="store_true", help="also compare with -l")
    parser.add_argument("--show", type=int, default=5, help="differences printed in full")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="files at a time")
    mrtfeed = [sys.executable, "-m", "mrtfeed.cli"]
    parser.add_argument("--mrtfeed", type=shlex.split, default=mrtfeed, help="command to run")
    args = parser.parse_args()
    bgpdump = shutil.which("bgpdump")
    if bgpdump is None or shutil.which("stdbuf") is None:
        print("bgpdump or stdbuf not found: apt-get install bgpdump coreutils", file=sys.stderr)
        return 2
    args.bgpdump = bgpdump
    start = time.perf_counter()
    differences = 0
    for large in (False, True) if args.large else (False,):
        files = range(args.files)
        with ThreadPoolExecutor(max(1, args.jobs)) as pool:
            tallies = list(pool.map(compare_file, [args] * len(files), files, [large] * len(files)))
        mode = "bgpdump -m -l vs mrtfeed --large-communities" if large else "bgpdump -m vs mrtfeed"
        differences += report(f"{mode} (seed {args.seed})", tallies, args.show)
    print(f"\n{differences} differing records; {time.perf_counter() - start:.1f} s")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
