"""Compile a filter expression into closures, and derive the decoder's early checks.

:meth:`EventFilter.matches` runs a tree of small closures (``a(e) and b(e)``), built
once. :attr:`EventFilter.early` answers, from the peer alone or the prefix alone,
"can any event with this peer (prefix) still match?" with three-valued logic: a
predicate that needs something else is *unknown*, ``not unknown`` is unknown,
``False and unknown`` is False. Only a definite False lets the decoder skip work, so
the early checks never drop an event that :meth:`matches` would keep.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from mrtfeed.decode.events import Event, Peer
from mrtfeed.filter.predicates import BUILDERS, Check, EventTest
from mrtfeed.filter.syntax import And, FilterSyntaxError, Node, Not, Predicate, parse
from mrtfeed.filter.values import BadValue

T = TypeVar("T")
Partial = Callable[[T], bool | None]


@dataclass(frozen=True)
class _Compiled:
    test: EventTest
    on_peer: Partial[Peer] | None
    on_prefix: Partial[str] | None


def _and2(a: EventTest, b: EventTest) -> EventTest:
    return lambda event, collector: a(event, collector) and b(event, collector)


def _or2(a: EventTest, b: EventTest) -> EventTest:
    return lambda event, collector: a(event, collector) or b(event, collector)


def _not(a: EventTest) -> EventTest:
    return lambda event, collector: not a(event, collector)


def _partial_of(
    operands: list[_Compiled], pick: Callable[[_Compiled], Partial[T] | None], conj: bool
) -> Partial[T] | None:
    """Kleene AND (``conj``) or OR over the operands' partial tests; None when no
    operand can decide anything from this input."""
    parts = [pick(o) for o in operands]
    if all(p is None for p in parts):
        return None
    stop = not conj  # AND stops at False, OR at True

    def partial(value: T) -> bool | None:
        unknown = False
        for part in parts:
            result = None if part is None else part(value)
            if result is None:
                unknown = True
            elif result == stop:
                return stop
        return None if unknown else conj

    return partial


def _negate(part: Partial[T] | None) -> Partial[T] | None:
    if part is None:
        return None

    def partial(value: T) -> bool | None:
        result = part(value)
        return None if result is None else not result

    return partial


def _compile(node: Node, expression: str) -> _Compiled:
    if isinstance(node, Predicate):
        try:
            check: Check = BUILDERS[node.name](node.name, node.args, node.column)
        except BadValue as exc:
            raise FilterSyntaxError(exc.message, exc.column, expression) from None
        return _Compiled(check.test, check.on_peer, check.on_prefix)
    if isinstance(node, Not):
        inner = _compile(node.operand, expression)
        return _Compiled(_not(inner.test), _negate(inner.on_peer), _negate(inner.on_prefix))
    operands = [_compile(child, expression) for child in node.operands]
    conj = isinstance(node, And)
    combine = _and2 if conj else _or2
    test = operands[0].test
    for other in operands[1:]:
        test = combine(test, other.test)
    return _Compiled(
        test,
        _partial_of(operands, lambda o: o.on_peer, conj),
        _partial_of(operands, lambda o: o.on_prefix, conj),
    )


class EarlyFilter:
    """What the decoder asks before decoding attributes (see
    :class:`mrtfeed.decode.decoder.EarlyHook`). False means: no event with this peer
    (prefix) can match; True means: maybe."""

    __slots__ = ("_on_peer", "_on_prefix", "checks_peer", "checks_prefix")

    def __init__(self, on_peer: Partial[Peer] | None, on_prefix: Partial[str] | None) -> None:
        self._on_peer = on_peer
        self._on_prefix = on_prefix
        self.checks_peer = on_peer is not None
        self.checks_prefix = on_prefix is not None

    def peer_may_match(self, peer: Peer) -> bool:
        return self._on_peer is None or self._on_peer(peer) is not False

    def prefix_may_match(self, prefix: str) -> bool:
        return self._on_prefix is None or self._on_prefix(prefix) is not False


class EventFilter:
    """A compiled filter expression."""

    def __init__(self, expression: str) -> None:
        self.expression = expression
        tree = parse(expression, BUILDERS.__contains__)
        compiled = _compile(tree, expression)
        self._test = compiled.test
        #: The decoder hook, or None when no predicate can decide from peer or prefix.
        self.early: EarlyFilter | None = (
            EarlyFilter(compiled.on_peer, compiled.on_prefix)
            if compiled.on_peer is not None or compiled.on_prefix is not None
            else None
        )

    def matches(self, event: Event, collector: str = "") -> bool:
        return self._test(event, collector)

    def __repr__(self) -> str:
        return f"EventFilter({self.expression!r})"


def compile_filter(expression: str) -> EventFilter:
    """Compile an expression; raises :class:`FilterSyntaxError` (with ``.column``)."""
    return EventFilter(expression)
