"""Compile a filter expression into closures, and derive the decoder's early checks.

:meth:`EventFilter.matches` runs a tree of small closures (``a(e) and b(e)``), built
once. :attr:`EventFilter.early` answers, from the peer alone or the prefix alone,
"can an event with this peer (prefix) still match?". Three-valued logic, compiled: each
node gets a *may* test (true unless the input proves the node false) and a *must* test
(true only when the input proves it true). A predicate that needs something else is a
constant (may: True, must: False); ``not X`` swaps them: may(not X) = not must(X).
Constants fold away, so ``not prefix-more L`` costs one call per prefix. Only a false
*may* lets the decoder skip work, so the early checks never drop an event that
:meth:`EventFilter.matches` would keep.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from mrtfeed.decode.decoder import PrefixKey
from mrtfeed.decode.events import Event, EventKind, Peer
from mrtfeed.filter.predicates import BUILDERS, Check, EventTest
from mrtfeed.filter.syntax import And, FilterSyntaxError, Node, Not, Predicate, parse
from mrtfeed.filter.values import BadValue

T = TypeVar("T")
_STATE = EventKind.STATE

#: A test of one input, or a constant when the input cannot change the answer.
Tri = Callable[[T], bool] | bool


@dataclass(frozen=True)
class _Partial(Generic[T]):
    may: Tri[T]
    must: Tri[T]
    #: Every leaf decides from this input: may and must are the node's exact answer.
    total: bool

    @staticmethod
    def leaf(decide: Callable[[T], bool] | None) -> _Partial[T]:
        if decide is None:
            return _Partial(True, False, False)
        return _Partial(decide, decide, True)

    def negated(self) -> _Partial[T]:
        return _Partial(_not1(self.must), _not1(self.may), self.total)


def _not1(fn: Tri[T]) -> Tri[T]:
    if isinstance(fn, bool):
        return not fn
    return lambda value: not fn(value)


def _fold(parts: list[Tri[T]], conj: bool) -> Tri[T]:
    """AND (``conj``) or OR of tests, with constants folded away."""
    fns: list[Callable[[T], bool]] = []
    for part in parts:
        if isinstance(part, bool):
            if part != conj:
                return part  # False in an AND, True in an OR
            continue
        fns.append(part)
    if not fns:
        return conj
    combined = fns[0]
    for fn in fns[1:]:
        combined = _pair(combined, fn, conj)
    return combined


def _pair(a: Callable[[T], bool], b: Callable[[T], bool], conj: bool) -> Callable[[T], bool]:
    if conj:
        return lambda value: a(value) and b(value)
    return lambda value: a(value) or b(value)


def _combine(parts: list[_Partial[T]], conj: bool) -> _Partial[T]:
    return _Partial(
        _fold([p.may for p in parts], conj),
        _fold([p.must for p in parts], conj),
        all(p.total for p in parts),
    )


@dataclass(frozen=True)
class _Compiled:
    test: EventTest
    peer: _Partial[Peer]
    prefix: _Partial[PrefixKey]


def _and2(a: EventTest, b: EventTest) -> EventTest:
    return lambda event, collector: a(event, collector) and b(event, collector)


def _or2(a: EventTest, b: EventTest) -> EventTest:
    return lambda event, collector: a(event, collector) or b(event, collector)


def _not(a: EventTest) -> EventTest:
    return lambda event, collector: not a(event, collector)


def _compile(node: Node, expression: str) -> _Compiled:
    if isinstance(node, Predicate):
        try:
            check: Check = BUILDERS[node.name](node.name, node.args, node.column)
        except BadValue as exc:
            raise FilterSyntaxError(exc.message, exc.column, expression) from None
        return _Compiled(check.test, _Partial.leaf(check.on_peer), _Partial.leaf(check.on_prefix))
    if isinstance(node, Not):
        inner = _compile(node.operand, expression)
        return _Compiled(_not(inner.test), inner.peer.negated(), inner.prefix.negated())
    operands = [_compile(child, expression) for child in node.operands]
    conj = isinstance(node, And)
    combine = _and2 if conj else _or2
    test = operands[0].test
    for other in operands[1:]:
        test = combine(test, other.test)
    return _Compiled(
        test,
        _combine([o.peer for o in operands], conj),
        _combine([o.prefix for o in operands], conj),
    )


def _callable(tri: Tri[T]) -> Callable[[T], bool]:
    if isinstance(tri, bool):
        constant = tri
        return lambda _value: constant
    return tri


class EarlyFilter:
    """What the decoder asks before decoding attributes (the
    :class:`mrtfeed.decode.decoder.EarlyHook` protocol): False means no event with this
    peer (prefix) can match; True means maybe."""

    __slots__ = ("checks_peer", "checks_prefix", "final", "peer_may_match", "prefix_may_match")

    def __init__(self, peer: _Partial[Peer], prefix: _Partial[PrefixKey]) -> None:
        self.checks_peer = peer.may is not True
        self.checks_prefix = prefix.may is not True
        self.peer_may_match: Callable[[Peer], bool] = _callable(peer.may)
        self.prefix_may_match: Callable[[PrefixKey], bool] = _callable(prefix.may)
        #: The answers are the filter's own for route events (the expression uses only
        #: peer predicates, or only prefix predicates): see EventFilter.select.
        self.final = peer.total or prefix.total


class EventFilter:
    """A compiled filter expression."""

    def __init__(self, expression: str) -> None:
        self.expression = expression
        tree = parse(expression, BUILDERS.__contains__)
        compiled = _compile(tree, expression)
        self._test = compiled.test
        #: The decoder hook, or None when no predicate can decide from peer or prefix.
        early = EarlyFilter(compiled.peer, compiled.prefix)
        self.early: EarlyFilter | None = early if early.checks_peer or early.checks_prefix else None

    def matches(self, event: Event, collector: str = "") -> bool:
        return self._test(event, collector)

    def select(
        self, events: list[Event], collector: str = "", *, early_applied: bool = False
    ) -> list[Event]:
        """The events that match, in order. ``early_applied``: the events come from a
        decoder that ran :attr:`early`; when its answers are final (see
        :attr:`EarlyFilter.final`), route events are not tested twice."""
        test = self._test
        if early_applied and self.early is not None and self.early.final:
            return [e for e in events if e.kind != _STATE or test(e, collector)]
        return [e for e in events if test(e, collector)]

    def __repr__(self) -> str:
        return f"EventFilter({self.expression!r})"


def compile_filter(expression: str) -> EventFilter:
    """Compile an expression; raises :class:`FilterSyntaxError` (with ``.column``)."""
    return EventFilter(expression)
