"""Helpers for tests: in-memory records through `sftmask.label`, rows in a readable form."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
from hypothesis import settings

import sftmask
from sftmask.chat.choice import choose_template
from sftmask.chat.render import ChatRenderer
from sftmask.labels.strategies import EncodedBatch
from sftmask.pipeline import RECORDS, make_reader, open_session
from sftmask.tokenization import load
from sftmask.tokenization.load import LoadedTokenizer, load_tokenizer
from tests import downloads

REPO = Path(__file__).resolve().parent.parent
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


_LOADED: dict[tuple[str, bool, str], LoadedTokenizer] = {}
_TRANSFORMERS: dict[str, Any] = {}
_LOAD_NAMES = dict(vars(load))
"""`sftmask.tokenization.load` as imported: a test that patches a name in it gets fresh loads."""


def load_once(name_or_path: str, *, trust_remote_code: bool = False) -> LoadedTokenizer:
    """`load_tokenizer`, loading each fixture folder once per test run.

    The folders the fixtures build (in the test cache) and sample_data/tokenizer do not change
    during a run, so the tokenizer loaded from one is handed out again (a `LoadedTokenizer` is
    frozen). Any other folder (one a test writes), or any folder while a test has patched
    `sftmask.tokenization.load` (e.g. its `direct_tokenizer`), is loaded afresh."""
    folder = Path(name_or_path).expanduser().resolve()
    fixed = _fixed(folder)
    patched = any(vars(load).get(name) is not value for name, value in _LOAD_NAMES.items() if name != "load_tokenizer")
    if not fixed or patched or not folder.is_dir():
        return load_tokenizer(name_or_path, trust_remote_code=trust_remote_code)
    key = (name_or_path, trust_remote_code, str(folder))
    if key not in _LOADED:
        _LOADED[key] = load_tokenizer(name_or_path, trust_remote_code=trust_remote_code)
    return _LOADED[key]


def _fixed(folder: Path) -> bool:
    """A fixture folder: built into the test cache or shipped, never changed during a run."""
    return folder == REPO / "sample_data" / "tokenizer" or folder.is_relative_to(downloads.cache_dir("tokenizers"))


def transformers_tokenizer(path: str | Path) -> Any:
    """``AutoTokenizer.from_pretrained(path)``, transformers' own tokenizer that tests compare
    sftmask's output with; loaded once per run for a fixture folder. Do not change it."""
    from transformers import AutoTokenizer

    folder = Path(path).expanduser().resolve()
    if not _fixed(folder):
        return AutoTokenizer.from_pretrained(str(path))
    if str(folder) not in _TRANSFORMERS:
        _TRANSFORMERS[str(folder)] = AutoTokenizer.from_pretrained(str(folder))
    return _TRANSFORMERS[str(folder)]


def record_encoded_texts(monkeypatch: Any) -> list[str]:
    """Every text `sftmask.tokenization.encode.encode_ids` encodes from now on (in this test), in order."""
    from sftmask.tokenization import encode

    texts: list[str] = []
    real = encode.encode_ids

    def recording(encoder: Any, batch: Any, *, add_special_tokens: bool) -> Any:
        texts.extend(batch)
        return real(encoder, batch, add_special_tokens=add_special_tokens)

    monkeypatch.setattr(encode, "encode_ids", recording)
    return texts
