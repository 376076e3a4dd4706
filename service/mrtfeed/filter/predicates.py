"""The predicates of the filter language, by name.

Each builder turns the predicate's value tokens into a :class:`Check`: the full test on
an event, plus, for predicates that need only the peer or only the prefix, a test the
decoder can run before it decodes attributes (see :mod:`mrtfeed.filter.engine`).

Tests on attributes remember their last answer by the identity of the shared
:class:`~mrtfeed.decode.attributes.PathAttributes` (every entry with the same attribute
bytes shares one object), so a RIB entry costs a comparison, not a re-evaluation.
Events without attributes (withdrawals, state changes) fail every attribute test,
``*-none`` included: write ``not community-any X`` to keep them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mrtfeed.decode.attributes import PathAttributes, path_length
from mrtfeed.decode.decoder import PrefixKey, prefix_key
from mrtfeed.decode.events import Event, EventKind, Flags, Peer
from mrtfeed.filter import aspath, communities
from mrtfeed.filter.loops import LOOP_CLASSES, loop_class
from mrtfeed.filter.prefixes import PrefixSet, parse_prefix
from mrtfeed.filter.syntax import Token
from mrtfeed.filter.values import (
    BadValue,
    asn,
    int_range,
    ip_address,
    non_negative,
    read_values,
    timestamp,
)

EventTest = Callable[[Event, str], bool]
_STATE = EventKind.STATE
_UNSIGNALLED = Flags.UNSIGNALLED_ADDPATH


@dataclass(frozen=True)
class Check:
    """A compiled predicate."""

    test: EventTest
    #: Decides from the peer alone (peer-asn, peer-ip, peer); None otherwise.
    on_peer: Callable[[Peer], bool] | None = None
    #: Decides from the prefix alone (prefix-*, ip-version); None otherwise.
    on_prefix: Callable[[PrefixKey], bool] | None = None


Builder = Callable[[str, tuple[Token, ...], int], Check]
BUILDERS: dict[str, Builder] = {}


def _register(*names: str) -> Callable[[Builder], Builder]:
    def wrap(builder: Builder) -> Builder:
        for name in names:
            BUILDERS[name] = builder
        return builder

    return wrap


def _need_values(name: str, args: tuple[Token, ...], column: int) -> None:
    if not args:
        raise BadValue(f"{name} needs at least one value", column)


def _no_values(name: str, args: tuple[Token, ...]) -> None:
    if args:
        raise BadValue(f"{name} takes no value", args[0].column)


def _one_value(name: str, args: tuple[Token, ...], column: int) -> Token:
    if len(args) != 1:
        raise BadValue(f"{name} takes exactly one value", args[1].column if args else column)
    return args[0]


# -- peer, collector ----------------------------------------------------------------------


def _peer_check(on_peer: Callable[[Peer], bool]) -> Check:
    return Check(lambda event, _collector: on_peer(event.peer), on_peer=on_peer)


@_register("peer-asn")
def _peer_asn(name: str, args: tuple[Token, ...], column: int) -> Check:
    _need_values(name, args, column)
    asns = frozenset(read_values(args, asn, "ASN"))
    return _peer_check(lambda peer: peer.asn in asns)


@_register("peer-ip")
def _peer_ip(name: str, args: tuple[Token, ...], column: int) -> Check:
    _need_values(name, args, column)
    ips = frozenset(read_values(args, ip_address, "address"))
    return _peer_check(lambda peer: peer.ip in ips)


#: An ASN in asdot (``3.9871``), not an address (the `peer` predicate takes both).
_ASDOT = re.compile(r"\d+\.\d+")


def _peer_spec(text: str) -> tuple[str | None, int | None]:
    """``IP``, ``ASN`` or ``"IP ASN"`` (bgpgrep's -peer)."""
    parts = text.split()
    if len(parts) == 2:
        return ip_address(parts[0]), asn(parts[1])
    if len(parts) == 1:
        if ":" in text or ("." in text and not _ASDOT.fullmatch(text)):
            return ip_address(text), None
        return None, asn(text)
    raise ValueError(f"bad peer {text!r} (IP, ASN or 'IP ASN')")


@_register("peer")
def _peer(name: str, args: tuple[Token, ...], column: int) -> Check:
    _need_values(name, args, column)
    specs = read_values(args, _peer_spec, "peer")
    ips = frozenset(ip for ip, a in specs if a is None and ip is not None)
    asns = frozenset(a for ip, a in specs if ip is None and a is not None)
    pairs = frozenset((ip, a) for ip, a in specs if ip is not None and a is not None)
    return _peer_check(
        lambda peer: peer.ip in ips or peer.asn in asns or (peer.ip, peer.asn) in pairs
    )


@_register("collector")
def _collector(name: str, args: tuple[Token, ...], column: int) -> Check:
    _need_values(name, args, column)
    names = frozenset(read_values(args, str, "collector"))
    return Check(lambda _event, collector: collector in names)


# -- prefixes ----------------------------------------------------------------------------


def _prefix_check(decide: Callable[[PrefixKey], bool]) -> Check:
    """The event test parses the prefix text once per distinct text (a bounded memo:
    the events of a RIB record share one prefix); the decoder's early check gets the
    key it computed from the record's bytes."""
    memo: dict[str, bool] = {}
    get = memo.get

    def test(event: Event, _collector: str) -> bool:
        if event.kind == _STATE:
            return False
        text: str = event.prefix  # type: ignore[union-attr]
        result = get(text)
        if result is None:
            if len(memo) >= _PREFIX_MEMO:
                memo.clear()
            result = memo[text] = decide(prefix_key(text))
        return result

    return Check(test, on_prefix=decide)


_PREFIX_MEMO = 1 << 16


def _prefix_builder(test: Callable[[PrefixSet], Callable[[PrefixKey], bool]]) -> Builder:
    def build(name: str, args: tuple[Token, ...], column: int) -> Check:
        _need_values(name, args, column)
        return _prefix_check(test(PrefixSet(read_values(args, parse_prefix, "prefix"))))

    return build


_register("prefix", "prefix-exact")(_prefix_builder(lambda prefixes: prefixes.exact))
_register("prefix-more")(_prefix_builder(PrefixSet.within_test))
_register("prefix-less")(_prefix_builder(lambda prefixes: prefixes.covering))
_register("prefix-related")(_prefix_builder(lambda prefixes: prefixes.related))


@_register("ip-version")
def _ip_version(name: str, args: tuple[Token, ...], column: int) -> Check:
    token = _one_value(name, args, column)
    if token.text not in ("4", "6"):
        raise BadValue(f"ip-version is 4 or 6, not {token.text!r}", token.column)
    want_v6 = token.text == "6"
    return _prefix_check(lambda key: key[0] == want_v6)


@_register("ipv4", "ipv6")
def _ipvx(name: str, args: tuple[Token, ...], column: int) -> Check:
    _no_values(name, args)
    want_v6 = name == "ipv6"
    return _prefix_check(lambda key: key[0] == want_v6)


# -- attributes --------------------------------------------------------------------------


def _attrs_check(decide: Callable[[PathAttributes], bool]) -> Check:
    last: list[Any] = [None, False]

    def test(event: Event, _collector: str) -> bool:
        if event.kind == _STATE:
            return False
        attrs = event.attrs  # type: ignore[union-attr]
        if attrs is None:
            return False
        if attrs is last[0]:
            return bool(last[1])
        result = decide(attrs)
        last[0] = attrs
        last[1] = result
        return result

    return Check(test)


@_register("origin-asn")
def _origin_asn(name: str, args: tuple[Token, ...], column: int) -> Check:
    _need_values(name, args, column)
    asns = frozenset(read_values(args, asn, "ASN"))
    return _attrs_check(lambda a: any(o in asns for o in aspath.origin_asns(a.as_path)))


@_register("as-path")
def _as_path(name: str, args: tuple[Token, ...], column: int) -> Check:
    _need_values(name, args, column)
    expression = " ".join(arg.text for arg in args)
    try:
        pattern = aspath.simplified(expression)
    except ValueError as exc:
        raise BadValue(str(exc), args[0].column) from None
    search = pattern.search
    return _attrs_check(lambda a: search(aspath.path_tokens(a.as_path)) is not None)


@_register("as-path-regex")
def _as_path_regex(name: str, args: tuple[Token, ...], column: int) -> Check:
    _need_values(name, args, column)
    try:
        pattern = aspath.full_regex(" ".join(arg.text for arg in args))
    except ValueError as exc:
        raise BadValue(str(exc), args[0].column) from None
    search = pattern.search
    return _attrs_check(lambda a: search(aspath.path_text(a.as_path)) is not None)


def _range_of(
    name: str, args: tuple[Token, ...], column: int, convert: Callable[[str], int]
) -> Callable[[int], bool]:
    token = _one_value(name, args, column)
    try:
        low, high = int_range(token.text, convert)
    except ValueError as exc:
        raise BadValue(str(exc), token.column) from None
    lo = -(1 << 64) if low is None else low
    hi = 1 << 64 if high is None else high
    return lambda value: lo <= value <= hi


@_register("path-len")
def _path_len(name: str, args: tuple[Token, ...], column: int) -> Check:
    within = _range_of(name, args, column, non_negative)
    return _attrs_check(lambda a: a.as_path is not None and within(path_length(a.as_path)))


@_register("loop")
def _loop(name: str, args: tuple[Token, ...], column: int) -> Check:
    if not args:
        return _attrs_check(lambda a: loop_class(a.as_path) is not None)
    token = _one_value(name, args, column)
    wanted = token.text.lower().replace("-", "_")
    if wanted not in LOOP_CLASSES:
        raise BadValue(
            f"loop class {token.text!r} is not one of {', '.join(LOOP_CLASSES)}", token.column
        )
    return _attrs_check(lambda a: loop_class(a.as_path) == wanted)


def _community_builder(
    field: str, make_tests: Callable[[str], Callable[[Sequence[Any]], bool]], mode: str
) -> Builder:
    def build(name: str, args: tuple[Token, ...], column: int) -> Check:
        _need_values(name, args, column)
        tests = read_values(args, make_tests, "community")
        if mode == "all":
            return _attrs_check(lambda a: all(t(getattr(a, field)) for t in tests))
        if mode == "none":
            return _attrs_check(lambda a: not any(t(getattr(a, field)) for t in tests))
        return _attrs_check(lambda a: any(t(getattr(a, field)) for t in tests))

    return build


_KINDS_OF_COMMUNITY: dict[str, tuple[str, Callable[[str], Callable[[Sequence[Any]], bool]]]] = {
    "community": ("communities", communities.standard_matcher),
    "ext-community": ("ext_communities", communities.extended_matcher),
    "large-community": ("large_communities", communities.large_matcher),
}
for _prefix, (_field, _make) in _KINDS_OF_COMMUNITY.items():
    for _mode in ("any", "all", "none"):
        _register(f"{_prefix}-{_mode}")(_community_builder(_field, _make, _mode))
    _register(_prefix)(_community_builder(_field, _make, "any"))

#: Attribute names bgpscanner's -t accepts, and a few aliases.
ATTRIBUTE_CODES = {
    "ORIGIN": 1,
    "AS_PATH": 2,
    "NEXT_HOP": 3,
    "MULTI_EXIT_DISC": 4,
    "MED": 4,
    "LOCAL_PREF": 5,
    "ATOMIC_AGGREGATE": 6,
    "AGGREGATOR": 7,
    "COMMUNITY": 8,
    "COMMUNITIES": 8,
    "ORIGINATOR_ID": 9,
    "CLUSTER_LIST": 10,
    "MP_REACH_NLRI": 14,
    "MP_UNREACH_NLRI": 15,
    "EXTENDED_COMMUNITY": 16,
    "EXTENDED_COMMUNITIES": 16,
    "AS4_PATH": 17,
    "AS4_AGGREGATOR": 18,
    "AIGP": 26,
    "LARGE_COMMUNITY": 32,
    "LARGE_COMMUNITIES": 32,
    "OTC": 35,
}


def attribute_code(text: str) -> int:
    code = ATTRIBUTE_CODES.get(text.upper().replace("-", "_"))
    if code is not None:
        return code
    if text.isdigit() and int(text) <= 255:
        return int(text)
    raise ValueError(f"bad attribute {text!r} (a type code 0-255 or a name such as AS_PATH)")


@_register("attr")
def _attr(name: str, args: tuple[Token, ...], column: int) -> Check:
    _need_values(name, args, column)
    codes = frozenset(read_values(args, attribute_code, "attribute"))
    return _attrs_check(lambda a: not codes.isdisjoint(a.present))


# -- event facts -------------------------------------------------------------------------

_TYPE_NAMES = {
    "rib": EventKind.RIB,
    "announce": EventKind.ANNOUNCE,
    "withdraw": EventKind.WITHDRAW,
    "state": EventKind.STATE,
    "peer_state": EventKind.STATE,
}


def _event_type(text: str) -> EventKind:
    kind = _TYPE_NAMES.get(text.lower())
    if kind is None:
        raise ValueError(f"bad event type {text!r} (rib, announce, withdraw, state)")
    return kind


@_register("type")
def _type(name: str, args: tuple[Token, ...], column: int) -> Check:
    _need_values(name, args, column)
    kinds = frozenset(read_values(args, _event_type, "type"))
    return Check(lambda event, _collector: event.kind in kinds)


@_register("time")
def _time(name: str, args: tuple[Token, ...], column: int) -> Check:
    within = _range_of(name, args, column, timestamp)
    return Check(lambda event, _collector: within(event.timestamp))


@_register("unsignalled-addpath")
def _unsignalled(name: str, args: tuple[Token, ...], column: int) -> Check:
    _no_values(name, args)
    return Check(
        lambda event, _collector: event.kind != _STATE and bool(event.flags & _UNSIGNALLED)  # type: ignore[union-attr]
    )
