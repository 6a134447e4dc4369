"""Text data: pre-formatted text records, all trained or trained after a response marker.

A record holds one string (``--text-field``, default ``text``). Without ``--response-marker`` every
token is trained (the text is encoded like ``tokenizer(text)``, EOS appended with ``--add-eos``).
With a marker, the text up to and including the marker's first occurrence is the prompt (masked)
and the rest the response (trained), encoded token-exactly like prompt/response data.
"""

from __future__ import annotations

import dataclasses

import pyarrow as pa

from sftmask.config.options import TextOptions
from sftmask.io.readers import InputFile
from sftmask.kinds.base import DataKind, EncodingSession, Fields, StatelessSession
from sftmask.labels.strategies import STRATEGIES, EncodedBatch
from sftmask.tokenization.encode import count_boundary_merges, segment
from sftmask.tokenization.load import LoadedTokenizer

NO_MARKER = "no-response-marker"
"""Reject reason of a record whose text lacks the response marker (this kind's own)."""


def split_at_marker(texts: list[str], marker: str | None) -> tuple[list[str], list[str], dict[int, tuple[str, str]]]:
    """Prompts (through the marker's first occurrence), responses, and rows lacking the marker."""
    if marker is None:
        return [""] * len(texts), texts, {}
    prompts, responses = [], []
    invalid: dict[int, tuple[str, str]] = {}
    for row, text in enumerate(texts):
        at = text.find(marker)
        if at < 0:
            invalid[row] = (NO_MARKER, f"response marker {marker!r} not found in the text")
            prompts.append("")
            responses.append("")
            continue
        end = at + len(marker)
        prompts.append(text[:end])
        responses.append(text[end:])
    return prompts, responses, invalid


def encode_text(
    tok: LoadedTokenizer, table: pa.RecordBatch, config: TextOptions
) -> tuple[EncodedBatch, dict[str, int]]:
    """Encode a batch of text records (see the module docstring)."""
    texts: list[str] = table.column(config.resolved_text_field).to_pylist()
    prompts, responses, invalid = split_at_marker(texts, config.response_marker)
    word_starts = "word_start" in STRATEGIES[config.strategy].needs
    encoded = segment(tok, prompts, responses, add_eos=config.add_eos, word_starts=word_starts)
    if invalid:
        encoded = dataclasses.replace(encoded, invalid=invalid)
    merges = count_boundary_merges(tok, prompts, responses) if config.response_marker is not None else 0
    return encoded, {"boundary_merges": merges}


class Text(DataKind[TextOptions]):
    name = "text"
    description = "records with one pre-formatted text: all trained, or trained after --response-marker"
    options = TextOptions
    provides = frozenset({"lm_targets", "response_mask", "word_start"})
    options_select = True

    def fields(self, config: TextOptions) -> Fields:
        return Fields(text=[config.resolved_text_field], hints={config.resolved_text_field: "; pass --text-field NAME"})

    def open(self, config: TextOptions, tok: LoadedTokenizer, files: list[InputFile]) -> EncodingSession:
        return StatelessSession(encode_text, config, tok)

    def appends_eos(self, config: TextOptions) -> bool:
        return config.add_eos

    def check(self, config: TextOptions, *, chosen: bool) -> None:
        if chosen or not self.options_given(config):
            return
        given = [name.replace("_", "-") for name in self.own_options() if getattr(config, name) is not None]
        raise ValueError(f"{', '.join(given)} only apply to text data (--data-kind text)")
