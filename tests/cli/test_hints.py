"""Hints that point the right way: chat and Alpaca data with the default options, a dropped
Alpaca `input`, a tokenizer path with a typo. Each hint is followed, and then the build works."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from sftmask.cli.app import app
from sftmask.config.build import make_config
from sftmask.io.formats import classify
from sftmask.pipeline import build

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()

SHAREGPT = {"conversations": [{"from": "human", "value": "Hi there"}, {"from": "gpt", "value": "Hello!"}]}
OPENAI = {"messages": [{"role": "user", "content": "Hi there"}, {"role": "assistant", "content": "Hello!"}]}
ALPACA = {"instruction": "Translate to French.", "input": "Good morning", "output": "Bonjour"}


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def build_cli(*args: str) -> Any:
    return runner.invoke(app, ["build", *args, "--quiet"])


HINTS = [
    (
        OPENAI,
        "this looks like chat data (OpenAI (role/content) messages in 'messages'): pass --strategy assistant-only",
        ["--strategy", "assistant-only"],
    ),
    (
        SHAREGPT,
        "this looks like chat data (ShareGPT (from/value) messages in 'conversations'): "
        "pass --strategy assistant-only --messages-format sharegpt",
        ["--strategy", "assistant-only", "--messages-format", "sharegpt"],
    ),
    (
        {"messages": SHAREGPT["conversations"]},
        "pass --strategy assistant-only --messages-format sharegpt --messages-field messages",
        ["--strategy", "assistant-only", "--messages-format", "sharegpt", "--messages-field", "messages"],
    ),
    (
        ALPACA,
        "this looks like Alpaca data (instruction, input, output): pass --template alpaca",
        ["--template", "alpaca"],
    ),
    (
        {"prompt": "The sky is", "completion": " blue."},
        "this looks like TRL prompt/completion data: pass --response-field completion",
        ["--response-field", "completion"],
    ),
    (
        {"text": "The sky is blue."},
        "this looks like text data (TRL language modeling): pass --data-kind text",
        ["--data-kind", "text"],
    ),
]


@pytest.mark.parametrize(("record", "hint", "follow"), HINTS)
def test_records_from_stdin_suggest_the_options_that_read_them(
    tmp_path: Path, qwen_path: Path, record: dict[str, Any], hint: str, follow: list[str]
) -> None:
    # stdin is read once, so its first records cannot tell the format: the hint does
    out = tmp_path / "o"
    line = json.dumps(record) + "\n"
    result = runner.invoke(app, ["build", "-", "-t", str(qwen_path), "-o", str(out), "--quiet"], input=line)
    assert result.exit_code == 3
    assert hint in result.stderr and "--prompt-field" not in result.stderr
    followed = runner.invoke(app, ["build", "-", "-t", str(qwen_path), "-o", str(out), "--quiet", *follow], input=line)
    assert followed.exit_code == 0, followed.output


@pytest.mark.parametrize(("record", "hint", "follow"), HINTS)
@pytest.mark.parametrize("suffix", ["jsonl", "parquet"])
def test_records_in_files_are_read_as_their_format_or_hinted(
    tmp_path: Path, qwen_path: Path, record: dict[str, Any], hint: str, follow: list[str], suffix: str
) -> None:
    source = tmp_path / f"data.{suffix}"
    if suffix == "jsonl":
        write_jsonl(source, [record])
    else:
        pq.write_table(pa.Table.from_pylist([record]), source)
    out = tmp_path / "o"
    result = build_cli(str(source), "-t", str(qwen_path), "-o", str(out))
    if record is ALPACA:  # a prompt template is a choice, not a format: the hint says which
        assert result.exit_code == 3 and hint in result.stderr
        result = build_cli(str(source), "-t", str(qwen_path), "-o", str(out), *follow)
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    followed = build_cli(str(source), "-t", str(qwen_path), "-o", str(tmp_path / "f"), *follow)
    assert followed.exit_code == 0, followed.output
    assert pq.read_table(out / "train-00000-of-00001.parquet") == pq.read_table(
        tmp_path / "f" / "train-00000-of-00001.parquet"
    )
    detected = classify(record)
    assert manifest["input"]["format"] == (None if detected is None else detected.name)
    assert (detected is None) == (record is ALPACA)


def test_prompt_field_instruction_with_a_non_empty_input_warns(
    tmp_path: Path, qwen_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    records = [{**ALPACA, "input": ""}, ALPACA, {**ALPACA, "input": "Good night"}]
    for suffix in ("jsonl", "parquet"):
        source = tmp_path / f"alpaca.{suffix}"
        if suffix == "jsonl":
            write_jsonl(source, records)
        else:
            pq.write_table(pa.Table.from_pylist(records), source)
        options = {"inputs": [str(source)], "tokenizer": str(qwen_path), "output": str(tmp_path / suffix)}
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="sftmask"):
            build(make_config({**options, "prompt_field": "instruction", "response_field": "output"}))
        where = f"{source}:2" if suffix == "jsonl" else f"{source} row 1"
        assert [r.getMessage() for r in caplog.records] == [
            f"{where}: field 'input' is not empty: --prompt-field instruction leaves Alpaca's input out "
            "of the prompt; pass --template alpaca"
        ]
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="sftmask"):
            build(make_config({**options, "template": "alpaca", "overwrite": True}))
        assert caplog.records == []


def test_no_warning_when_input_is_always_empty(
    tmp_path: Path, qwen_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = write_jsonl(tmp_path / "a.jsonl", [{**ALPACA, "input": " "}, {**ALPACA, "input": None}])
    config = make_config(
        {
            "inputs": [str(source)],
            "tokenizer": str(qwen_path),
            "output": str(tmp_path / "o"),
            "prompt_field": "instruction",
            "response_field": "output",
        }
    )
    with caplog.at_level(logging.WARNING, logger="sftmask"):
        build(config)
    assert caplog.records == []


def test_tokenizer_path_with_a_typo_says_the_folder_does_not_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    out = str(tmp_path / "o")
    result = build_cli("sample_data/instructions.jsonl", "-t", "sample_data/tokenize", "-o", out)
    assert result.exit_code == 4
    assert result.stderr == (
        "Error: tokenizer folder not found: sample_data/tokenize; did you mean sample_data/tokenizer?\n"
    )
    result = build_cli("sample_data/instructions.jsonl", "-t", "sample_data/nothing-like-it", "-o", out)
    assert result.exit_code == 4
    assert "tokenizer folder not found: sample_data/nothing-like-it (sample_data has no folder" in result.stderr
    assert "Hub" not in result.stderr


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--strategy", "assistant_only"], "unknown strategy 'assistant_only' (did you mean 'assistant-only'?)"),
        (["--data-kind", "prompt_response"], "unknown data kind 'prompt_response' (did you mean 'prompt-response'?)"),
        (["--template", "alpacca"], "unknown template 'alpacca' (did you mean 'alpaca'?)"),
        (["--chat-template", "chatlm"], "chat template file not found: chatlm (did you mean 'chatml'?)"),
        (["--engine", "rey"], "unknown engine 'rey' (did you mean 'ray'?)"),
    ],
)
def test_misspelt_names_get_did_you_mean(tmp_path: Path, args: list[str], said: str) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", [{"prompt": "a", "response": "b"}])
    result = build_cli(str(data), "-t", str(REPO / "sample_data" / "tokenizer"), "-o", str(tmp_path / "o"), *args)
    assert result.exit_code == 2 and said in result.stderr, result.stderr


def test_misspelt_fields_and_roles_get_did_you_mean(tmp_path: Path) -> None:
    tokenizer = str(REPO / "sample_data" / "tokenizer")
    data = write_jsonl(tmp_path / "d.jsonl", [{"prompt": "a", "respones": "b"}])
    result = build_cli(str(data), "-t", tokenizer, "-o", str(tmp_path / "o"))
    assert result.exit_code == 3
    assert (
        "field 'response' not found (did you mean 'respones'?); fields are prompt, respones; pass --response-field respones"
        in result.stderr
    )
    result = build_cli(str(data), "-t", tokenizer, "-o", str(tmp_path / "o"), "--response-field", "respones")
    assert result.exit_code == 0, result.output
    chat = write_jsonl(tmp_path / "c.jsonl", [{"mesages": OPENAI["messages"]}])
    result = build_cli(str(chat), "-t", tokenizer, "-o", str(tmp_path / "c"), "--strategy", "assistant-only")
    assert (
        "field 'messages' not found (did you mean 'mesages'?); fields are mesages; pass --messages-field mesages"
        in result.stderr
    )
    role = write_jsonl(
        tmp_path / "r.jsonl",
        [{"messages": [{"role": "user", "content": "Hi"}, {"role": "asistant", "content": "Hello"}]}],
    )
    result = build_cli(str(role), "-t", tokenizer, "-o", str(tmp_path / "r"))
    assert (
        "message 2 has role 'asistant' (did you mean 'assistant'?); roles are system, user, assistant, tool"
        in result.stderr
    )
