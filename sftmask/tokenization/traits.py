"""What kind of tokenizer this is, read once from its spec (the components of tokenizer.json).

The encoding paths choose their method by these traits: token ends from byte lengths for plain
byte-level BPE (`token_ends`), where a long text may be cut (`bounded`), how word starts are found
(`encode`). They are decided here, once per tokenizer object, so that no module reads
tokenizer.json's internals on its own and two modules cannot answer one question two ways.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from tokenizers import Tokenizer

from sftmask.tokenization.variants import component_spec, component_steps

_SPLITTERS = frozenset({"Split", "Digits", "Punctuation", "ByteLevel"})
"""Pre-tokenizers that only split text (others, such as Metaspace, change it)."""


@dataclass(frozen=True)
class Traits:
    """A tokenizer's traits (see `traits`)."""

    model: str
    """The model's type: ``BPE``, ``Unigram``, ``WordPiece``, ``WordLevel``."""
    normalizer: Any
    """The normalizer's spec (None when there is none)."""
    normalizer_steps: tuple[Any, ...]
    """The normalizer's steps (a Sequence's parts; an empty Sequence has none)."""
    pre_tokenizer_steps: tuple[Any, ...]
    post_processor_steps: tuple[Any, ...]
    byte_level_symbols: bool
    """A ByteLevel step in the normalizer or the pre-tokenizer, at any depth: the vocabulary's
    tokens are byte symbols (GPT-2's table), not characters."""

    @property
    def byte_level_pre_tokenizer(self) -> bool:
        """The pre-tokenizer has a ByteLevel step (words are what whitespace delimits)."""
        return any(_type(step) == "ByteLevel" for step in self.pre_tokenizer_steps)

    @property
    def plain_byte_level(self) -> bool:
        """Byte-level BPE whose token ends follow from byte lengths: no normalizer step, a
        pre-tokenizer that only splits (with a byte-level step adding no prefix space), and a
        post-processor that does not trim offsets."""
        steps = self.pre_tokenizer_steps
        levels = [step for step in steps if _type(step) == "ByteLevel"]
        return (
            not self.normalizer_steps
            and self.model == "BPE"
            and all(_type(step) in _SPLITTERS for step in steps)
            and bool(levels)
            and not any(step.get("add_prefix_space") for step in levels)
            and not any(_type(step) == "ByteLevel" and step.get("trim_offsets") for step in self.post_processor_steps)
        )

    @property
    def unsplit_metaspace(self) -> str | None:
        """The word marker of a Metaspace pre-tokenizer that does not split (the whole text is
        one word), else None."""
        for step in self.pre_tokenizer_steps:
            if _type(step) == "Metaspace" and step.get("split") is False:
                return str(step.get("replacement", "\u2581"))
        return None


@functools.lru_cache(maxsize=32)
def traits(tokenizer: Tokenizer) -> Traits:
    """The traits of `tokenizer` (a `tokenizers.Tokenizer`), read once per tokenizer object."""
    normalizer = component_spec(tokenizer.normalizer)
    return Traits(
        model=type(tokenizer.model).__name__,
        normalizer=normalizer,
        normalizer_steps=tuple(component_steps(tokenizer.normalizer)),
        pre_tokenizer_steps=tuple(component_steps(tokenizer.pre_tokenizer)),
        post_processor_steps=tuple(component_steps(tokenizer.post_processor)),
        byte_level_symbols=_holds_type(normalizer, "ByteLevel")
        or _holds_type(component_spec(tokenizer.pre_tokenizer), "ByteLevel"),
    )


def _type(step: Any) -> Any:
    return step.get("type") if isinstance(step, dict) else None


def _holds_type(spec: Any, kind: str) -> bool:
    if isinstance(spec, dict):
        return spec.get("type") == kind or any(_holds_type(value, kind) for value in spec.values())
    if isinstance(spec, list):
        return any(_holds_type(value, kind) for value in spec)
    return False
