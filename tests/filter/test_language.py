"""The expression language: errors with columns, three-valued early checks, prefix sets,
loop classes, community kinds the bgpdump reference does not print."""

from __future__ import annotations

import ipaddress
import random
from pathlib import Path

import pytest

from mrtfeed.decode.attributes import PathAttributes
from mrtfeed.decode.decoder import Decoder, prefix_key
from mrtfeed.decode.events import Event, EventKind, Flags, Peer, RouteEvent, StateEvent
from mrtfeed.encode.bgpdump import BgpdumpEncoder
from mrtfeed.encode.bgpscanner import WELL_KNOWN_NAMES as BGPSCANNER_NAMES
from mrtfeed.filter import FilterSyntaxError, compile_filter
from mrtfeed.filter.loops import AS_SEQUENCE, AS_SET, loop_class
from mrtfeed.filter.prefixes import PrefixSet, parse_prefix
from mrtfeed.pipeline.reader import ChunkReader
from tests.filter.helpers import filtered
from tests.mrtdata import MRT_DIR

# -- syntax errors point at the column ---------------------------------------------------

ERRORS = [
    ("", 1, "empty filter expression"),
    ("peer-asn 701 and", 17, "expression ends where a predicate was expected"),
    ("peer-asn 70x1", 10, "bad AS number '70x1'"),
    ("bogus 1", 1, "unknown predicate 'bogus'"),
    ("(peer-asn 1 or type rib", 24, "missing ')'"),
    ("peer-asn 1 peer-ip 192.0.2.1", 12, "expected 'and', 'or' or ')' before 'peer-ip'"),
    ("type rib and prefix-more 10.0.0.0/33", 26, "bad prefix length in '10.0.0.0/33'"),
    ("loop=sideways", 6, "loop class 'sideways' is not one of nonadjacent, as_set"),
    ("community-all 65000:1 65536:1", 23, "bad community '65536:1'"),
    ("as-path ^701 x 3356$", 9, "is not an ASN, '?' or '*'"),
    ('as-path-regex "(701"', 15, "bad AS path regex"),
    ("type rib or", 12, "expression ends where a predicate was expected"),
    ("peer-asn", 1, "peer-asn needs at least one value"),
    ("ipv6 1", 6, "ipv6 takes no value"),
    ("path-len 3 4", 12, "path-len takes exactly one value"),
    ("time 2014-13-01", 6, "bad time"),
    ('collector "rrc00', 11, "unterminated quoted string"),
    ("type rib )", 10, "unexpected ')'"),
    ("and type rib", 1, "expected a predicate, found 'and'"),
]


@pytest.mark.parametrize(("expression", "column", "message"), ERRORS)
def test_errors_name_the_column(expression: str, column: int, message: str) -> None:
    with pytest.raises(FilterSyntaxError) as caught:
        compile_filter(expression)
    assert caught.value.column == column
    assert message in caught.value.message
    assert str(caught.value).endswith(f"at column {column}")
    assert caught.value.pointer().splitlines()[1] == "  " + " " * (column - 1) + "^"


def test_missing_list_file_is_an_error_at_its_token(tmp_path: Path) -> None:
    with pytest.raises(FilterSyntaxError) as caught:
        compile_filter(f"type rib and prefix-more @{tmp_path}/none.txt")
    assert caught.value.column == 26 and "cannot read prefix file" in caught.value.message


def test_list_files_have_comments_and_report_lines(tmp_path: Path) -> None:
    good = tmp_path / "asns.txt"
    good.write_text("# peers\n286 13237  # two\n\n5385\n")
    assert len(filtered("updates.20100722.2015.gz", f"peer-asn @{good}")) == 925 + 849 + 641
    bad = tmp_path / "bad.txt"
    bad.write_text("286\nAS-x\n")
    with pytest.raises(FilterSyntaxError) as caught:
        compile_filter(f"peer-asn 1 @{bad}")
    assert caught.value.column == 12 and f"{bad}:2: bad AS number" in caught.value.message


# -- early checks: never drop what the full filter keeps ---------------------------------

PEER = Peer("192.0.2.1", 65001, True)
OTHER = Peer("192.0.2.2", 65002, True)


@pytest.mark.parametrize(
    ("expression", "peer_verdicts", "prefix_verdicts"),
    [
        ("peer-asn 65001", (True, False), None),
        ("not peer-asn 65001", (False, True), None),
        ("peer-asn 65001 or type state", None, None),  # any peer may match: no check
        ("peer-asn 65001 and community-any 1:1", (True, False), None),
        ("not (peer-asn 65001 and community-any 1:1)", None, None),
        ("prefix-more 10.0.0.0/8", None, (True, False)),
        ("peer-asn 65001 and prefix-more 10.0.0.0/8", (True, False), (True, False)),
        ("(peer-asn 65001 and ipv4) or (peer-asn 65002 and ipv6)", (True, True), (True, True)),
        ("community-any 1:1", None, None),
    ],
)
def test_early_checks_use_three_valued_logic(
    expression: str,
    peer_verdicts: tuple[bool, bool] | None,
    prefix_verdicts: tuple[bool, bool] | None,
) -> None:
    early = compile_filter(expression).early
    if peer_verdicts is None and prefix_verdicts is None:
        assert early is None
        return
    assert early is not None
    assert early.checks_peer == (peer_verdicts is not None)
    assert early.checks_prefix == (prefix_verdicts is not None)
    if peer_verdicts is not None:
        assert (early.peer_may_match(PEER), early.peer_may_match(OTHER)) == peer_verdicts
    if prefix_verdicts is not None:
        got = tuple(early.prefix_may_match(prefix_key(p)) for p in ("10.1.0.0/16", "2001:db8::/32"))
        assert got == prefix_verdicts


@pytest.mark.parametrize(
    ("name", "expression"),
    [
        ("updates.20100722.2015.gz", "not peer-asn 286 and prefix-less 62.140.65.128/25"),
        ("185.186.nlix.mrt", "prefix-more 185.186.128.0/17 and not peer-ip 192.0.2.1"),
        ("namex-bgpd-rib-inet.mrt", "(peer-asn 1267 or origin-asn 3303) and prefix-more 2.0.0.0/8"),
        ("bview.ipv4_unicast_add_path.gz", "peer-asn 65015 and not prefix-exact 10.0.15.0/24"),
    ],
)
def test_early_hook_changes_speed_not_results(name: str, expression: str) -> None:
    event_filter = compile_filter(expression)

    def decode(early: bool) -> str:
        decoder = Decoder()
        decoder.set_early_filter(event_filter.early if early else None)
        events: list[Event] = []
        for chunk in ChunkReader(str(MRT_DIR / name)):
            events += [
                e
                for e in decoder.decode_chunk(chunk.data, chunk.first_index, chunk.first_offset)
                if event_filter.matches(e)
            ]
        return BgpdumpEncoder().encode(events)

    assert event_filter.early is not None
    kept = decode(early=True)
    assert kept and kept == decode(early=False)


# -- prefix sets against brute force ----------------------------------------------------


def test_prefix_set_agrees_with_ipaddress() -> None:
    rng = random.Random(4)
    listed = [
        ipaddress.ip_network((rng.getrandbits(32) >> (32 - n) << (32 - n), n))
        for n in (rng.choice((8, 12, 16, 20, 24)) for _ in range(300))
    ]
    listed += [ipaddress.ip_network("2001:db8::/32"), ipaddress.ip_network("2001:db8:1::/48")]
    prefixes = PrefixSet(parse_prefix(str(n)) for n in listed)
    probes = [
        ipaddress.ip_network(f"{n.network_address}/{min(n.prefixlen + 4, 32)}", strict=False)
        for n in listed[:100]
        if n.version == 4
    ]
    probes += [n.supernet(4) for n in listed[:100] if n.version == 4]
    probes += [ipaddress.ip_network(s) for s in ("0.0.0.0/0", "2001:db8:1:2::/64", "2001::/16")]
    probes += [ipaddress.ip_network((rng.getrandbits(32) >> 8 << 8, 24)) for _ in range(300)]
    within_test = prefixes.within_test()
    for probe in probes:
        key = parse_prefix(str(probe))
        same = [n for n in listed if n.version == probe.version]
        assert prefixes.exact(key) == (probe in same)
        within = any(probe.subnet_of(n) for n in same)  # type: ignore[arg-type]
        assert prefixes.within(key) == within_test(key) == within
        assert prefixes.covering(key) == any(probe.supernet_of(n) for n in same)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("seed", "width", "shortest"),
    [(seed, 32, 9) for seed in range(4)] + [(4, 32, 0), (5, 32, 0), (6, 128, 20), (7, 128, 0)],
)
def test_prefix_set_with_nested_prefixes_of_every_length(
    seed: int, width: int, shortest: int
) -> None:
    """Addresses from a small space, so listed prefixes nest and markers matter; the
    probe keys keep their host bits, as the decoder's keys from raw bytes may."""
    rng = random.Random(seed)
    base = 0x0A000000 if width == 32 else 0x20010DB8 << 96
    spread = 24 if width == 32 else 64

    def address() -> int:
        return base | rng.getrandbits(10) << (spread - 10) | rng.getrandbits(spread - 10)

    def network(raw: int, length: int) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        kind = ipaddress.IPv4Network if width == 32 else ipaddress.IPv6Network
        return kind((raw >> (width - length) << (width - length), length))

    listed = [
        network(address(), n)
        for n in (rng.randrange(shortest, width + 1) for _ in range(rng.choice((5, 50, 400))))
    ]
    prefixes = PrefixSet(parse_prefix(str(n)) for n in listed)
    within_test = prefixes.within_test()
    for i in range(1000):
        raw, length = address(), rng.randrange(0, width + 1)
        if i % 2:  # inside or around a listed prefix
            near = rng.choice(listed)
            raw = int(near.network_address) | rng.getrandbits(width - near.prefixlen)
            length = rng.randrange(max(0, near.prefixlen - 3), width + 1)
        probe = network(raw, length)
        key = (width == 128, raw, length)
        assert prefixes.exact(key) == (probe in listed)
        within = any(probe.subnet_of(n) for n in listed)  # type: ignore[arg-type]
        assert prefixes.within(key) == within_test(key) == within
        assert prefixes.covering(key) == any(probe.supernet_of(n) for n in listed)  # type: ignore[arg-type]


def test_host_bits_are_cleared_and_bare_addresses_are_hosts() -> None:
    assert parse_prefix("10.1.2.3/8") == (False, 10 << 24, 8)
    assert parse_prefix("2001:db8::1") == (True, 0x20010DB8 << 96 | 1, 128)
    with pytest.raises(ValueError, match="bad prefix"):
        parse_prefix("10.0.0/8")


# -- loop classes --------------------------------------------------------------------------


def seq(*asns: int) -> tuple[int, tuple[int, ...]]:
    return (AS_SEQUENCE, asns)


def aset(*asns: int) -> tuple[int, tuple[int, ...]]:
    return (AS_SET, asns)


@pytest.mark.parametrize(
    ("segments", "expected"),
    [
        ([seq(1, 2, 3)], None),
        ([seq(1, 1, 1, 2, 3, 3)], None),  # prepending
        ([seq(1, 2, 1)], "nonadjacent"),
        ([seq(1, 23456, 2, 23456)], None),  # AS_TRANS stands for different unknown ASNs
        ([seq(1, 23456, 1)], "nonadjacent"),  # was taken for prepending before the fix
        ([seq(1, 2), aset(2, 3)], "as_set"),
        ([seq(1, 2), aset(3, 4), seq(3)], "as_set"),
        ([seq(2), aset(2, 3), seq(2)], "nonadjacent"),  # was as_set before the fix
        ([seq(1), aset(2, 3), seq(1)], "nonadjacent"),
        ([(3, (1,)), seq(1, 2)], None),  # confederation segments do not count
        ([], None),
    ],
)
def test_loop_classes(segments: list[tuple[int, tuple[int, ...]]], expected: str | None) -> None:
    assert loop_class(segments) == expected


# -- what the bgpdump reference cannot check -------------------------------------------


@pytest.mark.parametrize(
    ("expression", "count"),
    [  # counts from `bgpdump -m -l 185.186.nlix.mrt` (its large-communities column)
        ("large-community-any 213279:1102:*", 10),
        ("large-community-all 213279:1102:492 213279:6939:492", 2),
        ("large-community-none 200365:*:*", 21),
        ("large-community 213279:*:9", 1),
    ],
)
def test_large_communities_on_a_real_rib(expression: str, count: int) -> None:
    assert len(filtered("185.186.nlix.mrt", expression)) == count


def _announce(attrs: PathAttributes, flags: Flags = Flags.NONE) -> RouteEvent:
    return RouteEvent(
        EventKind.ANNOUNCE, 0, 1400000000, -1, 0, PEER, "10.0.0.0/8", None, attrs, "", 0, flags
    )


def test_extended_communities_match_their_text_with_wildcards() -> None:
    attrs = PathAttributes()
    attrs.ext_communities = (bytes.fromhex("0002fde800000064"), bytes.fromhex("0103c0000201000f"))
    event = _announce(attrs)  # rt:65000:100 and soo:192.0.2.1:15
    assert compile_filter("ext-community rt:65000:100").matches(event)
    assert compile_filter("ext-community-all rt:65000:* soo:*:15").matches(event)
    assert not compile_filter("ext-community-any rt:65001:*").matches(event)
    assert compile_filter("ext-community-none rt:65001:*").matches(event)


def test_collector_flag_and_state_events() -> None:
    event = _announce(PathAttributes(), Flags.UNSIGNALLED_ADDPATH)
    state = StateEvent(EventKind.STATE, 1, 1400000000, -1, 0, PEER, 1, 6)
    assert compile_filter("collector rrc00 route-views2").matches(event, "rrc00")
    assert not compile_filter("collector rrc00").matches(event, "rrc01")
    assert compile_filter("unsignalled-addpath").matches(event)
    assert not compile_filter("unsignalled-addpath").matches(state)
    assert compile_filter("type state and peer-asn 65001").matches(state)
    assert not compile_filter("community-none 1:1").matches(state)  # no attributes
    assert compile_filter("not community-any 1:1").matches(state)


def test_unsignalled_addpath_on_the_bird_capture() -> None:
    # BIRD negotiated ADD-PATH but wrote plain MESSAGE_AS4 records: every route is flagged.
    flagged = filtered("bird_bgp", "unsignalled-addpath")
    assert flagged and flagged == filtered("bird_bgp", "type announce withdraw")
    assert filtered("bird_bgp", "not unsignalled-addpath") == filtered("bird_bgp", "type state")
    assert filtered("updates.20100722.2015.gz", "unsignalled-addpath") == []


@pytest.mark.parametrize("value", sorted(BGPSCANNER_NAMES))
def test_every_well_known_name_the_output_prints_is_a_community_pattern(value: int) -> None:
    """`-f bgpscanner` printed NOPEER, which -m refused ("bad community"); bgpdump's
    local-AS too must read back."""
    from mrtfeed.encode.bgpdump import community_text
    from mrtfeed.filter.communities import standard

    for printed in (BGPSCANNER_NAMES[value], community_text(value)):
        assert standard(printed) == (value, 0xFFFFFFFF), printed
