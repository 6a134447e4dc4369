"""Data formats told by the fields of the first records (`sftmask.io.formats`): TRL's dataset types
build without flags, through the CLI and `sftmask.label`; options given win; a mixed input is an
error naming the first record that differs."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sftmask
from sftmask.errors import InputDataError
from sftmask.io.formats import classify, detect
from sftmask.tokenization.load import LoadedTokenizer
from tests import published_templates
from tests.cli.test_build import rows_of, run, write_jsonl
from tests.helpers import label_rows

DIALECTS = Path(__file__).resolve().parents[2] / "sample_data" / "dialects"
SAMPLE_TOKENIZER = Path(__file__).resolve().parents[2] / "sample_data" / "tokenizer"


def records(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (DIALECTS / name).read_text(encoding="utf-8").splitlines()]


def manifest(out: Path) -> dict[str, Any]:
    return dict(json.loads((out / "manifest.json").read_text()))


MESSAGES = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]


@pytest.mark.parametrize(
    ("record", "name", "kind", "settings"),
    [
        ({"prompt": "a", "response": "b"}, "prompt-response", "prompt-response", {}),
        ({"prompt": "a", "completion": "b"}, "prompt-completion", "prompt-response", {"response_field": "completion"}),
        (
            {"prompt": MESSAGES[:1], "completion": MESSAGES[1:]},
            "conversational-prompt-completion",
            "chat",
            {"messages_field": "prompt", "completion_field": "completion"},
        ),
        ({"messages": MESSAGES, "tools": []}, "conversational", "chat", {}),
        ({"conversations": MESSAGES}, "conversational", "chat", {"messages_field": "conversations"}),
        ({"conversations": [{"from": "human", "value": "Hi"}]}, "sharegpt", "chat", {"messages_format": "sharegpt"}),
        (
            {"messages": [{"from": "human", "value": "Hi"}]},
            "sharegpt",
            "chat",
            {"messages_format": "sharegpt", "messages_field": "messages"},
        ),
        ({"text": "The sky is blue.", "id": "x1", "url": "https://example.com"}, "language-modeling", "text", {}),
        # A CSV cell holds the conversation as JSON text; a table column of other records' fields is null.
        ({"messages": json.dumps(MESSAGES)}, "conversational", "chat", {}),
        ({"prompt": "a", "completion": "b", "messages": None}, "prompt-completion", "prompt-response", None),
    ],
)
def test_formats_by_fields(record: dict[str, Any], name: str, kind: str, settings: dict[str, Any] | None) -> None:
    fmt = classify(record)
    assert fmt is not None and (fmt.name, fmt.data_kind) == (name, kind)
    if settings is not None:
        assert fmt.settings == settings


@pytest.mark.parametrize(
    "record",
    [
        {"instruction": "x", "output": "y"},  # Alpaca: a template, not a format (the hint says --template alpaca)
        {"prompt": "a", "completion": MESSAGES},  # half conversational
        {"prompt": "a"},  # TRL prompt-only: nothing to train
        {"prompt": "a", "chosen": "b", "rejected": "c"},  # TRL preference: not SFT data
        {"text": "x", "prompt": "y"},
        {"messages": []},
    ],
)
def test_records_of_no_format(record: dict[str, Any]) -> None:
    assert classify(record) is None


def test_detect_names_the_first_record_of_another_format() -> None:
    sample = [("d.jsonl:1", {"x": 1}), ("d.jsonl:2", {"prompt": "a", "completion": "b"})]
    sample += [("d.jsonl:3", {"prompt": "c", "completion": "d"}), ("d.jsonl:4", {"messages": MESSAGES})]
    with pytest.raises(InputDataError) as info:
        detect(sample)
    assert str(info.value).startswith(
        "d.jsonl:4: a conversational (role/content messages) record (fields messages) among TRL "
        "prompt/completion records (the first at d.jsonl:2); one build reads one format"
    )
    assert detect(sample[:3]) is not None and detect(sample[:1]) is None


# --- TRL's types through the CLI, without flags ------------------------------------------------


def test_trl_prompt_completion_reads_completion_as_the_response(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = DIALECTS / "trl_prompt_completion.jsonl"
    with caplog.at_level(logging.WARNING, logger="sftmask"):
        result = run("build", str(data), "-t", str(SAMPLE_TOKENIZER), "-o", str(tmp_path / "o"))
    assert result.exit_code == 0, result.output
    assert [r.getMessage() for r in caplog.records] == [
        f"{data}: TRL prompt/completion records: 'completion' is read as the response"
    ]
    assert manifest(tmp_path / "o")["input"]["format"] == "prompt-completion"
    assert manifest(tmp_path / "o")["config"]["response_field"] == "completion"
    # The same rows as sftmask's own prompt/response records
    renamed = [{"prompt": r["prompt"], "response": r["completion"]} for r in records(data.name)]
    result = run(
        "build",
        str(write_jsonl(tmp_path / "pr.jsonl", renamed)),
        "-t",
        str(SAMPLE_TOKENIZER),
        "-o",
        str(tmp_path / "r"),
    )
    assert result.exit_code == 0, result.output
    assert rows_of(tmp_path / "o") == rows_of(tmp_path / "r")
    assert manifest(tmp_path / "r")["input"]["format"] == "prompt-response"


def test_trl_prompt_completion_through_label(sample_tokenizer_path: Path) -> None:
    from sftmask.tokenization.load import load_tokenizer

    tok = load_tokenizer(str(sample_tokenizer_path))
    trl = records("trl_prompt_completion.jsonl")
    rows, rejected = label_rows(tok, trl)
    ours, _ = label_rows(tok, [{"prompt": r["prompt"], "response": r["completion"]} for r in trl])
    assert not rejected and rows == ours
    for (ids, labels), record in zip(rows, trl, strict=True):
        trained = [i for i, lab in zip(ids, labels, strict=True) if lab != -100]
        assert tok.hf.decode(trained) == record["completion"] + tok.eos_token


def test_trl_language_modeling_trains_every_token(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data = DIALECTS / "trl_language_modeling.jsonl"
    with caplog.at_level(logging.WARNING, logger="sftmask"):
        result = run("build", str(data), "-t", str(SAMPLE_TOKENIZER), "-o", str(tmp_path / "o"))
    assert result.exit_code == 0, result.output
    assert "TRL language modeling (text) records: read as text data" in caplog.text
    assert manifest(tmp_path / "o")["data_kind"] == "text"
    explicit = run("build", str(data), "-t", str(SAMPLE_TOKENIZER), "-o", str(tmp_path / "t"), "--data-kind", "text")
    assert explicit.exit_code == 0, explicit.output
    rows = rows_of(tmp_path / "o")
    assert rows == rows_of(tmp_path / "t")
    assert all(row["labels"] == row["input_ids"] for row in rows)


def test_text_data_read_as_prompt_response_hints_data_kind_text(tmp_path: Path) -> None:
    data = DIALECTS / "trl_language_modeling.jsonl"
    result = run(
        "build", str(data), "-t", str(SAMPLE_TOKENIZER), "-o", str(tmp_path / "o"), "--data-kind", "prompt-response"
    )
    assert result.exit_code == 3
    assert "this looks like text data (TRL language modeling): pass --data-kind text" in result.stderr
    assert "--prompt-field" not in result.stderr


def _marked_reference(tok: LoadedTokenizer, template: str, prompt: list[Any], completion: list[Any]) -> list[int]:
    """Labels TRL's completion-only loss gives with the marked template: the assistant tokens of
    the completion (the marked mask, cut where the prompt with its generation prompt ends)."""
    out = tok.hf.apply_chat_template(
        prompt + completion, chat_template=template, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    before = tok.hf.apply_chat_template(
        prompt, chat_template=template, tokenize=True, add_generation_prompt=True, return_dict=True
    )
    n = len(before["input_ids"])
    assert out["input_ids"][:n] == before["input_ids"]
    mask = [0] * n + list(out["assistant_masks"])[n:]
    return [i if m else -100 for i, m in zip(out["input_ids"], mask, strict=True)]


@pytest.mark.parametrize(("family", "tokenizer"), [("qwen3", "qwen"), ("llama-3.1", "llama3")])
def test_trl_conversational_prompt_completion_trains_the_completion_exactly(
    family: str, tokenizer: str, published: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    tok = request.getfixturevalue(tokenizer)
    text = (published / published_templates.MARKINGS[family][0]).read_text(encoding="utf-8")
    template = tmp_path / f"{family}.jinja"
    template.write_text(text, encoding="utf-8")
    trl = records("trl_conversational_prompt_completion.jsonl")
    rows, rejected = label_rows(tok, trl, chat_template=str(template))
    assert not rejected
    marked = published_templates.marked(text, family)
    for (ids, labels), record in zip(rows, trl, strict=True):
        expected = _marked_reference(tok, marked, record["prompt"], record["completion"])
        assert (
            ids
            == tok.hf.apply_chat_template(
                record["prompt"] + record["completion"], chat_template=text, tokenize=True, return_dict=True
            )["input_ids"]
        )
        assert labels == expected, (family, record)
    # The prompt's own assistant turn ("Four.") is masked; assistant-only on the whole conversation trains it.
    whole, _ = label_rows(tok, [{"messages": trl[1]["prompt"] + trl[1]["completion"]}], chat_template=str(template))
    assert sum(lab != -100 for lab in whole[0][1]) > sum(lab != -100 for lab in rows[1][1])
    # Through the CLI, without flags; the manifest counts the prompt's masked assistant message
    out = tmp_path / "o"
    result = run(
        "build",
        str(DIALECTS / "trl_conversational_prompt_completion.jsonl"),
        "-t",
        str(request.getfixturevalue(f"{tokenizer}_path")),
        "-o",
        str(out),
        "--chat-template",
        str(template),
    )
    assert result.exit_code == 0, result.output
    assert [(r["input_ids"], r["labels"]) for r in rows_of(out)] == rows
    assert manifest(out)["input"]["format"] == "conversational-prompt-completion"
    assert manifest(out)["strategy"]["name"] == "assistant-only"
    assert manifest(out)["chat"]["masked_messages"] == 1


def test_trl_conversational_with_tools_builds_without_flags(tmp_path: Path, qwen_path: Path) -> None:
    data = DIALECTS / "trl_conversational_tools.jsonl"
    result = run("build", str(data), "-t", str(qwen_path), "-o", str(tmp_path / "o"))
    assert result.exit_code == 0, result.output
    assert manifest(tmp_path / "o")["input"]["format"] == "conversational"
    explicit = run("build", str(data), "-t", str(qwen_path), "-o", str(tmp_path / "e"), "--strategy", "assistant-only")
    assert explicit.exit_code == 0, explicit.output
    assert rows_of(tmp_path / "o") == rows_of(tmp_path / "e")


# --- options given win ---------------------------------------------------------------------------


def test_options_given_read_the_records_their_way(tmp_path: Path) -> None:
    data = DIALECTS / "trl_prompt_completion.jsonl"
    out = tmp_path / "o"
    # --response-field names another field: the user's choice, reported as a missing field
    result = run("build", str(data), "-t", str(SAMPLE_TOKENIZER), "-o", str(out), "--response-field", "answer")
    assert result.exit_code == 3 and "field 'answer' not found" in result.stderr
    # --data-kind text reads the prompt as text (its own --text-field)
    result = run(
        "build", str(data), "-t", str(SAMPLE_TOKENIZER), "-o", str(out), "--data-kind", "text", "--text-field", "prompt"
    )
    assert result.exit_code == 0, result.output
    assert manifest(out)["input"]["format"] is None and manifest(out)["data_kind"] == "text"
    # a strategy that does not apply to prompt/response data keeps today's hint
    result = run(
        "build", str(data), "-t", str(SAMPLE_TOKENIZER), "-o", str(out), "--overwrite", "--strategy", "last-turn"
    )
    assert result.exit_code == 3 and "field 'messages' not found" in result.stderr


# --- mixed inputs --------------------------------------------------------------------------------


def test_a_mixed_input_is_an_error_naming_the_first_record_that_differs(tmp_path: Path) -> None:
    trl = records("trl_prompt_completion.jsonl")
    early = write_jsonl(tmp_path / "early.jsonl", [*trl, {"messages": MESSAGES}])
    result = run("build", str(early), "-t", str(SAMPLE_TOKENIZER), "-o", str(tmp_path / "o"), "--on-error", "skip")
    assert result.exit_code == 3 and not (tmp_path / "o").exists()
    assert result.stderr.startswith(
        f"Error: {early}:4: a conversational (role/content messages) record (fields messages) among TRL "
        f"prompt/completion records (the first at {early}:1)"
    )
    # past the records the format was told from: the same error, at the record's line
    late = write_jsonl(tmp_path / "late.jsonl", [*trl * 20, {"prompt": "x", "response": "y"}])
    result = run("build", str(late), "-t", str(SAMPLE_TOKENIZER), "-o", str(tmp_path / "o"), "--on-error", "skip")
    assert result.exit_code == 3
    assert result.stderr.startswith(
        f"Error: {late}:61: a prompt/response record (fields prompt, response) among TRL prompt/completion records;"
    )
    # a second file of another format (Parquet: by row)
    other = tmp_path / "chat.parquet"
    pq.write_table(pa.Table.from_pylist([{"messages": MESSAGES}]), other)
    result = run(
        "build",
        str(DIALECTS / "trl_prompt_completion.jsonl"),
        str(other),
        "-t",
        str(SAMPLE_TOKENIZER),
        "-o",
        str(tmp_path / "o"),
    )
    assert result.exit_code == 3
    assert result.stderr.startswith(f"Error: {other} row 0: a conversational (role/content messages) record")
    # in memory
    with pytest.raises(InputDataError, match=r"^records\[3\]: a conversational"):
        sftmask.label([*trl, {"messages": MESSAGES}], str(SAMPLE_TOKENIZER))


def test_parquet_prompt_completion_is_detected(tmp_path: Path) -> None:
    source = tmp_path / "trl.parquet"
    pq.write_table(pa.Table.from_pylist(records("trl_prompt_completion.jsonl")), source)
    result = run("build", str(source), "-t", str(SAMPLE_TOKENIZER), "-o", str(tmp_path / "o"))
    assert result.exit_code == 0, result.output
    assert manifest(tmp_path / "o")["input"]["format"] == "prompt-completion"
    assert len(rows_of(tmp_path / "o")) == 3
