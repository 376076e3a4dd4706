"""bgpscanner's filter flags, as an expression of the filter language.

bgpscanner's rules (rfperuch/bgpscanner:src/main.c): flags of different groups are
ANDed; repeats inside a group are ORed; a capital letter reads the values from a
template file (``-A -I -E -S -U -R -T``) or negates (``-M -P -L``). ``-m "A B"`` needs
both A and B, ``-m A -m B`` either; each ``-M`` term is negated on its own, so
``-m X -M Y`` means X OR NOT Y. ``--all-communities`` ANDs the community terms instead
(the fix bgpgrep made). Only one of ``-e -s -u -r`` may be used per run.

The result is a string so that worker processes compile it themselves; files are
referenced as ``@path`` and read at compile time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from mrtfeed.filter.engine import EventFilter, compile_filter
from mrtfeed.filter.syntax import FilterSyntaxError

#: bgpscanner prefix flag -> the filter language's predicate.
PREFIX_MODES = {
    "e": "prefix-exact",
    "s": "prefix-more",
    "u": "prefix-less",
    "r": "prefix-related",
}


def quote(value: str) -> str:
    """A value as one token of the filter language."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _file(path: str) -> str:
    return quote("@" + os.path.abspath(path))


@dataclass
class BgpscannerFlags:
    """The parsed flags, in the order given where order matters (``-p -P``, ``-m -M``)."""

    peer_asns: list[str] = field(default_factory=list)
    peer_asn_files: list[str] = field(default_factory=list)
    peer_ips: list[str] = field(default_factory=list)
    peer_ip_files: list[str] = field(default_factory=list)
    attrs: list[str] = field(default_factory=list)
    attr_files: list[str] = field(default_factory=list)
    #: (negated, space-separated communities) per -m / -M.
    communities: list[tuple[bool, str]] = field(default_factory=list)
    #: (negated, path expression) per -p / -P.
    paths: list[tuple[bool, str]] = field(default_factory=list)
    #: (mode letter e/s/u/r, value, is a file), for -e -E -s -S -u -U -r -R.
    prefixes: list[tuple[str, str, bool]] = field(default_factory=list)
    #: True for -l, False for -L (the last one wins), None for neither.
    loops: bool | None = None
    all_communities: bool = False
    #: --filter EXPR, ANDed with the flags.
    expression: str = ""


class ConflictingFlags(ValueError):
    """Two flags bgpscanner refuses together (two prefix modes)."""


class BadFlagValue(ValueError):
    """A flag's value does not read; the message names the flag, not the expression."""


def _tokens(flag: str, predicate: str, value: str) -> str:
    """A value given on the command line as the predicate's tokens, compiled alone
    first: a bad one used to be shown inside the expression the flags make, which the
    user never typed. ``-m``'s value is several communities."""
    words = value.split() if predicate == "community-all" else [value]
    tokens = " ".join(quote(w) for w in words)
    try:
        compile_filter(f"{predicate} {tokens}")
    except FilterSyntaxError as exc:
        raise BadFlagValue(f"{flag} {value!r}: {exc.message}") from None
    return tokens


def _values(flag: str, name: str, values: list[str], files: list[str]) -> str | None:
    tokens = [_tokens(flag, name, v) for v in values] + [_file(f) for f in files]
    return f"{name} {' '.join(tokens)}" if tokens else None


def bgpscanner_expression(flags: BgpscannerFlags) -> str:
    """The filter expression for the flags ("" when they filter nothing); raises
    :class:`BadFlagValue` naming a flag whose value does not read."""
    groups = [
        _values("-a", "peer-asn", flags.peer_asns, flags.peer_asn_files),
        _values("-i", "peer-ip", flags.peer_ips, flags.peer_ip_files),
        _values("-t", "attr", flags.attrs, flags.attr_files),
    ]
    if flags.communities:
        terms = []
        for negated, text in flags.communities:
            flag = "-M" if negated else "-m"
            term = f"community-all {_tokens(flag, 'community-all', text)}".rstrip()
            terms.append(f"not {term}" if negated else term)
        joiner = " and " if flags.all_communities else " or "
        groups.append("(" + joiner.join(terms) + ")")
    if flags.paths:
        terms = []
        for negated, text in flags.paths:
            term = f"as-path {_tokens('-P' if negated else '-p', 'as-path', text)}"
            terms.append(f"not {term}" if negated else term)
        groups.append("(" + " or ".join(terms) + ")")
    modes = {mode for mode, _, _ in flags.prefixes}
    if len(modes) > 1:
        letters = ", ".join(f"-{m}" for m in sorted(modes))
        raise ConflictingFlags(f"conflicting options in filter: {letters} (use only one)")
    if modes:
        (mode,) = modes
        predicate = PREFIX_MODES[mode]
        tokens = [
            _file(v) if is_file else _tokens(f"-{mode}", predicate, v)
            for _, v, is_file in flags.prefixes
        ]
        groups.append(f"{predicate} {' '.join(tokens)}")
    if flags.loops is not None:
        groups.append("loop" if flags.loops else "not loop")
    if flags.expression:
        groups.append(f"({flags.expression})")
    return " and ".join(g for g in groups if g)


def filter_from_bgpscanner(flags: BgpscannerFlags) -> EventFilter | None:
    """Compile the flags (None when they filter nothing). Raises
    :class:`ConflictingFlags` or :class:`~mrtfeed.filter.FilterSyntaxError`."""
    expression = bgpscanner_expression(flags)
    return compile_filter(expression) if expression else None
