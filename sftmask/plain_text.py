"""The `text` data kind: pre-formatted text records, all trained or trained after a response marker.

A record holds one string (``--text-field``, default ``text``). Without ``--response-marker`` every
token is trained (the text is encoded like ``tokenizer(text)``, EOS appended with ``--add-eos``).
With a marker, the text up to and including the marker's first occurrence is the prompt (masked)
and the rest the response (trained), encoded token-exactly like prompt/response data.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import pyarrow as pa

from sftmask.encoding import count_boundary_merges, segment
from sftmask.strategies import STRATEGIES, EncodedBatch
from sftmask.tokenizer import LoadedTokenizer

if TYPE_CHECKING:
    from sftmask.config import BuildConfig

REASON_NO_MARKER = "no-response-marker"
DEFAULT_TEXT_FIELD = "text"


def text_field(config: BuildConfig) -> str:
    """The record field holding the text."""
    return config.text_field or DEFAULT_TEXT_FIELD


def split_at_marker(texts: list[str], marker: str | None) -> tuple[list[str], list[str], dict[int, tuple[str, str]]]:
    """Prompts (through the marker's first occurrence), responses, and rows lacking the marker."""
    if marker is None:
        return [""] * len(texts), texts, {}
    prompts, responses = [], []
    invalid: dict[int, tuple[str, str]] = {}
    for row, text in enumerate(texts):
        at = text.find(marker)
        if at < 0:
            invalid[row] = (REASON_NO_MARKER, f"response marker {marker!r} not found in the text")
            prompts.append("")
            responses.append("")
            continue
        end = at + len(marker)
        prompts.append(text[:end])
        responses.append(text[end:])
    return prompts, responses, invalid


def encode_text(
    tok: LoadedTokenizer, table: pa.RecordBatch, config: BuildConfig
) -> tuple[EncodedBatch, dict[str, int]]:
    """Encode a batch of text records (see the module docstring)."""
    texts: list[str] = table.column(text_field(config)).to_pylist()
    prompts, responses, invalid = split_at_marker(texts, config.response_marker)
    word_starts = STRATEGIES[config.strategy].needs_word_starts
    encoded = segment(tok, prompts, responses, add_eos=config.add_eos, word_starts=word_starts)
    if invalid:
        encoded = dataclasses.replace(encoded, invalid=invalid)
    merges = count_boundary_merges(tok, prompts, responses) if config.response_marker is not None else 0
    return encoded, {"boundary_merges": merges}
