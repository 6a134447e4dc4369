"""Seams: where a tokenizer provably encodes ``a + b`` as ``a``'s tokens then ``b``'s, read from the
two characters at the cut, so that `encode.count_boundary_merges` need not encode that pair.

A tokenizer encodes text in stages: it splits out added tokens, normalizes each piece between
them, pre-tokenizes it, and its model (BPE, WordPiece, Unigram) encodes every pre-token on its
own. So ``ids(a + b) == ids(a) + ids(b)`` when each stage cuts ``a + b`` at the seam:

- *added tokens*: no added token holds the two characters at the seam (none can straddle it),
  none with ``single_word``, no ``lstrip`` token after whitespace, no ``rstrip`` one before it;
- *normalizer*: none, or Unicode normal forms only, with ASCII on both sides of the seam and after
  it (an ASCII character has canonical combining class 0 and never composes with what precedes
  it, so the two sides normalize apart and keep the seam's characters; the one after it keeps the
  first from composing with a combining mark);
- *pre-tokenizer*: a sequence whose regular-expression `Split` steps (`Isolated`) or ByteLevel
  with ``use_regex`` (GPT-2's expression) cut there, followed only by steps that work on each piece
  alone. `Regex` decides this from the expression itself, not from probes: the steps' find-all
  over ``a + b`` equals that over ``a`` then ``b`` when no match can hold the seam's two
  characters, and when a lookahead that reads past the end of ``a`` cannot change which match is
  taken (see `Regex.seam`).

Only seams between two ASCII characters are decided: the classes an expression names (``\\p{L}``,
``\\s``) are exact there in every Unicode version, while a character outside ASCII might be classed
by the tokenizer's tables otherwise than by Python's. Decisions are kept per pair of characters.

`SeamRule.for_tokenizer` returns None for tokenizers where that cannot be decided (a normalizer
that is not a normal form, such as SentencePiece's charsmap or BERT's; a model over whole texts, such
as Metaspace without ``split``; BPE dropout; an expression with syntax outside what `Regex`
parses): every pair is encoded for them, as before.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from tokenizers import Tokenizer

from sftmask.tokenization.split_regex import Regex, Unsupported
from sftmask.tokenization.variants import NORMAL_FORMS, component_spec, component_steps

GPT2_PATTERN = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
"""The expression ByteLevel splits by with ``use_regex`` (tokenizers' `byte_level.rs`)."""

_PER_PIECE_STEPS = frozenset(
    {"ByteLevel", "Split", "Digits", "Punctuation", "Whitespace", "WhitespaceSplit", "BertPreTokenizer"}
    | {"UnicodeScripts", "CharDelimiterSplit"}
)
"""Pre-tokenizer steps whose pieces of a piece depend on that piece's text alone (not, as for
Metaspace ``prepend_scheme: first``, on where it stands in the text)."""


@dataclass
class SeamRule:
    """Which seams (last character of ``a``, first of ``b``) a tokenizer provably cuts at."""

    splitters: tuple[Regex, ...]
    after_split: tuple[bool, ...]
    """Per splitter: whether every later step works piece by piece (then a cut there is final)."""
    normalizes: bool
    pair_in_added: frozenset[str]
    """Two-character strings inside an added token's text (raw or normalized)."""
    lstrip: bool
    rstrip: bool
    _memo: dict[tuple[str, str], bool] = field(default_factory=dict)

    @staticmethod
    def for_tokenizer(tokenizer: Tokenizer) -> SeamRule | None:
        """The rule for `tokenizer` (used with ``add_special_tokens=False``), or None when undecided."""
        return _rule(tokenizer)

    def cuts(self, a: str, b: str) -> bool:
        """Whether ``ids(a + b) == ids(a) + ids(b)`` is proven for non-empty `a` and `b`."""
        x, y = a[-1], b[0]
        if not (x.isascii() and y.isascii()):
            return False
        if self.normalizes and len(b) > 1 and not b[1].isascii():
            return False
        found = self._memo.get((x, y))
        if found is None:
            found = self._memo[x, y] = self.pair_cuts(x, y)
        return found

    def pair_cuts(self, x: str, y: str) -> bool:
        """Whether every ``a`` ending in `x` and ``b`` starting with `y` cut at the seam (ASCII
        characters; `cuts` checks what the normalizer needs besides)."""
        if x + y in self.pair_in_added or (self.lstrip and x.isspace()) or (self.rstrip and y.isspace()):
            return False
        for regex, final in zip(self.splitters, self.after_split, strict=True):
            seam = regex.seam(x, y)
            if seam is None:
                return False
            if seam == "split":
                return final
        return False


@functools.lru_cache(maxsize=16)
def _rule(tokenizer: Tokenizer) -> SeamRule | None:
    if getattr(tokenizer.model, "dropout", None) or tokenizer.truncation is not None or tokenizer.padding is not None:
        return None
    steps = component_steps(tokenizer.normalizer)
    if any(not isinstance(s, dict) or s.get("type") not in NORMAL_FORMS for s in steps):
        return None
    added = list(tokenizer.get_added_tokens_decoder().values())
    if any(t.single_word for t in added):
        return None
    normalize = tokenizer.normalizer.normalize_str if tokenizer.normalizer is not None else (lambda s: s)
    texts = {t.content for t in added} | {normalize(t.content) for t in added}
    pairs = frozenset(text[i : i + 2] for text in texts for i in range(len(text) - 1))
    pre = component_spec(tokenizer.pre_tokenizer)
    parts = pre.get("pretokenizers", [pre]) if isinstance(pre, dict) and pre.get("type") == "Sequence" else [pre]
    splitters: list[Regex] = []
    try:
        for part in parts:
            pattern = _split_pattern(part)
            if pattern is None:
                break
            splitters.append(Regex(pattern))
    except Unsupported:
        return None
    if not splitters:
        return None
    finals = tuple(
        all(isinstance(p, dict) and p.get("type") in _PER_PIECE_STEPS for p in parts[k + 1 :])
        for k in range(len(splitters))
    )
    return SeamRule(
        splitters=tuple(splitters),
        after_split=finals,
        normalizes=bool(steps),
        pair_in_added=pairs,
        lstrip=any(t.lstrip for t in added),
        rstrip=any(t.rstrip for t in added),
    )


def _split_pattern(part: Any) -> str | None:
    """The expression a pre-tokenizer step splits by as `Regex` reads it (Isolated, not inverted,
    no prefix space added), or None for any other step."""
    if not isinstance(part, dict):
        return None
    if part.get("type") == "ByteLevel" and part.get("use_regex", True) and not part.get("add_prefix_space"):
        return GPT2_PATTERN
    pattern = part.get("pattern")
    isolated = part.get("type") == "Split" and part.get("behavior") == "Isolated" and not part.get("invert")
    if isolated and isinstance(pattern, dict) and isinstance(pattern.get("Regex"), str):
        return str(pattern["Regex"])
    return None
