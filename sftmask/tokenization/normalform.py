"""Skip a tokenizer's Unicode normalizer for text it would not change: the same ids, less work.

Qwen-family tokenizers (and others) run every text through an NFC normalizer before splitting
it: a pass over every character, about an eighth of the encoding time, that changes nothing
when the text is already in NFC, as nearly all text is. An `Encoder` encodes such text with a
twin of the tokenizer that has no normalizer (same model, pre-tokenizer, post-processor and
added tokens), and all other text with the tokenizer itself.

Why the ids are exactly the same: the tokenizer normalizes each piece of text between added
tokens, and a piece of a text in a Unicode normal form is itself in that form, so the
normalizer returns every piece unchanged (and offsets stay the identity). A text counts as
being in the form only when Python's `unicodedata` says so and every character in it is
assigned in Python's Unicode database: a character newer than that database might have
normalization properties Python does not know.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Any

import numpy as np
from tokenizers import Encoding, Tokenizer

from sftmask.ragged import BoolArray, IntArray
from sftmask.tokenization.variants import NormalForm, normalizer_form, without_normalizer


class Encoder:
    """Batch-encodes like `tokenizer`, skipping its normalizer for text already in its form.

    Pickles as the tokenizer alone (worker processes rebuild the twin, which shares the model).
    """

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer
        form = normalizer_form(tokenizer)
        twin = without_normalizer(tokenizer, form) if form else None
        self._shortcut = (form, twin) if form is not None and twin is not None else None

    def __reduce__(self) -> tuple[Any, ...]:
        return (Encoder, (self.tokenizer,))

    @property
    def skips_normalizer(self) -> NormalForm | None:
        """The normal form whose normalizer is skipped for text already in it (None: never)."""
        return self._shortcut[0] if self._shortcut else None

    @property
    def twin(self) -> Tokenizer | None:
        """The tokenizer without its normalizer (None: no shortcut)."""
        return self._shortcut[1] if self._shortcut else None

    def encode_batch(
        self, texts: Sequence[str], *, add_special_tokens: bool, offsets: bool = False, normal: BoolArray | None = None
    ) -> list[Encoding]:
        """`tokenizer.encode_batch` (`offsets`) or `encode_batch_fast`, in the order of `texts`.

        `normal`: per text, `in_normal_form(skips_normalizer, texts)`, when the caller has it.
        """
        texts = list(texts)
        if self._shortcut is None or not texts:
            return _encode(self.tokenizer, texts, add_special_tokens, offsets)
        form, twin = self._shortcut
        if normal is None:
            normal = in_normal_form(form, texts)
        if normal.all():
            return _encode(twin, texts, add_special_tokens, offsets)
        if not normal.any():
            return _encode(self.tokenizer, texts, add_special_tokens, offsets)
        out: list[Encoding] = [None] * len(texts)  # type: ignore[list-item]
        for tokenizer, rows in ((twin, np.flatnonzero(normal)), (self.tokenizer, np.flatnonzero(~normal))):
            encoded = _encode(tokenizer, [texts[i] for i in rows], add_special_tokens, offsets)
            for i, encoding in zip(rows.tolist(), encoded, strict=True):
                out[i] = encoding
        return out


def _encode(tokenizer: Tokenizer, texts: list[str], add_special_tokens: bool, offsets: bool) -> list[Encoding]:
    encode = tokenizer.encode_batch if offsets else tokenizer.encode_batch_fast
    return encode(texts, add_special_tokens=add_special_tokens)


def in_normal_form(form: NormalForm, texts: Sequence[str]) -> BoolArray:
    """Per text: is it in `form`, and are all its characters known to Python's Unicode database?"""
    ascii_ = np.fromiter((t.isascii() for t in texts), np.bool_, len(texts))
    normal = ascii_.copy()  # ASCII text is in every normal form, in every Unicode version
    rest = np.flatnonzero(~ascii_)
    if not len(rest):
        return normal
    normal[rest] = [unicodedata.is_normalized(form, texts[i]) for i in rest.tolist()]
    candidates = rest[normal[rest]]
    if len(candidates) and _has_unassigned("\n".join(texts[i] for i in candidates.tolist())):
        normal[candidates] = [not _has_unassigned(texts[i]) for i in candidates.tolist()]
    return normal


def _has_unassigned(text: str) -> bool:
    code_points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return bool(_unassigned(np.unique(code_points[code_points > 0x7F])).any())


# Per code point: 0 not looked up yet, 1 assigned, 2 unassigned (or a surrogate) in Python's Unicode
# database. Filled for the code points texts contain: looking up all 1.1 M at start-up takes ~0.4 s.
_CATEGORY_STATE = np.zeros(0x110000, dtype=np.uint8)


def _unassigned(code_points: IntArray) -> BoolArray:
    """Per (unique) code point: unassigned, or a surrogate, in Python's Unicode database."""
    state = _CATEGORY_STATE[code_points]
    new = code_points[state == 0]
    if len(new):
        looked_up = [2 if unicodedata.category(chr(c)) in ("Cn", "Cs") else 1 for c in new.tolist()]
        _CATEGORY_STATE[new] = looked_up
        state = _CATEGORY_STATE[code_points]
    return state == 2  # type: ignore[no-any-return]
