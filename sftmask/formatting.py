"""Data kinds: how a record's fields become a tokenized row (prompt part / trained part).

Each kind names the fields the reader must deliver and encodes a batch of records into an
`EncodedBatch`. Strategies say which kinds they apply to (`Strategy.data_kinds`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa

from sftmask.masking import STRATEGIES, EncodedBatch
from sftmask.tokenization import LoadedTokenizer, count_boundary_merges, segment
from sftmask.words import encode_words, start_words

if TYPE_CHECKING:
    from sftmask.config import BuildConfig
    from sftmask.readers import InputFile

Encoder = Callable[[LoadedTokenizer, pa.RecordBatch, "BuildConfig"], tuple[EncodedBatch, dict[str, int]]]


class EncodingSession(Protocol):
    """A data kind's encoder for one build: prepared once, then called per batch."""

    def encode(self, table: pa.RecordBatch) -> tuple[EncodedBatch, dict[str, int]]:
        """Encode one batch; also return counts (`boundary_merges`, `truncated`) for the stats."""
        ...

    def manifest(self) -> dict[str, Any]:
        """Extra top-level manifest entries, once the build is done."""
        ...


Starter = Callable[["BuildConfig", LoadedTokenizer, "list[InputFile]"], EncodingSession]


@dataclass(frozen=True)
class _StatelessSession:
    kind_encode: Encoder
    config: BuildConfig
    tok: LoadedTokenizer

    def encode(self, table: pa.RecordBatch) -> tuple[EncodedBatch, dict[str, int]]:
        return self.kind_encode(self.tok, table, self.config)

    def manifest(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class DataKind:
    """A kind of input record and how to encode it."""

    description: str
    text_fields: Callable[[BuildConfig], list[str]]
    """Fields every record must hold as strings."""
    object_fields: Callable[[BuildConfig], list[str]]
    """Fields holding JSON values (lists, objects); the reader passes them on as JSON text."""
    encode: Encoder
    """Encode a batch; also returns extra counts for the manifest (e.g. boundary merges)."""
    start: Starter | None = None
    """Optional: prepare an `EncodingSession` once per build (state, start-up checks, manifest)."""
    appends_eos: bool = True
    """Whether `--add-eos` applies (and so whether the tokenizer needs an EOS token)."""

    def open(self, config: BuildConfig, tok: LoadedTokenizer, files: list[InputFile]) -> EncodingSession:
        """The session that encodes this build's batches."""
        if self.start is not None:
            return self.start(config, tok, files)
        return _StatelessSession(self.encode, config, tok)


def encode_prompt_response(
    tok: LoadedTokenizer, table: pa.RecordBatch, config: BuildConfig
) -> tuple[EncodedBatch, dict[str, int]]:
    """Prompt + response text: the prompt as `tokenizer(prompt)`, the response as its continuation."""
    prompts: list[str] = table.column(config.prompt_field).to_pylist()
    responses: list[str] = table.column(config.response_field).to_pylist()
    word_starts = STRATEGIES[config.strategy].needs_word_starts
    encoded = segment(tok, prompts, responses, add_eos=config.add_eos, word_starts=word_starts)
    return encoded, {"boundary_merges": count_boundary_merges(tok, prompts, responses)}


DATA_KINDS: dict[str, DataKind] = {
    "prompt-response": DataKind(
        "records with a prompt and a response string",
        text_fields=lambda c: [c.prompt_field, c.response_field],
        object_fields=lambda c: [],
        encode=encode_prompt_response,
    ),
    "words": DataKind(
        "records with a list of words and a parallel list of tags (NER, POS, chunking)",
        text_fields=lambda c: [],
        object_fields=lambda c: [c.resolved_tokens_field, c.resolved_tags_field],
        encode=encode_words,
        start=start_words,
        appends_eos=False,
    ),
}
