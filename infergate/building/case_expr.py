"""Case selection by a pytest ``-k`` expression without pytest, in pytest's grammar (``or``,
``and``, ``not``, parentheses, case-insensitive substrings; ``name(key=value)`` ignored)."""

from __future__ import annotations

import keyword
import re
from collections.abc import Callable, Iterator

from ..core.errors import UsageError

_NAME = re.compile(r"(:?\w|:|\+|-|\.|\[|\]|\\|/)+")  # pytest's identifier token
_KEYWORDS = {"or", "and", "not"}
Token = tuple[str, str, int]  # (kind, text, position)


def _tokens(text: str) -> Iterator[Token]:
    pos = 0
    while pos < len(text):
        char = text[pos]
        if char in " \t":
            pos += 1
        elif char in "()=,":
            yield char, char, pos
            pos += 1
        elif char in "'\"":
            end = text.find(char, pos + 1)
            if end == -1 or "\\" in text[pos:end]:
                raise SyntaxError(f"unterminated or escaped string at column {pos + 1}")
            yield "string", text[pos:end + 1], pos
            pos = end + 1
        else:
            match = _NAME.match(text, pos)
            if not match:
                raise SyntaxError(f'unexpected character "{char}" at column {pos + 1}')
            word = match.group(0)
            yield (word if word in _KEYWORDS else "name"), word, pos
            pos = match.end()
    yield "end", "", pos


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = list(_tokens(text))
        self.at = 0

    def accept(self, kind: str) -> Token | None:
        token = self.tokens[self.at]
        if token[0] != kind:
            return None
        self.at += token[0] != "end"
        return token

    def expect(self, kind: str) -> Token:
        token = self.accept(kind)
        if token is None:
            got = self.tokens[self.at]
            raise SyntaxError(f"expected {kind}, got {got[0]} at column {got[2] + 1}")
        return token

    def expr(self) -> Callable[[str], bool]:
        terms = [self.and_expr()]
        while self.accept("or"):
            terms.append(self.and_expr())
        return lambda s: any(t(s) for t in terms)

    def and_expr(self) -> Callable[[str], bool]:
        terms = [self.not_expr()]
        while self.accept("and"):
            terms.append(self.not_expr())
        return lambda s: all(t(s) for t in terms)

    def not_expr(self) -> Callable[[str], bool]:
        if self.accept("not"):
            inner = self.not_expr()
            return lambda s: not inner(s)
        if self.accept("("):
            inner = self.expr()
            self.expect(")")
            return inner
        name = self.expect("name")[1].lower()
        if self.accept("("):
            self.keywords()
        return lambda s: name in s.lower()

    def keywords(self) -> None:
        """``key=value, ...)``: checked as pytest checks them, then ignored."""
        while True:
            key = self.expect("name")
            if not key[1].isidentifier() or keyword.iskeyword(key[1]):
                raise SyntaxError(f"not a keyword argument name: {key[1]} at column {key[2] + 1}")
            self.expect("=")
            if not self.accept("string"):
                value = self.expect("name")
                number = value[1][1:] if value[1].startswith("-") else value[1]
                if not (number.isdigit() or value[1] in ("True", "False", "None")):
                    raise SyntaxError(f'unexpected value "{value[1]}" at column {value[2] + 1}')
            if not self.accept(","):
                break
        self.expect(")")


def case_matcher(expr: str | None) -> Callable[[str], bool]:
    """A predicate on case ids for a ``-k`` expression; none, an empty or an all-blank one selects every
    case, as pytest's deselect_by_keyword (it lstrips the expression and deselects nothing when empty)."""
    if not expr or not expr.strip():
        return lambda case_id: True
    try:
        parser = _Parser(expr)
        match = parser.expr()
        parser.expect("end")
    except SyntaxError as exc:
        raise UsageError(f"invalid case expression {expr!r}: {exc.msg}") from None
    return match
