"""Helpers for tests: run the library's tokenize+mask stages on in-memory records."""

from __future__ import annotations

from typing import Any

from sftmask.encoding import segment
from sftmask.strategies import STRATEGIES
from sftmask.tokenizer import LoadedTokenizer
from sftmask.truncation import assemble


def build_rows(
    tok: LoadedTokenizer,
    prompts: list[str],
    responses: list[str],
    *,
    strategy: str = "response-only",
    max_length: int | None = None,
    truncation: str = "prompt",
    add_eos: bool = True,
) -> tuple[list[tuple[list[int], list[int]]], Any]:
    """(input_ids, labels) per accepted row, and the assembled batch."""
    seg = segment(tok, prompts, responses, add_eos=add_eos, word_starts=STRATEGIES[strategy].needs_word_starts)
    labels = STRATEGIES[strategy].build_labels(seg)
    batch = assemble(seg, labels, max_length=max_length, truncation=truncation)
    rows = []
    offsets = batch.input_ids.offsets
    for i in range(len(batch.input_ids)):
        rows.append((batch.input_ids.row(i), batch.labels[offsets[i] : offsets[i + 1]].tolist()))
    return rows, batch


def marked_tokens(tok: LoadedTokenizer, ids: list[int], labels: list[int]) -> list[str]:
    """Tokens as strings, trained ones wrapped as `[tok]`: a readable form of a labelled row."""
    tokens = tok.hf.convert_ids_to_tokens(ids)
    return [f"[{t}]" if lab != -100 else t for t, lab in zip(tokens, labels, strict=True)]
