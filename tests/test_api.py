"""The front door: `sftmask.label` gives the rows `sftmask.build` writes; errors and rejects name records."""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

import sftmask

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_data"
TOKENIZER = str(SAMPLE / "tokenizer")


def records(name: str, n: int) -> list[dict[str, Any]]:
    with (SAMPLE / name).open(encoding="utf-8") as f:
        return [json.loads(line) for line, _ in zip(f, range(n), strict=False)]


def built_rows(tmp_path: Path, name: str, n: int, **options: Any) -> list[dict[str, Any]]:
    source = tmp_path / f"in-{name}"
    source.write_text("".join(json.dumps(r) + "\n" for r in records(name, n)), encoding="utf-8")
    result = sftmask.build(inputs=[str(source)], tokenizer=TOKENIZER, output=str(tmp_path / "out"), **options)
    rows: list[dict[str, Any]] = []
    for shard in result.shards:
        rows += pq.read_table(tmp_path / "out" / shard["file"]).to_pylist()
    return rows


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("instructions.jsonl", {"keep_columns": ["id"], "max_length": 64}),
        ("chat.jsonl", {"strategy": "last-turn", "chat_template": str(SAMPLE / "tokenizer" / "chat_template.jinja")}),
        ("ner.jsonl", {"strategy": "first-subtoken", "label_names": str(SAMPLE / "ner_labels.txt")}),
    ],
    ids=["prompt-response", "chat", "words"],
)
def test_label_gives_the_rows_build_writes(tmp_path: Path, name: str, options: dict[str, Any]) -> None:
    table = sftmask.label(records(name, 40), TOKENIZER, **options)
    assert table.num_rows > 0
    assert table.to_pylist() == built_rows(tmp_path, name, 40, **options)
    assert not [c for c in table.column_names if c.startswith("_sftmask")]


def test_label_accepts_a_loaded_tokenizer_and_any_iterable() -> None:
    tok = sftmask.load_tokenizer(TOKENIZER)
    pairs = records("instructions.jsonl", 5)
    assert sftmask.label(iter(pairs), tok).equals(sftmask.label(pairs, TOKENIZER))


def test_rejected_records_are_returned_or_logged(caplog: pytest.LogCaptureFixture) -> None:
    data = [{"prompt": "Q", "response": ""}, {"prompt": "Q", "response": "A"}, {"prompt": "x " * 200, "response": "y"}]
    table, rejects = sftmask.label(data, TOKENIZER, add_eos=False, max_length=50, truncation="drop", with_rejects=True)
    assert table.num_rows == 1
    assert rejects.to_pylist() == [
        {
            "index": 0,
            "reason": "no-trainable-tokens",
            "message": "no token left to train on (empty response, or truncated away; a row's first token is never predicted)",
        },
        {"index": 2, "reason": "too-long", "message": 'longer than max_length=50 with truncation="drop"'},
    ]
    with caplog.at_level(logging.WARNING, logger="sftmask.pipeline"):
        assert sftmask.label(data, TOKENIZER, add_eos=False, max_length=50, truncation="drop").equals(table)
    assert "2 of 3 records give no row (no-trainable-tokens: 1, too-long: 1)" in caplog.text


def test_a_malformed_record_raises_naming_its_index() -> None:
    data = [{"prompt": "Q", "response": "A"}, {"prompt": "Q", "answer": "A"}]
    with pytest.raises(
        sftmask.InputDataError, match=r"^records\[1\]: field 'response' not found; fields are prompt, answer"
    ):
        sftmask.label(data, TOKENIZER)
    table, rejects = sftmask.label(data, TOKENIZER, on_error="skip", with_rejects=True)
    assert table.num_rows == 1 and rejects.column("reason").to_pylist() == ["missing-field"]
    chat = [{"messages": [{"role": "robot", "content": "x"}]}]
    with pytest.raises(sftmask.InputDataError, match=r"^records\[0\]: message 1 has role 'robot'.*on_error=\"skip\""):
        sftmask.label(chat, TOKENIZER, data_kind="chat", strategy="assistant-only")


def test_label_options_are_checked_like_build_options() -> None:
    with pytest.raises(sftmask.ConfigError, match="unknown option 'max_lenght'"):
        sftmask.label([{"prompt": "Q", "response": "A"}], TOKENIZER, max_lenght=5)
    with pytest.raises(sftmask.ConfigError, match="strategy 'last-turn' does not apply to 'prompt-response' data"):
        sftmask.label([{"prompt": "Q", "response": "A"}], TOKENIZER, strategy="last-turn", data_kind="prompt-response")


def test_no_records_give_an_empty_table_with_the_columns() -> None:
    table = sftmask.label([], TOKENIZER, keep_columns="id")
    columns = ["input_ids", "attention_mask", "labels", "assistant_masks", "id"]
    assert table.num_rows == 0 and table.column_names == columns


def test_label_messages_name_keyword_arguments_not_flags() -> None:
    records = [{"question": "2+2?", "answer": "4"}]
    table, rejects = sftmask.label(records, "sample_data/tokenizer", with_rejects=True, on_error="skip")
    assert table.num_rows == 0
    assert rejects.column("message").to_pylist() == [
        "field 'prompt' not found; fields are question, answer; pass prompt_field=NAME"
    ]
    with pytest.raises(sftmask.InputDataError) as info:
        sftmask.label(records, "sample_data/tokenizer")
    assert str(info.value) == (
        "records[0]: field 'prompt' not found; fields are question, answer; pass prompt_field=NAME; "
        'fix the record or pass on_error="skip"'
    )
    chat = [
        {
            "messages": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello"},
                {"role": "user", "content": "?"},
            ]
        }
    ]
    _, rejects = sftmask.label(chat, "sample_data/tokenizer", with_rejects=True, on_error="skip", strategy="last-turn")
    assert 'strategy="last-turn" trains the final assistant turn' in rejects.column("message")[0].as_py()


def test_records_of_a_numpy_formatted_dataset_label_as_their_python_values() -> None:
    """`datasets` rows in numpy format hold the words and the ClassLabel tags as numpy arrays;
    they failed with "Type is not JSON serializable: numpy.ndarray" and now give the same rows."""
    import datasets

    names = (SAMPLE / "ner_labels.txt").read_text().split()
    plain = [{**r, "ner_tags": [names.index(t) for t in r["ner_tags"]]} for r in records("ner.jsonl", 30)]
    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            "tokens": datasets.Sequence(datasets.Value("string")),
            "ner_tags": datasets.Sequence(datasets.ClassLabel(names=names)),
        }
    )
    as_numpy = datasets.Dataset.from_list(plain, features=features).with_format("numpy")
    assert isinstance(as_numpy[0]["ner_tags"], np.ndarray) and as_numpy[0]["ner_tags"].dtype == np.int64
    options: dict[str, Any] = {"strategy": "first-subtoken", "label_names": names}
    expected = sftmask.label(plain, TOKENIZER, **options)
    assert expected.num_rows == 30
    assert sftmask.label(as_numpy, TOKENIZER, **options).equals(expected)
    one_by_one = [{**r, "ner_tags": [np.int64(t) for t in r["ner_tags"]]} for r in plain]  # numpy scalars
    assert sftmask.label(one_by_one, TOKENIZER, **options).equals(expected)


def test_values_json_cannot_hold_are_rejects_naming_the_record() -> None:
    """A tag past 64 bits (which orjson refuses to write) is what it is when read from JSON text,
    where orjson reads it as a float: `bad-tags`, as `sftmask build` says of the same line; a value
    with no JSON form (a Decimal) is the record's `invalid-json`. Both were a TypeError from inside."""
    data = [
        {"tokens": ["Paris", "is", "big"], "ner_tags": [2**70, 0, 0]},
        {"tokens": ["Paris", "is", "big"], "ner_tags": [Decimal(1), 0, 0]},
        {"tokens": ["Paris", "is", "big"], "ner_tags": [1, 0, 0]},
    ]
    words: dict[str, Any] = {"strategy": "first-subtoken", "data_kind": "words"}
    table, rejects = sftmask.label(data, TOKENIZER, **words, on_error="skip", with_rejects=True)
    assert table.num_rows == 1
    assert [(r["index"], r["reason"]) for r in rejects.to_pylist()] == [(0, "bad-tags"), (1, "invalid-json")]
    assert (
        rejects.to_pylist()[1]["message"]
        == "field 'ner_tags' holds a value with no JSON form: Decimal has no JSON form"
    )
    with pytest.raises(
        sftmask.InputDataError, match=r"^records\[0\]: field 'ner_tags' holds a value with no JSON form"
    ):
        sftmask.label(data[1:], TOKENIZER, **words)


def test_a_data_kind_alone_takes_the_kinds_strategy() -> None:
    """`--data-kind chat` (or words) without --strategy failed with "strategy 'response-only' does
    not apply to 'chat' data", though the same records without --data-kind are read as chat data
    and built with assistant-only."""
    chats = records("chat.jsonl", 20)
    assert sftmask.label(chats, TOKENIZER, data_kind="chat").equals(sftmask.label(chats, TOKENIZER))
    assert sftmask.label(chats, TOKENIZER).equals(sftmask.label(chats, TOKENIZER, strategy="assistant-only"))
    ner = records("ner.jsonl", 20)
    names = str(SAMPLE / "ner_labels.txt")
    words = sftmask.label(ner, TOKENIZER, data_kind="words", label_names=names)
    assert words.num_rows == 20 and words.equals(
        sftmask.label(ner, TOKENIZER, strategy="first-subtoken", label_names=names)
    )
    with pytest.raises(sftmask.ConfigError, match="strategy 'response-only' does not apply to 'chat' data"):
        sftmask.label(chats, TOKENIZER, data_kind="chat", strategy="response-only")  # given: kept, and refused


def test_a_row_trained_only_at_its_first_position_is_rejected_for_language_models() -> None:
    """A causal model predicts position i from the tokens before it (the trainers shift labels), so
    a label at position 0 adds nothing to the loss: `--max-length 1` kept one response token and
    wrote a row "100% trained" that trains nothing. Token-classification tags are not shifted: a
    tag at position 0 is trained and such a row is kept."""
    pair = [{"prompt": "a long prompt here with words", "response": " the answer is long too"}]
    chat = [{"messages": [{"role": "user", "content": "Hello there"}, {"role": "assistant", "content": "Hi!"}]}]
    for records in (pair, chat):
        table, rejects = sftmask.label(records, TOKENIZER, max_length=1, on_error="skip", with_rejects=True)
        assert table.num_rows == 0 and rejects.column("reason").to_pylist() == ["no-trainable-tokens"]
        assert "a row's first token is never predicted" in rejects.column("message")[0].as_py()
    (row,) = sftmask.label(pair, TOKENIZER, max_length=2).to_pylist()  # the second label is predicted
    assert len(row["labels"]) == 2 and -100 not in row["labels"]
    one_token = [{"prompt": "", "response": " the"}]
    assert sftmask.label(one_token, TOKENIZER, strategy="all", add_eos=False, on_error="skip").num_rows == 0
    words = [{"tokens": ["Paris"], "ner_tags": ["B-LOC"]}]
    (tagged,) = sftmask.label(
        words, TOKENIZER, data_kind="words", label_names=str(SAMPLE / "ner_labels.txt")
    ).to_pylist()
    assert tagged["labels"][0] != -100  # the sample tokenizer adds no special token before the word
