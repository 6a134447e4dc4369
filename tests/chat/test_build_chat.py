"""`sftmask build` on chat data end to end: shards, formats, templates, and bad records with file:line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.chat.test_render import CHATML_MARKED, MISTRAL, MULTI_TURN
from tests.cli.test_build import rows_of, run, write_jsonl
from tests.helpers import transformers_tokenizer

# The small sample tokenizer (byte-level BPE, ChatML template) loads in a fraction of the time
# of the Qwen one; tests that need no particular vocabulary use it.
SAMPLE_TOKENIZER = Path(__file__).resolve().parents[2] / "sample_data" / "tokenizer"

CONVERSATIONS = [
    {"id": "a", "messages": MULTI_TURN},
    {
        "id": "b",
        "messages": [
            {"role": "user", "content": "Écris un haïku 🌊"},
            {"role": "assistant", "content": "Vagues sous la lune"},
        ],
    },
    {
        "id": "c",
        "messages": [
            {"role": "user", "content": "def add(a, b):"},
            {"role": "assistant", "content": "    return a + b\n"},
        ],
    },
]


def trained(row: dict[str, Any]) -> list[int]:
    return [lab for lab in row["labels"] if lab != -100]


def test_chat_build_matches_apply_chat_template(tmp_path: Path, qwen_path: Path) -> None:
    data = write_jsonl(tmp_path / "chat.jsonl", CONVERSATIONS)
    out = tmp_path / "out"
    result = run(
        "build",
        str(data),
        "-t",
        str(qwen_path),
        "-o",
        str(out),
        "--strategy",
        "assistant-only",
        "--keep-columns",
        "id",
        "--json",
    )
    assert result.exit_code == 0, result.output
    tok = transformers_tokenizer(qwen_path)
    rows = rows_of(out)
    assert [r["id"] for r in rows] == ["a", "b", "c"]
    for row, record in zip(rows, CONVERSATIONS, strict=True):
        marked = tok.apply_chat_template(
            record["messages"],
            chat_template=CHATML_MARKED.read_text(),
            return_dict=True,
            return_assistant_tokens_mask=True,
        )
        assert row["input_ids"] == marked["input_ids"]
        assert row["labels"] == [
            i if m else -100 for i, m in zip(marked["input_ids"], marked["assistant_masks"], strict=True)
        ]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["data_kind"] == "chat" and manifest["strategy"]["name"] == "assistant-only"
    assert tok.decode(trained(rows[1])) == "Vagues sous la lune<|im_end|>"


def test_last_turn_and_all(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "chat.jsonl", CONVERSATIONS[:1])
    assert (
        run(
            "build", str(data), "-t", str(SAMPLE_TOKENIZER), "-o", str(tmp_path / "l"), "--strategy", "last-turn"
        ).exit_code
        == 0
    )
    assert (
        run(
            "build",
            str(data),
            "-t",
            str(SAMPLE_TOKENIZER),
            "-o",
            str(tmp_path / "a"),
            "--strategy",
            "all",
            "--data-kind",
            "chat",
        ).exit_code
        == 0
    )
    last, every = rows_of(tmp_path / "l")[0], rows_of(tmp_path / "a")[0]
    assert last["input_ids"] == every["input_ids"] == every["labels"]
    assert len(trained(last)) == 2  # "4" and <|im_end|>


def test_sharegpt_records(tmp_path: Path) -> None:
    sharegpt = [
        {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello!"}]},
    ]
    openai = [{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}]
    a = write_jsonl(tmp_path / "s.jsonl", sharegpt)
    b = write_jsonl(tmp_path / "o.jsonl", openai)
    common = ["-t", str(SAMPLE_TOKENIZER), "--strategy", "assistant-only"]
    assert run("build", str(a), *common, "-o", str(tmp_path / "s"), "--messages-format", "sharegpt").exit_code == 0
    assert run("build", str(b), *common, "-o", str(tmp_path / "o")).exit_code == 0
    assert rows_of(tmp_path / "s") == rows_of(tmp_path / "o")
    custom = write_jsonl(
        tmp_path / "c.jsonl", [{"chat": [{"who": "user", "text": "Hi"}, {"who": "assistant", "text": "Hello!"}]}]
    )
    result = run(
        "build",
        str(custom),
        *common,
        "-o",
        str(tmp_path / "c"),
        "--messages-field",
        "chat",
        "--role-key",
        "who",
        "--content-key",
        "text",
    )
    assert result.exit_code == 0, result.output
    assert rows_of(tmp_path / "c") == rows_of(tmp_path / "o")


def test_chat_template_file_for_a_tokenizer_without_one(tmp_path: Path, mistral_path: Path) -> None:
    data = write_jsonl(tmp_path / "chat.jsonl", CONVERSATIONS)
    result = run("build", str(data), "-t", str(mistral_path), "-o", str(tmp_path / "x"), "--strategy", "assistant-only")
    assert result.exit_code == 4
    assert "the tokenizer has no chat template" in result.stderr and "--chat-template FILE" in result.stderr
    out = tmp_path / "m"
    result = run(
        "build",
        str(data),
        "-t",
        str(mistral_path),
        "-o",
        str(out),
        "--strategy",
        "assistant-only",
        "--chat-template",
        str(MISTRAL),
    )
    assert result.exit_code == 0, result.output
    assert all(r["input_ids"].count(1) == 1 and r["input_ids"][0] == 1 for r in rows_of(out))  # one BOS
    missing = run(
        "build",
        str(data),
        "-t",
        str(mistral_path),
        "-o",
        str(tmp_path / "y"),
        "--strategy",
        "assistant-only",
        "--chat-template",
        "nope.jinja",
    )
    assert missing.exit_code == 2 and "chat template file not found: nope.jinja" in missing.stderr


BAD = [
    (
        {"messages": [{"role": "user", "content": "x"}, {"role": "bot", "content": "y"}]},
        "unknown-role",
        "message 2 has role 'bot'; roles are system, user, assistant, tool",
    ),
    ({"messages": []}, "invalid-conversation", "conversation is empty"),
    (
        {"messages": [{"role": "user", "content": 3}]},
        "not-a-string",
        "message 1 (user): 'content' is int, not a string",
    ),
    (
        {"messages": [{"role": "user", "content": "x"}]},
        "no-assistant-turn",
        "the conversation has no assistant message (roles: user)",
    ),
    (
        {"messages": [*MULTI_TURN, {"role": "user", "content": "x"}]},
        "no-final-assistant-turn",
        "conversation ends with a user turn",
    ),
    (
        {"messages": MULTI_TURN, "tools": {"name": "f"}},
        "invalid-tools",
        "field 'tools' must be a list of tool schemas",
    ),
    ({"prompt": "x"}, "missing-field", "field 'messages' not found; fields are prompt; pass --messages-field NAME"),
]


@pytest.mark.parametrize(("record", "reason", "message"), BAD, ids=[b[1] for b in BAD])
def test_bad_conversation_fails_with_file_and_line(
    tmp_path: Path, record: dict[str, Any], reason: str, message: str
) -> None:
    data = write_jsonl(tmp_path / "chat.jsonl", [CONVERSATIONS[0], CONVERSATIONS[1], record])
    out = tmp_path / "o"
    result = run("build", str(data), "-t", str(SAMPLE_TOKENIZER), "-o", str(out), "--strategy", "last-turn")
    assert result.exit_code == 3
    assert result.stderr.startswith(f"Error: {data}:3: {message}"), result.stderr
    assert result.stderr.count("\n") == 1 and not out.exists()


def test_bad_conversations_are_rejected_with_skip(tmp_path: Path) -> None:
    records = [CONVERSATIONS[0]] + [record for record, _, _ in BAD]
    data = write_jsonl(tmp_path / "chat.jsonl", records)
    out = tmp_path / "o"
    result = run(
        "build",
        str(data),
        "-t",
        str(SAMPLE_TOKENIZER),
        "-o",
        str(out),
        "--strategy",
        "last-turn",
        "--on-error",
        "skip",
        "--json",
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["rows_written"] == 1 and summary["rejected"] == len(BAD)
    rejects = sorted(
        (json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()), key=lambda r: r["line"]
    )
    assert [(r["line"], r["reason"]) for r in rejects] == [(i + 2, reason) for i, (_, reason, _) in enumerate(BAD)]
    assert all(message in r["message"] for r, (_, _, message) in zip(rejects, BAD, strict=True))
    assert rejects[0]["record"]["messages"] == BAD[0][0]["messages"]  # the conversation as it was, not JSON text


def test_template_options_on_the_command_line(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    data = write_jsonl(
        tmp_path / "a.jsonl",
        [{"instruction": "Say hi.", "output": "hi"}, {"instruction": "Add.", "input": "2, 3", "output": "5"}],
    )
    out = tmp_path / "o"
    result = run("build", str(data), "-t", str(SAMPLE_TOKENIZER), "-o", str(out), "--template", "alpaca")
    assert result.exit_code == 0, result.output
    tok = AutoTokenizer.from_pretrained(SAMPLE_TOKENIZER)
    assert [tok.decode(trained(r)) for r in rows_of(out)] == ["hi<|im_end|>", "5<|im_end|>"]
    missing = write_jsonl(tmp_path / "m.jsonl", [{"instruction": "x", "output": "y"}, {"output": "y"}])
    result = run("build", str(missing), "-t", str(SAMPLE_TOKENIZER), "-o", str(tmp_path / "m"), "--template", "alpaca")
    assert result.exit_code == 3
    assert f"{missing}:2: field 'instruction' not found; fields are output; template 'alpaca' uses it" in result.stderr
    pr = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "What is 2+2?", "response": "4"}])
    result = run("build", str(pr), "-t", str(SAMPLE_TOKENIZER), "-o", str(tmp_path / "c"), "--template", "chat")
    assert result.exit_code == 0, result.output
    chat = write_jsonl(
        tmp_path / "c.jsonl",
        [{"messages": [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "4"}]}],
    )
    assert (
        run(
            "build", str(chat), "-t", str(SAMPLE_TOKENIZER), "-o", str(tmp_path / "d"), "--strategy", "assistant-only"
        ).exit_code
        == 0
    )
    assert rows_of(tmp_path / "c") == rows_of(tmp_path / "d")
