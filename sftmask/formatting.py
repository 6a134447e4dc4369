"""Data kinds: how a record's fields become a tokenized row (prompt part / trained part).

Each kind names the fields the reader must deliver and encodes a batch of records into an
`EncodedBatch`. Strategies say which kinds they apply to (`Strategy.data_kinds`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa

from sftmask.masking import EncodedBatch
from sftmask.tokenization import LoadedTokenizer, count_boundary_merges, segment

if TYPE_CHECKING:
    from sftmask.config import BuildConfig

Encoder = Callable[[LoadedTokenizer, pa.RecordBatch, "BuildConfig"], tuple[EncodedBatch, dict[str, int]]]


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


def encode_prompt_response(
    tok: LoadedTokenizer, table: pa.RecordBatch, config: BuildConfig
) -> tuple[EncodedBatch, dict[str, int]]:
    """Prompt + response text: the prompt as `tokenizer(prompt)`, the response as its continuation."""
    prompts: list[str] = table.column(config.prompt_field).to_pylist()
    responses: list[str] = table.column(config.response_field).to_pylist()
    encoded = segment(tok, prompts, responses, add_eos=config.add_eos)
    return encoded, {"boundary_merges": count_boundary_merges(tok, prompts, responses)}


DATA_KINDS: dict[str, DataKind] = {
    "prompt-response": DataKind(
        "records with a prompt and a response string",
        text_fields=lambda c: [c.prompt_field, c.response_field],
        object_fields=lambda c: [],
        encode=encode_prompt_response,
    ),
}
