"""`sftmask.tokenization.split_regex`: where a splitting expression's find-all provably cuts."""

from __future__ import annotations

import pytest
from tokenizers import Regex as OnigRegex
from tokenizers import Tokenizer, models, pre_tokenizers

from sftmask.tokenization.seams import SeamRule
from sftmask.tokenization.split_regex import Regex as SeamRegex
from sftmask.tokenization.split_regex import Unsupported


def _word_level(pattern: str) -> Tokenizer:
    tokenizer = Tokenizer(models.WordLevel({"a": 0, "[UNK]": 1}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Split(OnigRegex(pattern), "isolated")
    return tokenizer


def test_a_lookahead_an_earlier_branch_always_beats_is_a_seam() -> None:
    """``\\s*[\\r\\n]+`` matches whatever ``\\s+(?!\\S)`` would at a newline before the seam, so a
    newline then a letter is a seam for Qwen-style expressions, and a space then a letter is not."""
    regex = SeamRegex(r"[a-z]+|\s*[\r\n]+|\s+(?!\S)|\s+")
    assert regex.seam("\n", "x") == "split"
    assert regex.seam(" ", "x") is None


def test_a_match_that_can_cross_is_not_a_seam() -> None:
    regex = SeamRegex(r"[a-z]+|[0-9]{1,3}|\s+")
    assert regex.seam("a", "b") is None
    assert regex.seam("1", "2") is None
    assert regex.seam("a", "1") == "split"
    assert SeamRegex(r"[0-9]+").seam("a", "b") == "joined"  # both unmatched: one piece, cut by a later step


@pytest.mark.parametrize(
    "pattern",
    [
        r"(?<=a)b",
        r"^a",
        r"a$",
        r"\ba",
        r"a++",
        r"(?>a)",
        r"(a)\1",
        r"a*",
        r"(?i)a",
        r"(?i:[a-z])",
        r"a(?=bc)",
        r"(?=a)b",
    ],
)
def test_syntax_outside_the_reasoning_is_declined(pattern: str) -> None:
    with pytest.raises(Unsupported):
        SeamRegex(pattern)
    assert SeamRule.for_tokenizer(_word_level(pattern)) is None


def test_a_branch_matched_without_case_is_not_read_for_dominance() -> None:
    """Without case one character may match two of the expression's (``ß`` for ``ss``), so the
    texts of such a branch are not read off the automaton: its lookahead is never shown harmless."""
    assert SeamRegex(r"\s*[\r\n]+|\s+(?!\S)").seam("\n", "x") == "split"
    assert SeamRegex(r"\s*[\r\n]+|(?i:\s)+(?!\S)").seam("\n", "x") is None


@pytest.mark.parametrize(("pattern", "left", "right"), [(r"ca{2}?b|.", "c", "b"), (r"ab{1}?c|.", "a", "c")])
def test_a_count_then_a_question_mark_is_optional_as_oniguruma_reads_it(pattern: str, left: str, right: str) -> None:
    """In Oniguruma's Ruby syntax (the tokenizers') ``x{n}?`` is ``(?:x{n})?``, not a lazy count:
    ``ca{2}?b`` matches ``cb``, so the tokenizer keeps c and b in one piece and no seam is there.
    Read as lazy, the pair was called a cut and its merge went uncounted."""
    vocab = {left: 0, right: 1, left + right: 2, "[UNK]": 3}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Split(OnigRegex(pattern), "isolated")
    assert tokenizer.encode(left + right).ids == [2]  # what the tokenizer does: one piece, one token
    assert SeamRegex(pattern).seam(left, right) is None
    rule = SeamRule.for_tokenizer(tokenizer)
    assert rule is None or not rule.cuts(left, right)
    assert SeamRegex(r"ca{2,3}?b|.").seam("c", "b") == "split"  # with a comma it is lazy: two a's at least
