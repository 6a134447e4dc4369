"""OpenAI's chat format as OpenAI and vLLM accept it, on published templates: content parts passed
through to templates that iterate over them and joined for the others (vLLM's rule), non-text parts
rejected, null content beside tool calls, per-message `weight`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sftmask
from sftmask.chat.content import content_format, template_content
from sftmask.tokenization.load import LoadedTokenizer
from tests import published_templates
from tests.cli.test_build import rows_of, run, write_jsonl
from tests.helpers import label_rows

DIALECTS = Path(__file__).resolve().parents[2] / "sample_data" / "dialects"
OPENAI = [json.loads(line) for line in (DIALECTS / "openai_chat.jsonl").read_text(encoding="utf-8").splitlines()]


def parts(*texts: str) -> list[dict[str, str]]:
    return [{"type": "text", "text": text} for text in texts]


def template_file(published: Path, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.write_text((published / name).read_text(encoding="utf-8"), encoding="utf-8")
    return path


def published_file(published: Path, tmp_path: Path, family: str) -> tuple[Path, str]:
    """The family's published template as a file, and its marked text."""
    name = published_templates.MARKINGS[family][0]
    path = template_file(published, tmp_path, name)
    return path, published_templates.marked(path.read_text(encoding="utf-8"), family)


def ids_of(tok: LoadedTokenizer, messages: list[dict[str, Any]], template: str, tools: Any = None) -> list[int]:
    out = tok.hf.apply_chat_template(messages, tools=tools, chat_template=template, tokenize=True, return_dict=True)
    return list(out["input_ids"])


def marked_labels(
    tok: LoadedTokenizer, messages: list[dict[str, Any]], marked: str, tools: Any = None, drop: tuple[int, ...] = ()
) -> list[int]:
    """transformers' labels from the marked template, with the `drop`-th runs of trained tokens
    (the assistant turns left out, counted from 0) masked."""
    out = tok.hf.apply_chat_template(
        messages, tools=tools, chat_template=marked, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    ids, mask = list(out["input_ids"]), list(out["assistant_masks"])
    runs = []
    for i, m in enumerate(mask):
        if m and (i == 0 or not mask[i - 1]):
            runs.append([i, i + 1])
        elif m:
            runs[-1][1] = i + 1
    for number in drop:
        start, end = runs[number]
        mask[start:end] = [0] * (end - start)
    return [i if m else -100 for i, m in zip(ids, mask, strict=True)]


# --- content parts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Qwen3.5-4B.jinja", "openai"),  # for item in content (a macro's argument)
        ("google-gemma-4-31B-it.jinja", "openai"),  # for item in message['content']
        ("Mistral-Small-3.2-24B-Instruct-2506.jinja", "openai"),
        ("Qwen-Qwen3-0.6B.jinja", "string"),  # '</think>' in content: a test, not a loop
        ("meta-llama-Llama-3.1-8B-Instruct.jinja", "string"),
        ("mistralai-Mistral-Nemo-Instruct-2407.jinja", "string"),
        ("deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", "string"),
    ],
)
def test_content_format_is_vllms(published: Path, name: str, expected: str) -> None:
    assert content_format((published / name).read_text(encoding="utf-8")) == expected


def test_parts_are_joined_with_newlines_for_string_templates() -> None:
    messages = [{"role": "user", "content": parts("a", "b")}, {"role": "assistant", "content": None, "tool_calls": []}]
    assert template_content(messages, "string") == [
        {"role": "user", "content": "a\nb"},
        {"role": "assistant", "content": "", "tool_calls": []},
    ]
    assert template_content(messages, "openai") == [messages[0], {**messages[1], "content": []}]
    plain = [{"role": "user", "content": "x"}]
    assert template_content(plain, "string") is plain


CONVERSATIONS = [
    [
        {"role": "user", "content": parts("Look at this review:", "The soup was cold.")},
        {"role": "assistant", "content": parts("Cold", "soup.")},
    ],
    [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": parts("Hi", "there")},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": parts("Four", ".")},
    ],
]


def _as_strings(conversation: list[dict[str, Any]], separator: str) -> list[dict[str, Any]]:
    return [
        {**m, "content": separator.join(p["text"] for p in m["content"])} if isinstance(m["content"], list) else m
        for m in conversation
    ]


@pytest.mark.parametrize(
    ("name", "tokenizer", "separator"),
    [
        ("Qwen3.5-4B.jinja", "qwen", ""),  # parts passed through; the template writes them one after another
        ("google-gemma-4-31B-it.jinja", "gemma4", ""),
        ("Qwen-Qwen3-0.6B.jinja", "qwen", "\n"),  # parts joined with newlines, as vLLM's string format
        ("meta-llama-Llama-3.1-8B-Instruct.jinja", "llama3", "\n"),
    ],
)
def test_content_parts_render_as_apply_chat_template_and_train_like_text(
    published: Path, tmp_path: Path, request: pytest.FixtureRequest, name: str, tokenizer: str, separator: str
) -> None:
    tok = request.getfixturevalue(tokenizer)
    template = template_file(published, tmp_path, name)
    text = template.read_text(encoding="utf-8")
    records = [{"messages": conversation} for conversation in CONVERSATIONS]
    rows, rejected = label_rows(tok, records, strategy="assistant-only", chat_template=str(template))
    as_text, _ = label_rows(
        tok,
        [{"messages": _as_strings(c, separator)} for c in CONVERSATIONS],
        strategy="assistant-only",
        chat_template=str(template),
    )
    assert not rejected
    for (ids, _), conversation in zip(rows, CONVERSATIONS, strict=True):
        given = conversation if separator == "" else _as_strings(conversation, separator)
        assert ids == ids_of(tok, given, text)  # the list itself for openai templates
    assert rows == as_text  # the rendering is the same text, so the same tokens are trained


def test_a_non_text_part_is_rejected_with_its_message(tmp_path: Path, qwen_path: Path) -> None:
    image = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    record = {
        "messages": [
            {"role": "user", "content": [*parts("What is this?"), image]},
            {"role": "assistant", "content": "A cat."},
        ]
    }
    data = write_jsonl(tmp_path / "chat.jsonl", [OPENAI[1], record])
    result = run("build", str(data), "-t", str(qwen_path), "-o", str(tmp_path / "o"), "--on-error", "skip")
    assert result.exit_code == 0, result.output
    (reject,) = [json.loads(line) for line in (tmp_path / "o" / "rejects.jsonl").read_text().splitlines()]
    assert (reject["line"], reject["reason"]) == (2, "non-text-content")
    assert reject["message"].startswith("message 1 (user): content part 2 is 'image_url', not text")
    table, rejects = sftmask.label([record], str(qwen_path), with_rejects=True, on_error="skip")
    assert table.num_rows == 0 and rejects.column("reason").to_pylist() == ["non-text-content"]


# --- null content beside tool calls ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("family", "tokenizer"),
    [("qwen3", "qwen"), ("llama-3.1", "llama3"), ("mistral-nemo", "tekken"), ("deepseek-r1", "deepseek")],
)
def test_tool_calls_with_null_content_render_and_train_the_call(
    published: Path, tmp_path: Path, request: pytest.FixtureRequest, family: str, tokenizer: str
) -> None:
    tok = request.getfixturevalue(tokenizer)
    template, marked = published_file(published, tmp_path, family)
    record = OPENAI[2]
    rows, rejected = label_rows(tok, [record], strategy="assistant-only", chat_template=str(template))
    assert not rejected, rejected
    # as vLLM passes it: null content "" (a string template), arguments as an object
    messages = json.loads(json.dumps(record["messages"]))
    messages[1]["content"] = ""
    call = messages[1]["tool_calls"][0]["function"]
    call["arguments"] = json.loads(call["arguments"])
    ((ids, labels),) = rows
    assert ids == ids_of(tok, messages, template.read_text(encoding="utf-8"), record["tools"])
    assert labels == marked_labels(tok, messages, marked, record["tools"])
    trained = tok.hf.decode([i for i, lab in zip(ids, labels, strict=True) if lab != -100])
    assert "get_current_weather" in trained and "San Francisco, USA" in trained  # the call is the model's output
    assert 'foggy"}' not in trained  # the tool's result is not


def test_qwen3_no_longer_fails_on_null_content(published: Path, tmp_path: Path, qwen: LoadedTokenizer) -> None:
    template, _ = published_file(published, tmp_path, "qwen3")
    call = {"id": "call00001", "type": "function", "function": {"name": "f", "arguments": {"x": 1}}}
    messages = [
        {"role": "user", "content": "Call f."},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call00001", "content": "done"},
        {"role": "assistant", "content": "Done."},
    ]
    rows, rejected = label_rows(qwen, [{"messages": messages}], strategy="assistant-only", chat_template=str(template))
    assert not rejected
    text = template.read_text(encoding="utf-8")
    with pytest.raises(Exception, match="has no attribute 'content'"):  # the template itself needs a string
        ids_of(qwen, messages, text)
    assert rows[0][0] == ids_of(qwen, [messages[0], {**messages[1], "content": ""}, *messages[2:]], text)


# --- weight ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("family", "tokenizer"), [("qwen3", "qwen"), ("llama-3.1", "llama3")])
def test_weight_zero_leaves_an_assistant_message_out(
    published: Path, tmp_path: Path, request: pytest.FixtureRequest, family: str, tokenizer: str
) -> None:
    tok = request.getfixturevalue(tokenizer)
    template, marked = published_file(published, tmp_path, family)
    record = OPENAI[0]
    (row,), rejected = label_rows(tok, [record], strategy="assistant-only", chat_template=str(template))
    assert not rejected
    messages = [{k: v for k, v in m.items() if k != "weight"} for m in record["messages"]]
    assert row[0] == ids_of(tok, messages, template.read_text(encoding="utf-8"))
    assert row[1] == marked_labels(tok, messages, marked, drop=(0,))
    trained = tok.hf.decode([i for i, lab in zip(*row, strict=True) if lab != -100])
    assert "Paris, as if" in trained and not trained.startswith("Paris<")
    # weight 1 everywhere trains both; last-turn trains the final one either way
    both = {"messages": [{**m, "weight": 1} if m["role"] == "assistant" else m for m in messages]}
    (row,), _ = label_rows(tok, [both], strategy="assistant-only", chat_template=str(template))
    assert row[1] == marked_labels(tok, messages, marked)


def test_bad_weights_are_rejected_and_masked_messages_counted(tmp_path: Path, qwen_path: Path) -> None:
    bad = [json.loads(json.dumps(OPENAI[0])) for _ in range(3)]
    bad[0]["messages"][2]["weight"] = 0.5
    bad[1]["messages"][2]["weight"] = True
    bad[2]["messages"][4]["weight"] = 0  # every assistant message left out: nothing to train
    data = write_jsonl(tmp_path / "chat.jsonl", [*OPENAI, *bad])
    out = tmp_path / "o"
    result = run("build", str(data), "-t", str(qwen_path), "-o", str(out), "--on-error", "skip")
    assert result.exit_code == 0, result.output
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    assert [(r["line"], r["reason"]) for r in rejects] == [
        (4, "bad-weight"),
        (5, "bad-weight"),
        (6, "no-trainable-tokens"),
    ]
    assert rejects[0]["message"] == (
        "message 3 (assistant): weight is 0.5; OpenAI's weight is 0 (not trained) or 1 (trained)"
    )
    assert rejects[2]["message"].startswith("every message is masked (weight 0")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["chat"]["masked_messages"] == 1 + 2  # the first record's, and the last one's two
    assert len(rows_of(out)) == 3


@pytest.mark.parametrize("how", ["datasets json to_parquet", "pyarrow from_pylist"])
def test_openai_records_in_parquet_build_the_rows_of_their_jsonl(tmp_path: Path, qwen_path: Path, how: str) -> None:
    """OpenAI records as `datasets` (5.2) writes them to Parquet after reading the JSON lines, and
    as pyarrow writes them from Python: every record was rejected.

    - `datasets` stores messages whose content is text in some and parts in others with its `Json`
      feature, Arrow's JSON extension type (each message JSON text): it was read as strings
      ("message 1 is str, not an object") and the file not told as chat data;
    - a table holds a null `weight` in every message without one (a field of the column's struct):
      null was a bad weight, where it is a weight not given."""
    source = tmp_path / "openai.parquet"
    if how.startswith("datasets"):
        from datasets import load_dataset

        twin = DIALECTS / "openai_chat.jsonl"
        load_dataset("json", data_files=str(twin), split="train").to_parquet(str(source))
        assert "arrow.json" in str(pq.read_schema(source).field("messages").type)
    else:  # the records whose contents are all text (pyarrow cannot mix text and lists in a column)
        records = [{**r, "tools": json.dumps(r["tools"]) if "tools" in r else None} for r in (OPENAI[0], OPENAI[2])]
        pq.write_table(pa.Table.from_pylist(records), source)
        assert "weight: int64" in str(pq.read_schema(source).field("messages").type)
        twin = write_jsonl(tmp_path / "twin.jsonl", records)
    built = {}
    for name, path in (("parquet", source), ("jsonl", twin)):
        result = run("build", str(path), "-t", str(qwen_path), "-o", str(tmp_path / name))
        assert result.exit_code == 0, result.output
        built[name] = rows_of(tmp_path / name)
    assert built["jsonl"] and built["parquet"] == built["jsonl"]
