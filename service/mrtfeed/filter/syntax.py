"""The filter language's tokens and grammar; predicates are looked up by name elsewhere.

Grammar (keywords are case-insensitive)::

    expr      := and ("or" and)*
    and       := unary ("and" unary)*
    unary     := ("not" | "!") unary | "(" expr ")" | predicate
    predicate := NAME ["=" VALUE] VALUE*

A predicate takes every value up to the next keyword, parenthesis or the end, so
``community-all 65000:1 65000:2`` is one predicate with two values. Values that hold
spaces or parentheses (AS-path regexes) are quoted with ``"`` or ``'``. Every error is
a :class:`FilterSyntaxError` that names the 1-based column where it was found.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

KEYWORDS = frozenset({"and", "or", "not", "!"})


class FilterSyntaxError(ValueError):
    """A filter that does not parse, or names a value that cannot be read."""

    def __init__(self, message: str, column: int, expression: str = "") -> None:
        super().__init__(f"{message} at column {column}")
        self.message = message
        self.column = column
        self.expression = expression

    def pointer(self) -> str:
        """The expression and a caret under the column, for terminals."""
        return f"  {self.expression}\n  {' ' * (self.column - 1)}^"


@dataclass(frozen=True)
class Token:
    text: str
    #: 1-based column of the token's first character.
    column: int
    #: True for quoted strings: never a keyword or a parenthesis.
    quoted: bool = False

    def is_word(self, *words: str) -> bool:
        return not self.quoted and self.text.lower() in words


def tokenize(expression: str) -> list[Token]:
    """Split on whitespace; parentheses stand alone; quotes group (with ``\\`` escapes)."""
    tokens: list[Token] = []
    i = 0
    n = len(expression)
    while i < n:
        ch = expression[i]
        if ch.isspace():
            i += 1
        elif ch in "()":
            tokens.append(Token(ch, i + 1))
            i += 1
        elif ch in "\"'":
            start = i
            i += 1
            text: list[str] = []
            while i < n and expression[i] != ch:
                if expression[i] == "\\" and i + 1 < n:
                    i += 1
                text.append(expression[i])
                i += 1
            if i >= n:
                raise FilterSyntaxError("unterminated quoted string", start + 1, expression)
            tokens.append(Token("".join(text), start + 1, quoted=True))
            i += 1
        else:
            start = i
            while i < n and not expression[i].isspace() and expression[i] not in "()\"'":
                i += 1
            tokens.append(Token(expression[start:i], start + 1))
    return tokens


# -- the tree ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Predicate:
    name: str
    args: tuple[Token, ...]
    column: int


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class And:
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    operands: tuple[Node, ...]


Node = Predicate | Not | And | Or


class _Parser:
    def __init__(self, expression: str, known: Callable[[str], bool]) -> None:
        self.expression = expression
        self.tokens = tokenize(expression)
        self.pos = 0
        self.known = known

    def error(self, message: str, token: Token | None = None) -> FilterSyntaxError:
        column = token.column if token is not None else len(self.expression) + 1
        return FilterSyntaxError(message, column, self.expression)

    def peek(self) -> Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def parse(self) -> Node:
        if not self.tokens:
            raise self.error("empty filter expression", Token("", 1))
        node = self.parse_or()
        token = self.peek()
        if token is not None:
            raise self.error(f"unexpected {token.text!r}", token)
        return node

    def parse_or(self) -> Node:
        operands = [self.parse_and()]
        while (token := self.peek()) is not None and token.is_word("or"):
            self.pos += 1
            operands.append(self.parse_and())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def parse_and(self) -> Node:
        operands = [self.parse_unary()]
        while (token := self.peek()) is not None:
            if token.is_word("and"):
                self.pos += 1
                operands.append(self.parse_unary())
            elif token.is_word("or") or (token.text == ")" and not token.quoted):
                break
            else:
                raise self.error(f"expected 'and', 'or' or ')' before {token.text!r}", token)
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def parse_unary(self) -> Node:
        token = self.peek()
        if token is None:
            raise self.error("expression ends where a predicate was expected")
        if token.is_word("not", "!"):
            self.pos += 1
            return Not(self.parse_unary())
        if token.text == "(" and not token.quoted:
            self.pos += 1
            node = self.parse_or()
            closing = self.peek()
            if closing is None or closing.text != ")" or closing.quoted:
                raise self.error("missing ')'", closing)
            self.pos += 1
            return node
        if token.quoted or token.text == ")" or token.is_word("and", "or"):
            raise self.error(f"expected a predicate, found {token.text!r}", token)
        return self.parse_predicate(token)

    def parse_predicate(self, token: Token) -> Predicate:
        self.pos += 1
        name, eq, value = token.text.partition("=")
        name = name.lower()
        if not self.known(name):
            raise self.error(f"unknown predicate {name!r}", token)
        args: list[Token] = []
        if eq:
            if not value:
                raise self.error(f"{name}= needs a value", token)
            args.append(Token(value, token.column + len(name) + 1))
        while (arg := self.peek()) is not None:
            if not arg.quoted and (
                arg.text in ("(", ")")
                or arg.text.lower() in KEYWORDS
                or self.known(arg.text.partition("=")[0].lower())
            ):
                break  # a predicate name here is a missing 'and'/'or', reported by the caller
            args.append(arg)
            self.pos += 1
        return Predicate(name, tuple(args), token.column)


def parse(expression: str, known: Callable[[str], bool]) -> Node:
    """Parse an expression into a tree; ``known`` says which predicate names exist."""
    return _Parser(expression, known).parse()
