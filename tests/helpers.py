"""Helpers for tests: in-memory records through `sftmask.label`, rows in a readable form."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa
from hypothesis import settings

import sftmask
from sftmask.chat.choice import choose_template
from sftmask.chat.render import ChatRenderer
from sftmask.labels.strategies import EncodedBatch
from sftmask.pipeline import RECORDS, make_reader, open_session
from sftmask.tokenization.load import LoadedTokenizer

Row = tuple[list[int], list[int]]


def examples(ci: int) -> int:
    """A property test's example count: `ci` in the ``ci`` Hypothesis profile (what CI runs), at
    most the profile's ``max_examples`` in the others (``dev``, the default: tests/conftest.py)."""
    if settings.get_current_profile_name() == "ci":
        return ci
    return min(ci, settings.default.max_examples)


def rows_of(table: pa.Table) -> list[Row]:
    """(input_ids, labels) per row of a labelled table."""
    return list(zip(table.column("input_ids").to_pylist(), table.column("labels").to_pylist(), strict=True))


def label_rows(
    tok: LoadedTokenizer, records: list[dict[str, Any]], **options: Any
) -> tuple[list[Row], dict[int, tuple[str, str]]]:
    """`sftmask.label` on records: (input_ids, labels) per written row, and (reason, message) per
    record index of the records that gave no row."""
    table, rejects = sftmask.label(records, tok, with_rejects=True, **options)
    columns = [rejects.column(name).to_pylist() for name in ("index", "reason", "message")]
    return rows_of(table), {index: (reason, message) for index, reason, message in zip(*columns, strict=True)}


def build_rows(
    tok: LoadedTokenizer, prompts: list[str], responses: list[str], **options: Any
) -> tuple[list[Row], dict[int, str]]:
    """`label_rows` on prompt/response pairs; rejects as record index -> reason."""
    records = [{"prompt": p, "response": r} for p, r in zip(prompts, responses, strict=True)]
    rows, rejected = label_rows(tok, records, **options)
    return rows, {index: reason for index, (reason, _) in rejected.items()}


def encode_records(tok: LoadedTokenizer, records: list[dict[str, Any]], **options: Any) -> EncodedBatch:
    """The data kind's `EncodedBatch` of records (one batch), for tests of what strategies see."""
    config = sftmask.load_config(inputs=[RECORDS], tokenizer=tok.name, output="-", **options)
    (batch,) = make_reader(config, []).read_records(records, RECORDS)
    encoded, _ = open_session(config, tok, []).encode(batch.table)
    return encoded


def marked_tokens(tok: LoadedTokenizer, ids: list[int], labels: list[int]) -> list[str]:
    """Tokens as strings, trained ones wrapped as `[tok]`: a readable form of a labelled row."""
    tokens = tok.hf.convert_ids_to_tokens(ids)
    return [f"[{t}]" if lab != -100 else t for t, lab in zip(tokens, labels, strict=True)]


def load_renderer(
    hf: Any, chat_template: str | None, samples: Sequence[tuple[list[dict[str, Any]], Any]] = (), **options: Any
) -> ChatRenderer:
    """A renderer for the template `choose_template` picks (`options` go to `ChatRenderer`), as the
    chat data kind makes one."""
    return ChatRenderer(hf, choose_template(hf, chat_template, samples, **options).text, **options)
