"""Every predicate on real files; the expected lines are picked from the ``bgpdump -m``
reference with independent code (``ipaddress``, string splitting), not with mrtfeed's."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

import pytest

from tests.filter.helpers import Key, expected, filtered

UPDATES = "updates.20100722.2015.gz"  # BGP4MP: 5067 A, 547 W, 40 STATE; IPv4 and IPv6
RIB6 = "rib6.20151101.0600_firstMB.bz2"  # TABLE_DUMP_V2 IPv6, AS_SETs and loops
NAMEX = "namex-bgpd-rib-inet.mrt"  # TABLE_DUMP v1 with 4-byte ASNs through AS4_PATH
BVIEW = "bview.20020722.2337.gz"  # TABLE_DUMP v1; loops through AS_SETs

Fields = list[str]


def route(f: Fields) -> bool:
    return f[2] in ("A", "B", "W")


def attributed(f: Fields) -> bool:
    return f[2] in ("A", "B")


def net(f: Fields) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(f[5])


def within(f: Fields, *nets: str) -> bool:
    mine = net(f)
    return any(
        mine.version == (o := ipaddress.ip_network(n)).version and mine.subnet_of(o)  # type: ignore[arg-type]
        for n in nets
    )


def covering(f: Fields, *nets: str) -> bool:
    mine = net(f)
    return any(
        mine.version == (o := ipaddress.ip_network(n)).version and mine.supernet_of(o)  # type: ignore[arg-type]
        for n in nets
    )


def path(f: Fields) -> list[str]:
    return f[6].split()


def origins(f: Fields) -> set[str]:
    last = path(f)[-1] if path(f) else ""
    return set(last.strip("{}").split(",")) if last.startswith("{") else {last}


def path_len(f: Fields) -> int:
    return len(path(f))  # an AS_SET is one token in bgpdump's text; no confederations here


def comms(f: Fields) -> list[str]:
    return f[11].split()


def has_loop(f: Fields) -> bool:
    """Repeated ASN after a different one, sets and AS_TRANS left out."""
    seq = [t for t in path(f) if not t.startswith("{") and t != "23456"]
    collapsed = [t for i, t in enumerate(seq) if i == 0 or seq[i - 1] != t]
    return len(set(collapsed)) != len(collapsed)


def set_loop(f: Fields) -> bool:
    """An AS_SET member that also shows up elsewhere in the path (and no plain loop)."""
    tokens = path(f)
    members = {m for t in tokens if t.startswith("{") for m in t.strip("{}").split(",")}
    plain = {t for t in tokens if not t.startswith("{")}
    return not has_loop(f) and bool(members & plain)


CASES: list[tuple[str, str, Callable[[Fields], bool]]] = [
    # peers (state lines included: they have a peer)
    (UPDATES, "peer-asn 286", lambda f: f[4] == "286"),
    (UPDATES, "peer-asn 286 AS13237", lambda f: f[4] in ("286", "13237")),
    (UPDATES, "peer-ip 193.203.0.97", lambda f: f[3] == "193.203.0.97"),
    (
        UPDATES,
        'peer "193.203.0.91 13237" or peer 5385',
        lambda f: (f[3], f[4]) == ("193.203.0.91", "13237") or f[4] == "5385",
    ),
    (UPDATES, "peer 0.286 193.203.0.97", lambda f: f[4] == "286" or f[3] == "193.203.0.97"),
    (RIB6, "peer-asn 209", lambda f: f[4] == "209"),
    (NAMEX, "peer-ip 193.201.28.128", lambda f: f[3] == "193.201.28.128"),
    # event type, IP version, time
    (UPDATES, "type withdraw", lambda f: f[2] == "W"),
    (UPDATES, "type announce state", lambda f: f[2] in ("A", "STATE")),
    (UPDATES, "ip-version 6", lambda f: route(f) and ":" in f[5]),
    (UPDATES, "ipv4 and type withdraw", lambda f: f[2] == "W" and ":" not in f[5]),
    (UPDATES, "time 1279829800..1279829900", lambda f: 1279829800 <= int(f[1]) <= 1279829900),
    (UPDATES, "time <1279829760", lambda f: int(f[1]) < 1279829760),
    # prefixes
    (
        UPDATES,
        "prefix-exact 62.140.65.0/24 62.37.120.0/22",
        lambda f: route(f) and f[5] in ("62.140.65.0/24", "62.37.120.0/22"),
    ),
    (
        UPDATES,
        "prefix-more 62.0.0.0/8 200.0.0.0/6",
        lambda f: route(f) and within(f, "62.0.0.0/8", "200.0.0.0/6"),
    ),
    (
        UPDATES,
        "prefix-less 62.140.65.128/25 92.0.0.0/8",
        lambda f: route(f) and covering(f, "62.140.65.128/25", "92.0.0.0/8"),
    ),
    (
        UPDATES,
        "prefix-related 62.37.120.0/21",
        lambda f: route(f) and (within(f, "62.37.120.0/21") or covering(f, "62.37.120.0/21")),
    ),
    (
        RIB6,
        "prefix-more 2400::/12 2001:db8::/32",
        lambda f: within(f, "2400::/12", "2001:db8::/32"),
    ),
    (RIB6, "prefix-less 2001:4860:4860::/48", lambda f: covering(f, "2001:4860:4860::/48")),
    # AS path
    (
        UPDATES,
        "origin-asn 22047 15802",
        lambda f: attributed(f) and bool(origins(f) & {"22047", "15802"}),
    ),
    (RIB6, "origin-asn 6939", lambda f: "6939" in origins(f)),
    (UPDATES, "as-path ^286", lambda f: attributed(f) and path(f)[:1] == ["286"]),
    (UPDATES, 'as-path "3549 ?$"', lambda f: attributed(f) and path(f)[-2:-1] == ["3549"]),
    (
        UPDATES,
        "as-path ^286 * 3549 ?$",
        lambda f: (
            attributed(f) and path(f)[:1] == ["286"] and len(path(f)) >= 3 and path(f)[-2] == "3549"
        ),
    ),
    (UPDATES, "as-path 3356 3549", lambda f: attributed(f) and " 3356 3549 " in f" {f[6]} "),
    (
        UPDATES,
        'as-path-regex "^(286|13237) .*22047$"',
        lambda f: (
            attributed(f)
            and path(f)[0] in ("286", "13237")
            and path(f)[-1] == "22047"
            and len(path(f)) > 1
        ),
    ),
    (UPDATES, "path-len >=6", lambda f: attributed(f) and path_len(f) >= 6),
    (RIB6, "path-len 2..3", lambda f: 2 <= path_len(f) <= 3),
    (RIB6, "loop", lambda f: has_loop(f) or set_loop(f)),
    (RIB6, "loop=nonadjacent", has_loop),
    (BVIEW, "loop=as_set", set_loop),
    (BVIEW, "loop", lambda f: has_loop(f) or set_loop(f)),
    (RIB6, "not loop and type rib", lambda f: not has_loop(f) and not set_loop(f)),
    # communities
    (UPDATES, "community-any 286:19", lambda f: attributed(f) and "286:19" in comms(f)),
    (
        UPDATES,
        "community-all 286:19 286:29 286:800",
        lambda f: attributed(f) and {"286:19", "286:29", "286:800"} <= set(comms(f)),
    ),
    (
        UPDATES,
        "community-any *:800 3549:*",
        lambda f: (
            attributed(f) and any(c.endswith(":800") or c.startswith("3549:") for c in comms(f))
        ),
    ),
    (
        UPDATES,
        "community-none 286:* and type announce",
        lambda f: f[2] == "A" and not any(c.startswith("286:") for c in comms(f)),
    ),
    (NAMEX, "community 0:2906", lambda f: "0:2906" in comms(f)),
    # attributes present
    (UPDATES, "attr AGGREGATOR", lambda f: attributed(f) and f[13] != ""),
    (UPDATES, "attr 6", lambda f: attributed(f) and f[12] == "AG"),
    # negation and grouping; the first two are decided by the decoder's early check alone
    (UPDATES, "not prefix-more 62.0.0.0/8", lambda f: not (route(f) and within(f, "62.0.0.0/8"))),
    (UPDATES, "not peer-asn 286", lambda f: f[4] != "286"),
    (
        UPDATES,
        "not (peer-asn 286 or community-any 286:*) and type announce",
        lambda f: f[2] == "A" and f[4] != "286" and not any(c.startswith("286:") for c in comms(f)),
    ),
    (
        UPDATES,
        "peer-asn 286 and (prefix-more 62.0.0.0/8 or community-all 286:19 286:29)",
        lambda f: (
            f[4] == "286"
            and route(f)
            and (
                within(f, "62.0.0.0/8") or (attributed(f) and {"286:19", "286:29"} <= set(comms(f)))
            )
        ),
    ),
    (
        UPDATES,
        "! peer-asn 286 and not prefix-more 0.0.0.0/1",
        lambda f: f[4] != "286" and not (route(f) and within(f, "0.0.0.0/1")),
    ),
]


@pytest.mark.parametrize(
    ("name", "expression", "keep"), CASES, ids=[f"{c[0][:12]}: {c[1]}" for c in CASES]
)
def test_predicate_selects_the_reference_lines(
    name: str, expression: str, keep: Callable[[Fields], bool]
) -> None:
    want: list[Key] = expected(name, keep)
    assert want, "the case must select something"
    assert len(want) < len(expected(name, lambda f: True)), "the case must drop something"
    assert filtered(name, expression) == want
