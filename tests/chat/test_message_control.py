"""Message-level control of what a conversation trains (axolotl's knobs, one flag each), on
published templates against marked copies: --roles-to-train, --message-train-field,
--train-on-eos; LLaMA-Factory's alpaca (system, history) and ShareGPT (function_call, observation,
system and tools fields) records."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from sftmask.tokenization.load import LoadedTokenizer
from tests.chat.test_openai_format import ids_of, marked_labels, published_file
from tests.cli.test_build import rows_of, run, write_jsonl
from tests.helpers import label_rows

DIALECTS = Path(__file__).resolve().parents[2] / "sample_data" / "dialects"
SAMPLE_TOKENIZER = Path(__file__).resolve().parents[2] / "sample_data" / "tokenizer"

CALL = {"id": "call00001", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
TOOL_CONVERSATION = [
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": "", "tool_calls": [CALL]},
    {"role": "tool", "tool_call_id": "call00001", "content": '{"temperature": 21}'},
    {"role": "assistant", "content": "It is 21 C."},
]
CHAT = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi there"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "2+2?"},
    {"role": "assistant", "content": "4"},
]

# Qwen3's tool results marked as trained: their text, the closing tag and the turn's <|im_end|>.
QWEN3_TOOL_MARKING = (
    "        {{- '\\n<tool_response>\\n' }}\n        {{- message.content }}\n        {{- '\\n</tool_response>' }}\n"
    '        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}\n'
    "            {{- '<|im_end|>\\n' }}",
    "        {{- '\\n<tool_response>\\n' }}\n        {% generation %}{{- message.content }}"
    "{{- '\\n</tool_response>' }}{% endgeneration %}\n"
    '        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}\n'
    "            {% generation %}{{- '<|im_end|>' }}{% endgeneration %}{{- '\\n' }}",
)
# Qwen3's user turns marked as trained: their text and <|im_end|>, not the header.
QWEN3_USER_MARKING = (
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}",
    "{{- '<|im_start|>' + message.role + '\\n' }}{% generation %}{{- message.content + '<|im_end|>' }}"
    "{% endgeneration %}{{- '\\n' }}",
)


def trained_runs(tok: LoadedTokenizer, ids: list[int], labels: list[int]) -> list[str]:
    """The text of each run of trained tokens."""
    runs: list[list[int]] = []
    for i, (token, label) in enumerate(zip(ids, labels, strict=True)):
        if label == -100:
            continue
        if i and labels[i - 1] != -100:
            runs[-1].append(token)
        else:
            runs.append([token])
    return [tok.hf.decode(run) for run in runs]


def union(*labels: list[int]) -> list[int]:
    return [next((lab for lab in column if lab != -100), -100) for column in zip(*labels, strict=True)]


# --- --roles-to-train ---------------------------------------------------------------------------------


def test_tool_results_are_masked_unless_tool_is_a_role_to_train(
    published: Path, tmp_path: Path, qwen: LoadedTokenizer
) -> None:
    template, marked = published_file(published, tmp_path, "qwen3")
    old, new = QWEN3_TOOL_MARKING
    assert old in marked
    tools_marked = marked.replace(old, new)
    record = {"messages": TOOL_CONVERSATION, "tools": TOOLS}
    (default,), _ = label_rows(qwen, [record], strategy="assistant-only", chat_template=str(template))
    (with_tool,), rejected = label_rows(
        qwen, [record], strategy="assistant-only", chat_template=str(template), roles_to_train="assistant,tool"
    )
    assert not rejected
    text = template.read_text(encoding="utf-8")
    assert default[0] == with_tool[0] == ids_of(qwen, TOOL_CONVERSATION, text, TOOLS)
    assert default[1] == marked_labels(qwen, TOOL_CONVERSATION, marked, TOOLS)
    assert with_tool[1] == marked_labels(qwen, TOOL_CONVERSATION, tools_marked, TOOLS)
    assert trained_runs(qwen, *with_tool)[1] == '{"temperature": 21}\n</tool_response><|im_end|>'
    # only the tool role: the assistant's turns are masked
    (tool_only,), _ = label_rows(
        qwen, [record], strategy="assistant-only", chat_template=str(template), roles_to_train="tool"
    )
    assert trained_runs(qwen, *tool_only) == ['{"temperature": 21}\n</tool_response><|im_end|>']


def test_llama_tool_results_written_as_json_are_found(published: Path, tmp_path: Path, llama3: LoadedTokenizer) -> None:
    # Llama 3.1 writes a tool result with tojson (a string is iterable): found JSON-escaped
    template, _ = published_file(published, tmp_path, "llama-3.1")
    record = {"messages": TOOL_CONVERSATION, "tools": TOOLS}
    (row,), rejected = label_rows(
        llama3, [record], strategy="assistant-only", chat_template=str(template), roles_to_train="assistant,tool"
    )
    assert not rejected
    runs = trained_runs(llama3, *row)
    assert runs[1] == '"{\\"temperature\\": 21}"<|eot_id|>'  # from the token holding its first character
    assert all("ipython" not in run for run in runs)


def test_roles_to_train_through_the_cli_and_its_errors(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "chat.jsonl", [{"messages": CHAT}])
    out = tmp_path / "o"
    result = run("build", str(data), "-t", str(SAMPLE_TOKENIZER), "-o", str(out), "--roles-to-train", "user,assistant")
    assert result.exit_code == 0, result.output
    (row,) = rows_of(out)
    tokens = [t for t, lab in zip(row["input_ids"], row["labels"], strict=True) if lab != -100]
    assert len(tokens) > 0 and json.loads((out / "manifest.json").read_text())["config"]["roles_to_train"] == [
        "user",
        "assistant",
    ]
    bad = run("build", str(data), "-t", str(SAMPLE_TOKENIZER), "-o", str(out), "--roles-to-train", "assistant,bot")
    assert bad.exit_code == 2
    assert "roles-to-train: unknown role 'bot'; roles are system, user, assistant, tool" in bad.stderr
    last = run(
        "build",
        str(data),
        "-t",
        str(SAMPLE_TOKENIZER),
        "-o",
        str(out),
        "--strategy",
        "last-turn",
        "--roles-to-train",
        "user",
    )
    assert last.exit_code == 2
    assert "--roles-to-train choose the messages --strategy assistant-only trains, not 'last-turn'" in last.stderr


# --- --message-train-field ----------------------------------------------------------------------------


def test_a_message_train_field_masks_or_trains_a_message(
    published: Path, tmp_path: Path, qwen: LoadedTokenizer
) -> None:
    template, marked = published_file(published, tmp_path, "qwen3")
    old, new = QWEN3_USER_MARKING
    assert old in marked
    user_marked = marked.replace(old, new)
    messages = [dict(m) for m in CHAT]
    messages[2]["train"] = False  # the first answer is not trained
    messages[3]["train"] = True  # the second question is
    (row,), rejected = label_rows(
        qwen,
        [{"messages": messages}],
        strategy="assistant-only",
        chat_template=str(template),
        message_train_field="train",
    )
    assert not rejected
    assert row[0] == ids_of(qwen, CHAT, template.read_text(encoding="utf-8"))
    users = marked_labels(qwen, CHAT, user_marked)  # runs: the 2 users' and the 2 assistants' turns
    second_question = marked_labels(qwen, CHAT, user_marked, drop=(0, 1, 3))
    assert row[1] == union(marked_labels(qwen, CHAT, marked, drop=(0,)), second_question)
    assert trained_runs(qwen, *row) == ["2+2?<|im_end|>", "<think>\n\n</think>\n\n4<|im_end|>"]
    assert users != second_question
    # a train field that is not a boolean is a reject
    messages[3]["train"] = "yes"
    _, rejected = label_rows(
        qwen,
        [{"messages": messages}],
        strategy="assistant-only",
        chat_template=str(template),
        message_train_field="train",
        on_error="skip",
    )
    assert rejected == {0: ("bad-train-field", "message 4 (user): 'train' is 'yes', not true or false")}


# --- --train-on-eos ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("family", "tokenizer", "end"), [("qwen3", "qwen", "<|im_end|>"), ("llama-3.1", "llama3", "<|eot_id|>")]
)
@pytest.mark.parametrize("mode", ["turn", "last", "none"])
def test_train_on_eos(
    published: Path, tmp_path: Path, request: pytest.FixtureRequest, family: str, tokenizer: str, end: str, mode: str
) -> None:
    tok = request.getfixturevalue(tokenizer)
    template, marked = published_file(published, tmp_path, family)
    end_id = tok.hf.convert_tokens_to_ids(end)
    for strategy in ("assistant-only", "last-turn"):
        (row,), rejected = label_rows(
            tok, [{"messages": CHAT}], strategy=strategy, chat_template=str(template), train_on_eos=mode
        )
        assert not rejected
        expected = marked_labels(tok, CHAT, marked, drop=(0,) if strategy == "last-turn" else ())
        ends = [i for i, lab in enumerate(expected) if lab == end_id]
        keep = {"turn": ends, "last": ends[-1:], "none": []}[mode]
        expected = [-100 if i in ends and i not in keep else lab for i, lab in enumerate(expected)]
        assert row[1] == expected, (strategy, mode)
        assert sum(lab == end_id for lab in row[1]) == len(keep)


def test_train_on_eos_needs_a_turn_end_and_a_strategy_that_trains_turns(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "chat.jsonl", [{"messages": CHAT}])
    out = tmp_path / "o"
    result = run(
        "build",
        str(data),
        "-t",
        str(SAMPLE_TOKENIZER),
        "-o",
        str(out),
        "--strategy",
        "all",
        "--data-kind",
        "chat",
        "--train-on-eos",
        "none",
    )
    assert (
        result.exit_code == 2 and "--train-on-eos applies to assistant-only and last-turn, not 'all'" in result.stderr
    )
    no_end = tmp_path / "plain.jinja"
    no_end.write_text("{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}", encoding="utf-8")
    result = run(
        "build",
        str(data),
        "-t",
        str(SAMPLE_TOKENIZER),
        "-o",
        str(out),
        "--chat-template",
        str(no_end),
        "--train-on-eos",
        "none",
    )
    assert result.exit_code == 2 and "writes no end-of-turn text" in result.stderr


# --- LLaMA-Factory ------------------------------------------------------------------------------------


LLAMAFACTORY_ALPACA = json.loads((DIALECTS / "llamafactory_alpaca.json").read_text(encoding="utf-8"))
PREAMBLE = (
    "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n"
)


def test_llamafactory_alpaca_system_and_history(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from sftmask.tokenization.load import load_tokenizer

    tok = load_tokenizer(str(SAMPLE_TOKENIZER))
    rows, rejected = label_rows(tok, LLAMAFACTORY_ALPACA, template="alpaca")
    assert not rejected
    prompts = [
        PREAMBLE + "### Instruction:\nGive three tips for staying healthy.\n\n### Response:\n",
        "You are a careful translator.\n\n### Instruction:\nTranslate the sentence into French.\n\n"
        "### Input:\nThe weather is nice today.\n\n### Response:\n",
        "You are a careful translator.\n\n"
        "### Instruction:\nTranslate into French: The weather is nice today.\n\n### Response:\nIl fait beau aujourd'hui.\n\n"
        "### Instruction:\nAnd into Spanish?\n\n### Response:\nHoy hace buen tiempo.\n\n"
        "### Instruction:\nAnd into German?\n\n### Response:\n",
    ]
    expected, _ = label_rows(
        tok, [{"prompt": p, "response": r["output"]} for p, r in zip(prompts, LLAMAFACTORY_ALPACA, strict=True)]
    )
    assert rows == expected  # earlier turns are prompt: masked
    # through the CLI, from the JSON array file LLaMA-Factory reads
    out = tmp_path / "o"
    result = run(
        "build",
        str(DIALECTS / "llamafactory_alpaca.json"),
        "-t",
        str(SAMPLE_TOKENIZER),
        "-o",
        str(out),
        "--template",
        "alpaca",
    )
    assert result.exit_code == 0, result.output
    assert [(r["input_ids"], r["labels"]) for r in rows_of(out)] == rows
    # --prompt-field instruction leaves them out, and says so
    with caplog.at_level(logging.WARNING, logger="sftmask"):
        run(
            "build",
            str(DIALECTS / "llamafactory_alpaca.json"),
            "-t",
            str(SAMPLE_TOKENIZER),
            "-o",
            str(tmp_path / "p"),
            "--prompt-field",
            "instruction",
            "--response-field",
            "output",
        )
    said = [r.getMessage() for r in caplog.records]
    assert any(
        "field 'system' is not empty: --prompt-field instruction leaves LLaMA-Factory's system prompt out" in m
        for m in said
    )
    assert any("field 'history' is not empty" in m and "pass --template alpaca" in m for m in said)


def test_a_history_that_is_not_pairs_is_rejected() -> None:
    from sftmask.tokenization.load import load_tokenizer

    tok = load_tokenizer(str(SAMPLE_TOKENIZER))
    record = {**LLAMAFACTORY_ALPACA[2], "history": [["only a prompt"]]}
    _, rejected = label_rows(tok, [record], template="alpaca", on_error="skip")
    assert rejected[0][0] == "invalid-history"
    chatml = {"prompt": "And 3+3?", "response": "6", "history": [["2+2?", "4"]]}
    (row,), _ = label_rows(tok, [chatml], template="chatml")
    text = tok.hf.decode(row[0])
    assert text.startswith(
        "<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n<|im_start|>user\nAnd 3+3?"
    )


def test_llamafactory_sharegpt_function_calls_and_observations(
    published: Path, tmp_path: Path, qwen: LoadedTokenizer, qwen_path: Path
) -> None:
    template, marked = published_file(published, tmp_path, "qwen3")
    records = json.loads((DIALECTS / "llamafactory_sharegpt.json").read_text(encoding="utf-8"))
    out = tmp_path / "o"
    result = run(
        "build",
        str(DIALECTS / "llamafactory_sharegpt.json"),
        "-t",
        str(qwen_path),
        "-o",
        str(out),
        "--chat-template",
        str(template),
    )
    assert result.exit_code == 0, result.output
    assert json.loads((out / "manifest.json").read_text())["input"]["format"] == "sharegpt"
    # The same conversation in OpenAI's shape, as transformers takes it
    first = records[0]
    tools = [{"type": "function", "function": tool} for tool in json.loads(first["tools"])]
    call = json.loads(first["conversations"][1]["value"])
    messages = [
        {"role": "system", "content": first["system"]},
        {"role": "user", "content": first["conversations"][0]["value"]},
        {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": call}]},
        {"role": "tool", "content": first["conversations"][2]["value"]},
        {"role": "assistant", "content": first["conversations"][3]["value"]},
    ]
    row = rows_of(out)[0]
    assert row["input_ids"] == ids_of(qwen, messages, template.read_text(encoding="utf-8"), tools)
    assert row["labels"] == marked_labels(qwen, messages, marked, tools)
    assert "<tool_call>" in trained_runs(qwen, row["input_ids"], row["labels"])[0]
    # an empty system field and tools field add nothing
    second = [
        {"role": "user" if m["from"] == "human" else "assistant", "content": m["value"]}
        for m in records[1]["conversations"]
    ]
    assert rows_of(out)[1]["input_ids"] == ids_of(qwen, second, template.read_text(encoding="utf-8"))


def test_a_function_call_that_is_not_a_call_is_rejected() -> None:
    from sftmask.tokenization.load import load_tokenizer

    tok = load_tokenizer(str(SAMPLE_TOKENIZER))
    record: dict[str, Any] = {
        "conversations": [
            {"from": "human", "value": "Hi"},
            {"from": "function_call", "value": "not json"},
            {"from": "observation", "value": "x"},
            {"from": "gpt", "value": "ok"},
        ]
    }
    _, rejected = label_rows(tok, [record], on_error="skip")
    assert rejected[0] == (
        "invalid-conversation",
        'message 2 (function_call): not a JSON call {"name": ..., "arguments": ...} or a list of them',
    )


@pytest.mark.parametrize(("system", "kind"), [(5, "a number"), (["Be brief."], "a list"), ({"a": 1}, "an object")])
def test_a_sharegpt_system_field_that_is_not_text_is_rejected(system: Any, kind: str) -> None:
    """LLaMA-Factory's `system` column holds the system prompt as text; anything else was left out
    and the row built without it, with no reject."""
    from sftmask.tokenization.load import load_tokenizer

    tok = load_tokenizer(str(SAMPLE_TOKENIZER))
    conversation = [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]
    records = [
        {"conversations": conversation, "system": system},
        {"conversations": conversation, "system": "Be brief."},
    ]
    rows, rejected = label_rows(tok, records, on_error="skip")
    assert rejected[0] == ("not-a-string", f"field 'system' is {kind}, not a string: the system prompt")
    assert len(rows) == 1 and "Be brief." in tok.hf.decode(rows[0][0])
