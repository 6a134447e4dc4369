"""A pre-tokenizer's splitting expression read as an automaton, to decide where its find-all cuts a
text whatever comes before and after (`Regex.seam`; used by `sftmask.tokenization.seams`).

Only what the reasoning covers is read: Oniguruma expressions as tokenizers writes them
(alternation, groups, ``(?i:`` over ASCII letters, classes with ``\\p{..}`` and ``\\s \\d \\w``,
quantifiers, one-character lookaheads ending a top-level branch). Lookbehind, anchors, word
boundaries, back-references, atomic groups, possessive quantifiers and expressions that match the
empty string raise `Unsupported`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

_WHITE_SPACE_ASCII = frozenset("\t\n\x0b\x0c\r ")
"""Oniguruma's ``\\s`` (Unicode White_Space) within ASCII."""

# A character is an ASCII character itself, or, standing for every other character, its general
# category and whether it is White_Space: an expression's classes are read on those exactly,
# except literal characters and ranges outside ASCII, which are "maybe" (None).
Symbol = str | tuple[str, bool]
Tri = bool | None
Pred = Callable[[Symbol], Tri]

_MINORS = {"L": "ultmo", "M": "nce", "N": "dlo", "P": "cdseifo", "S": "mcko", "Z": "slp", "C": "cfson"}
_CATEGORIES = tuple(major + minor for major, minors in _MINORS.items() for minor in minors)
ALPHABET: tuple[Symbol, ...] = (
    *(chr(c) for c in range(128)),
    *((cat, ws) for cat in _CATEGORIES for ws in (False, True)),
)


class Unsupported(Exception):
    """An expression (or tokenizer) outside what this module can reason about."""


def _category(sym: Symbol) -> str:
    return unicodedata.category(sym) if isinstance(sym, str) else sym[0]


def _white(sym: Symbol) -> bool:
    return sym in _WHITE_SPACE_ASCII if isinstance(sym, str) else sym[1]


def _union(preds: list[Pred]) -> Pred:
    def pred(sym: Symbol) -> Tri:
        maybe = False
        for p in preds:
            got = p(sym)
            if got:
                return True
            maybe |= got is None
        return None if maybe else False

    return pred


def _negate(p: Pred) -> Pred:
    def pred(sym: Symbol) -> Tri:
        got = p(sym)
        return None if got is None else not got

    return pred


def _literal(ch: str, fold: bool) -> Pred:
    if fold and not ch.isascii():
        raise Unsupported("a character outside ASCII matched without case")
    chars = {ch.lower(), ch.upper()} if fold else {ch}
    # Outside ASCII only a case fold (U+017F for ``s``) may match an ASCII literal: maybe.
    return lambda sym: (sym in chars) if isinstance(sym, str) else (None if fold or not ch.isascii() else False)


def _char_range(lo: str, hi: str) -> Pred:
    return lambda sym: (lo <= sym <= hi) if isinstance(sym, str) else (False if hi.isascii() else None)


def _property(name: str) -> Pred:
    if name not in _CATEGORIES and name not in {"L", "M", "N", "P", "S", "Z", "C"}:
        raise Unsupported(f"property {name}")
    return lambda sym: _category(sym).startswith(name)


_ESCAPES: dict[str, Pred] = {
    "s": _white,
    "d": lambda sym: ("0" <= sym <= "9") if isinstance(sym, str) else None,
    "w": lambda sym: (sym.isalnum() or sym == "_") if isinstance(sym, str) else None,
}
_CONTROL = {"r": "\r", "n": "\n", "t": "\t", "f": "\f", "v": "\v", "a": "\a", "e": "\x1b"}


# Nodes: ("chars", pred, folded) one character (`folded`: matched without case); ("cat", [nodes]); ("alt", [nodes]); ("rep", node, min, max);
# ("look", negative, pred) a one-character lookahead (it reads the next character, or the end).
Node = tuple[Any, ...]


class _Parser:
    """Oniguruma (Ruby syntax) expressions as tokenizers writes them: alternation, groups
    (``(?:``, ``(?i:``), classes with ``\\p{..}``, ``\\s \\d \\w`` and their negations, greedy or lazy
    quantifiers, one-character lookaheads. Anything else raises `Unsupported`."""

    def __init__(self, pattern: str) -> None:
        self.s = pattern
        self.i = 0

    def parse(self) -> Node:
        node = self.alt(fold=False)
        if self.i != len(self.s):
            raise Unsupported(f"unexpected {self.s[self.i]!r}")
        return node

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def alt(self, fold: bool) -> Node:
        branches = [self.cat(fold)]
        while self.peek() == "|":
            self.i += 1
            branches.append(self.cat(fold))
        return ("alt", branches)

    def cat(self, fold: bool) -> Node:
        items: list[Node] = []
        while self.peek() not in ("", "|", ")"):
            items.append(self.quantified(fold))
        return ("cat", items)

    def quantified(self, fold: bool) -> Node:
        node = self.atom(fold)
        while self.peek() in ("?", "*", "+", "{"):
            if node[0] == "look":
                raise Unsupported("a quantified lookahead")
            ch = self.peek()
            if ch == "{":
                end = self.s.find("}", self.i)
                body = self.s[self.i + 1 : end] if end > 0 else ""
                lo_text, _, hi_text = body.partition(",")
                if not lo_text.isdigit() or (hi_text and not hi_text.isdigit()):
                    raise Unsupported("a brace that is not a repeat count")
                lo, hi = int(lo_text), (int(hi_text) if hi_text else (None if "," in body else int(lo_text)))
                self.i = end + 1
                if "," not in body and self.peek() == "?":  # Oniguruma's Ruby syntax: x{n}? is (?:x{n})?
                    self.i += 1
                    node = ("rep", ("rep", node, lo, hi), 0, 1)
                    continue
            else:
                lo, hi = {"?": (0, 1), "*": (0, None), "+": (1, None)}[ch]
                self.i += 1
            if self.peek() == "?":  # lazy: another order of the same matches
                self.i += 1
            elif self.peek() == "+":
                raise Unsupported("a possessive quantifier")
            node = ("rep", node, lo, hi)
        return node

    def atom(self, fold: bool) -> Node:
        ch = self.peek()
        if ch == "(":
            return self.group(fold)
        if ch == "[":
            return ("chars", self.char_class(fold), fold)
        if ch == "\\":
            return ("chars", self.escape(fold, in_class=False), fold)
        if ch in "^$":
            raise Unsupported("an anchor")
        if ch in "*+?{":
            raise Unsupported(f"a quantifier with nothing to repeat: {ch}")
        self.i += 1
        if ch == ".":
            return ("chars", lambda sym: (sym != "\n") if isinstance(sym, str) else True, fold)
        return ("chars", _literal(ch, fold), fold)

    def group(self, fold: bool) -> Node:
        self.i += 1
        if self.s.startswith("?:", self.i):
            self.i += 2
        elif self.s.startswith("?i:", self.i):
            self.i += 3
            fold = True
        elif self.s.startswith(("?=", "?!"), self.i):
            negative = self.s[self.i + 1] == "!"
            self.i += 2
            body = self.alt(fold)
            self.close()
            return ("look", negative, _single_chars(body))
        elif self.peek() == "?":
            raise Unsupported("a group kind other than (?:, (?i:, (?=, (?!")
        node = self.alt(fold)
        self.close()
        return node

    def close(self) -> None:
        if self.peek() != ")":
            raise Unsupported("an unclosed group")
        self.i += 1

    def escape(self, fold: bool, *, in_class: bool) -> Pred:
        self.i += 1
        ch = self.peek()
        self.i += 1
        if ch in ("p", "P"):
            end = self.s.find("}", self.i)
            if self.peek() != "{" or end < 0:
                raise Unsupported("\\p without braces")
            name = self.s[self.i + 1 : end]
            self.i = end + 1
            negated = (ch == "P") != name.startswith("^")
            pred = _property(name.lstrip("^"))
            return _negate(pred) if negated else pred
        if ch.lower() in _ESCAPES:
            pred = _ESCAPES[ch.lower()]
            return _negate(pred) if ch.isupper() else pred
        if ch in _CONTROL:
            return _literal(_CONTROL[ch], fold)
        if ch and not ch.isalnum() and ch.isascii():
            return _literal(ch, fold)
        raise Unsupported(f"escape \\{ch}")

    def char_class(self, fold: bool) -> Pred:
        if fold:
            raise Unsupported("a character class matched without case")
        self.i += 1
        negated = self.peek() == "^"
        self.i += negated
        if self.peek() == "]":
            raise Unsupported("a class starting with ]")
        items: list[Pred] = []
        while self.peek() != "]":
            if not self.peek() or self.peek() == "[" or self.s.startswith("&&", self.i):
                raise Unsupported("a nested class or intersection")
            if self.peek() == "\\":
                start = self.i
                pred = self.escape(fold, in_class=True)
                low = self.s[start + 1]
                first = _CONTROL.get(low, low if not low.isalnum() else None)
            else:
                first = self.peek()
                self.i += 1
                pred = _literal(first, fold)
            if first is not None and self.peek() == "-" and self.s[self.i + 1 : self.i + 2] not in ("]", ""):
                self.i += 1
                last = self.peek()
                if last == "\\":
                    self.i += 1
                    last = _CONTROL.get(self.peek(), self.peek())
                    if last.isalnum() and last not in _CONTROL.values():
                        raise Unsupported("a range to a class escape")
                self.i += 1
                pred = _char_range(first, last)
            items.append(pred)
        self.i += 1
        pred = _union(items)
        return _negate(pred) if negated else pred


def _single_chars(node: Node) -> Pred:
    """The predicate of a lookahead body that reads exactly one character."""
    if node[0] == "chars":
        return node[1]  # type: ignore[no-any-return]
    if node[1] and (node[0] == "alt" or (node[0] == "cat" and len(node[1]) == 1)):
        return _union([_single_chars(n) for n in node[1]])
    raise Unsupported("a lookahead reading more than one character")


@dataclass
class _Nfa:
    """Thompson automaton: per state, consuming edges (pred, to), empty edges, lookahead edges."""

    consume: list[list[tuple[Pred, int]]] = field(default_factory=list)
    empty: list[list[int]] = field(default_factory=list)
    look: list[list[tuple[bool, Pred, int]]] = field(default_factory=list)
    memo: dict[tuple[int, Symbol], tuple[tuple[int, ...], tuple[int, ...]]] = field(default_factory=dict)

    def new(self) -> int:
        tables: tuple[list[Any], ...] = (self.consume, self.empty, self.look)
        for table in tables:
            table.append([])
        return len(self.consume) - 1

    def build(self, node: Node, start: int, end: int) -> None:
        kind = node[0]
        if kind == "chars":
            self.consume[start].append((node[1], end))
        elif kind == "look":
            self.look[start].append((node[1], node[2], end))
        elif kind == "cat":
            at = start
            for item in node[1]:
                nxt = self.new()
                self.build(item, at, nxt)
                at = nxt
            self.empty[at].append(end)
        elif kind == "alt":
            for branch in node[1]:
                self.build(branch, start, end)
        else:
            _, body, lo, hi = node
            at = start
            for _ in range(lo):
                nxt = self.new()
                self.build(body, at, nxt)
                at = nxt
            if hi is None:
                loop = self.new()
                self.empty[at].append(loop)
                after = self.new()
                self.build(body, loop, after)
                self.empty[after].append(loop)
                self.empty[loop].append(end)
            else:
                for _ in range(hi - lo):
                    self.empty[at].append(end)
                    nxt = self.new()
                    self.build(body, at, nxt)
                    at = nxt
                self.empty[at].append(end)

    def closure(self, states: Iterable[int], *, through_looks: bool = False) -> frozenset[int]:
        seen = set(states)
        stack = list(seen)
        while stack:
            s = stack.pop()
            nexts = list(self.empty[s])
            if through_looks:
                nexts += [to for _neg, _pred, to in self.look[s]]
            for t in nexts:
                if t not in seen:
                    seen.add(t)
                    stack.append(t)
        return frozenset(seen)

    def step(self, states: Iterable[int], sym: Symbol, *, maybe: bool) -> frozenset[int]:
        """States after consuming `sym` (`maybe`: whether a "maybe" edge is taken)."""
        out: set[int] = set()
        for s in states:
            sure, unsure = self._moves(s, sym)
            out.update(sure)
            if maybe:
                out.update(unsure)
        return self.closure(out)

    def _moves(self, state: int, sym: Symbol) -> tuple[tuple[int, ...], tuple[int, ...]]:
        key = (state, sym)
        if key not in self.memo:
            answers = [(pred(sym), to) for pred, to in self.consume[state]]
            self.memo[key] = (
                tuple(to for got, to in answers if got),
                tuple(to for got, to in answers if got is None),
            )
        return self.memo[key]


class Regex:
    """A splitting expression, as an automaton per top-level branch, and where it cuts."""

    def __init__(self, pattern: str) -> None:
        tree = _Parser(pattern).parse()
        self.nfa = _Nfa()
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.look_branches: set[int] = set()
        self.folded: set[int] = set()
        """Branches matched partly without case, where one character may match two of the
        expression's (``ß`` for ``ss``): their texts are not read off the automaton."""
        for n, branch in enumerate(tree[1]):
            items = branch[1]
            if _holds_fold(branch):
                self.folded.add(n)
            if any(_holds_look(item) for item in items[:-1]) or (
                items and items[-1][0] != "look" and _holds_look(items[-1])
            ):
                raise Unsupported("a lookahead that does not end its branch")
            start, end = self.nfa.new(), self.nfa.new()
            if items and items[-1][0] == "look":
                self.look_branches.add(n)
                mid = self.nfa.new()
                self.nfa.build(("cat", items[:-1]), start, mid)
                self.nfa.look[mid].append((items[-1][1], items[-1][2], end))
            else:
                self.nfa.build(branch, start, end)
            if end in self.nfa.closure([start], through_looks=True):
                raise Unsupported("an expression that matches the empty string")
            self.starts.append(start)
            self.ends.append(end)
        self._seams: dict[tuple[str, str], str | None] = {}
        self._dominance: dict[tuple[int, str, tuple[Tri, ...]], bool] = {}

    def seam(self, x: str, y: str) -> str | None:
        """How find-all over ``a + b`` relates to find-all over ``a`` and over ``b``, for any ``a``
        ending in `x` and ``b`` starting with `y` (ASCII characters):

        ``"split"``: the matches and unmatched pieces of ``a + b`` are those of ``a`` then those of
        ``b``; ``"joined"``: the same, except that an unmatched end of ``a`` and an unmatched start of
        ``b`` are one piece; None: not decided.

        Why: with no lookbehind or anchor, matching from the seam on is matching ``b``. Before the
        seam, a match that reaches past it would consume `x` then `y` (`_consumes_pair`: none can),
        so every match attempt starting in ``a`` has the same matches to choose from in ``a + b`` as in
        ``a``, except those ending at the seam with a lookahead there, which sees `y` in one and
        the end of the text in the other. Where that changes the lookahead's answer, an earlier
        branch without lookahead must match from the same start whenever such a match exists
        (`_dominated`), so neither is ever the one taken (the first of its branch order).
        """
        return self._seams[x, y] if (x, y) in self._seams else self._seams.setdefault((x, y), self._seam(x, y))

    def _seam(self, x: str, y: str) -> str | None:
        if self._consumes_pair(x, y):
            return None
        for n in self.look_branches:
            if self._look_differs(n, x, y):
                key = (n, x, tuple(look(y) for edges in self.nfa.look for _neg, look, _to in edges))
                if key not in self._dominance:
                    self._dominance[key] = self._dominated(n, x, y)
                if not self._dominance[key]:
                    return None
        branches = range(len(self.starts))
        covered_a = any(self._single(n, x, end_of_text=True) for n in branches)
        covered_b = any(self._single(n, y, end_of_text=False) for n in branches)
        return "split" if covered_a or covered_b else "joined"

    def _consumes_pair(self, x: str, y: str) -> bool:
        nfa = self.nfa
        for s in range(len(nfa.consume)):
            for pred, to in nfa.consume[s]:
                if pred(x):
                    after = nfa.closure([to], through_looks=True)
                    if any(p(y) for t in after for p, _ in nfa.consume[t]):
                        return True
        return False

    def _after(self, n: int, sym: Symbol) -> frozenset[int]:
        return self.nfa.step(self.nfa.closure([self.starts[n]]), sym, maybe=True)

    def _look_edges(self, states: Iterable[int], n: int) -> list[tuple[bool, Pred]]:
        return [(neg, pred) for s in states for neg, pred, to in self.nfa.look[s] if to == self.ends[n]]

    def _differing_look(self, states: Iterable[int], n: int, y: str) -> bool:
        """Whether branch `n`'s lookahead, reached from `states`, answers differently on `y` and at
        the end of the text: ``(?!P)`` holds at the end and ``(?=P)`` does not, so either differs
        exactly when P may hold for `y`."""
        return any(look(y) is not False for _negative, look in self._look_edges(states, n))

    def _look_differs(self, n: int, x: str, y: str) -> bool:
        """Whether branch `n` can consume something ending in `x`, then reach its lookahead and get
        another answer on `y` than at the end of the text."""
        nfa = self.nfa
        return any(
            pred(x) and self._differing_look(nfa.closure([to]), n, y)
            for s in range(len(nfa.consume))
            for pred, to in nfa.consume[s]
        )

    def _single(self, n: int, ch: str, *, end_of_text: bool) -> bool:
        after = self._after(n, ch)
        if self.ends[n] in after:
            return True
        return end_of_text and any(negative for negative, _ in self._look_edges(after, n))

    def _dominated(self, n: int, x: str, y: str) -> bool:
        """Whether every text that branch `n` consumes up to its lookahead, ending in `x`, has a
        non-empty prefix that an earlier branch without lookahead matches exactly."""
        if n in self.folded:
            return False
        nfa = self.nfa
        earlier = [m for m in range(n) if m not in self.look_branches]
        accepts = {self.ends[m] for m in earlier}
        start = (nfa.closure([self.starts[n]]), nfa.closure(self.starts[m] for m in earlier))
        seen = {start}
        todo = [start]
        while todo:
            here, other = todo.pop()
            for sym in ALPHABET:
                there = nfa.step(here, sym, maybe=True)
                if not there:
                    continue
                matched = nfa.step(other, sym, maybe=False)
                if matched & accepts:
                    continue  # this text and all it leads to have a prefix an earlier branch takes
                if sym == x and self._differing_look(there, n, y):
                    return False
                state = (there, matched)
                if state not in seen:
                    seen.add(state)
                    todo.append(state)
        return True


def _holds_look(node: Node) -> bool:
    return _holds(node, lambda leaf: leaf[0] == "look")


def _holds_fold(node: Node) -> bool:
    return _holds(node, lambda leaf: leaf[0] == "chars" and bool(leaf[2]))


def _holds(node: Node, test: Callable[[Node], bool]) -> bool:
    if node[0] in ("cat", "alt"):
        return any(_holds(n, test) for n in node[1])
    if node[0] == "rep":
        return _holds(node[1], test)
    return test(node)
