"""Chat data hygiene a user would not see otherwise: conversations that start with the assistant
or do not alternate (counted, warned once, rejected on request), conversations with no assistant
message (rejected under every strategy), rows longer than the tokenizer's model_max_length."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import pytest

from sftmask.tokenization.load import load_tokenizer
from tests.cli.test_build import rows_of, run, write_jsonl
from tests.helpers import label_rows

SAMPLE_TOKENIZER = Path(__file__).resolve().parents[2] / "sample_data" / "tokenizer"


def sharegpt(*turns: tuple[str, str]) -> dict[str, Any]:
    return {"conversations": [{"from": who, "value": text} for who, text in turns]}


# ShareGPT dumps often start mid-conversation (the user's first message was cut off) or hold two
# turns of one speaker in a row.
RECORDS = [
    sharegpt(("human", "What is a haiku?"), ("gpt", "A three-line poem of 5, 7 and 5 syllables.")),
    sharegpt(
        ("gpt", "…and that is why the sky looks blue."),
        ("human", "Thanks! And sunsets?"),
        ("gpt", "Longer path, more red."),
    ),
    sharegpt(("system", "Be kind."), ("gpt", "Hello, how can I help?"), ("human", "Hi"), ("gpt", "Hi!")),
    sharegpt(
        ("human", "Write a limerick."), ("human", "About a cat, please."), ("gpt", "There once was a cat from Peru…")
    ),
]


def test_starts_with_assistant_and_non_alternating_are_counted_and_warned_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = write_jsonl(tmp_path / "sharegpt.jsonl", RECORDS * 3)
    out = tmp_path / "o"
    with caplog.at_level(logging.WARNING, logger="sftmask"):
        result = run("build", str(data), "-t", str(SAMPLE_TOKENIZER), "-o", str(out), "--batch-size", "2")
    assert result.exit_code == 0, result.output
    chat = json.loads((out / "manifest.json").read_text())["chat"]
    assert chat == {"starts_with_assistant": 6, "non_alternating": 3, "masked_messages": 0}
    said = [r.getMessage() for r in caplog.records if "conversation(s)" in r.getMessage()]
    assert said == [
        "6 conversation(s) start with the assistant's turn after the system prompt: their first reply is trained "
        "with no user message before it; --require-user-first rejects them",
        "3 conversation(s) have two user or two assistant messages in a row; check that turns were not lost or merged",
    ]
    assert len(rows_of(out)) == 12


def test_require_user_first_rejects_them(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "sharegpt.jsonl", RECORDS)
    out = tmp_path / "o"
    result = run(
        "build", str(data), "-t", str(SAMPLE_TOKENIZER), "-o", str(out), "--require-user-first", "--on-error", "skip"
    )
    assert result.exit_code == 0, result.output
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    assert [(r["line"], r["reason"]) for r in rejects] == [(2, "starts-with-assistant"), (3, "starts-with-assistant")]
    assert len(rows_of(out)) == 2
    failed = run("build", str(data), "-t", str(SAMPLE_TOKENIZER), "-o", str(tmp_path / "f"), "--require-user-first")
    assert failed.exit_code == 3
    assert failed.stderr.startswith(f"Error: {data}:2: the first message after the system prompt is the assistant's")


@pytest.mark.parametrize("strategy", ["assistant-only", "last-turn", "all"])
def test_no_assistant_message_is_rejected_under_every_strategy(tmp_path: Path, strategy: str) -> None:
    no_reply = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello?"}]}
    ok = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}
    data = write_jsonl(tmp_path / "chat.jsonl", [ok, no_reply])
    args = ["--strategy", strategy, "--data-kind", "chat"]
    out = tmp_path / "o"
    result = run("build", str(data), "-t", str(SAMPLE_TOKENIZER), "-o", str(out), *args, "--on-error", "skip")
    assert result.exit_code == 0, result.output
    (reject,) = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    assert (reject["line"], reject["reason"]) == (2, "no-assistant-turn")
    assert reject["message"].startswith("the conversation has no assistant message (roles: system, user)")
    failed = run("build", str(data), "-t", str(SAMPLE_TOKENIZER), "-o", str(tmp_path / "f"), *args)
    assert failed.exit_code == 3 and failed.stderr.startswith(f"Error: {data}:2: the conversation has no assistant")
    tok = load_tokenizer(str(SAMPLE_TOKENIZER))
    _, rejected = label_rows(tok, [ok, no_reply], strategy=strategy, data_kind="chat", on_error="skip")
    assert [reason for reason, _ in rejected.values()] == ["no-assistant-turn"]


def test_a_row_longer_than_model_max_length_is_named(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    tokenizer = tmp_path / "tok"
    shutil.copytree(SAMPLE_TOKENIZER, tokenizer)
    config = json.loads((tokenizer / "tokenizer_config.json").read_text())
    (tokenizer / "tokenizer_config.json").write_text(json.dumps({**config, "model_max_length": 32}))
    records = [
        {"prompt": "Hi", "response": " there"},
        {"prompt": "Tell me a long story. " * 10, "response": " Once upon a time " * 5},
        {"prompt": "Bye", "response": " now"},
    ]
    data = write_jsonl(tmp_path / "data.jsonl", records)
    out = tmp_path / "o"
    with caplog.at_level(logging.WARNING, logger="sftmask"):
        result = run("build", str(data), "-t", str(tokenizer), "-o", str(out))
    assert result.exit_code == 0, result.output
    counts = json.loads((out / "manifest.json").read_text())["counts"]
    longest = counts["longest_row"]
    assert longest > 32 and counts["longest_row_at"] == f"{data}:2"
    assert (
        f"; longest row {longest:,} tokens ({data}:2), more than the tokenizer's model_max_length 32" in result.stdout
    )
    (warning,) = [r.getMessage() for r in caplog.records if "model_max_length" in r.getMessage()]
    assert warning.startswith(
        f"the longest row has {longest} tokens ({data}:2), more than the tokenizer's model_max_length 32"
    )
    assert "pass --max-length 32" in warning
    # within the limit: nothing said
    short = run("build", str(data), "-t", str(tokenizer), "-o", str(tmp_path / "s"), "--max-length", "32")
    assert short.exit_code == 0 and "model_max_length" not in short.stdout
    # a tokenizer without a model_max_length (transformers' huge default) says nothing either
    plain = run("build", str(data), "-t", str(SAMPLE_TOKENIZER), "-o", str(tmp_path / "p"))
    assert plain.exit_code == 0 and "model_max_length" not in plain.stdout
