"""Chat template options: reasoning train/mask/drop, template kwargs, the pinned date, last-turn on
conversations whose earlier turns cannot be analysed, shipped templates picked automatically,
the hint for tokenizers without a template, and `sftmask template check`."""

from __future__ import annotations

import datetime
import json
import logging
import re
from pathlib import Path

import pytest

from sftmask.chat.choice import choose_template, marker_problems
from sftmask.chat.render import ChatRenderer
from sftmask.chat.templates import SHIPPED, read_shipped
from sftmask.config.build import make_config
from sftmask.config.common import parse_template_kwargs
from sftmask.errors import ConfigError, TokenizerError
from sftmask.tokenization.load import LoadedTokenizer
from tests.chat.test_render import CHATML, labelled
from tests.cli.test_build import run, write_jsonl
from tests.helpers import load_renderer, marked_tokens, transformers_tokenizer

THINKING = [
    {"role": "user", "content": "2+2?"},
    {"role": "assistant", "content": "<think>\nadd\n</think>\n\n4"},
    {"role": "user", "content": "3+3?"},
    {"role": "assistant", "content": "<think>\nadd again\n</think>\n\n6"},
]


def _trained(tok: LoadedTokenizer, ids: list[int], labels: list[int]) -> list[str]:
    return [t[1:-1] for t in marked_tokens(tok, ids, labels) if t.startswith("[")]


# --- reasoning ----------------------------------------------------------------------------


def test_qwen3_reasoning_train_mask_drop(qwen: LoadedTokenizer) -> None:
    """Qwen3 strips reasoning from turns before the last user message and writes it in the final
    turn: train trains it there, mask keeps it untrained, drop removes it from input_ids."""
    qwen3 = Path("qwen3")
    ((ids, labels),) = labelled(qwen, [THINKING], chat_template=qwen3)[0]
    text = qwen.hf.decode(ids)
    assert "add again" in text and "<think>\nadd\n" not in text  # as published: first turn's reasoning stripped
    assert _trained(qwen, ids, labels) == [
        "4", "<|im_end|>",
        "<think>", "Ċ", "add", "Ġagain", "Ċ", "</think>", "ĊĊ", "6", "<|im_end|>",
    ]  # fmt: skip
    ((ids_m, labels_m),) = labelled(qwen, [THINKING], chat_template=qwen3, reasoning="mask")[0]
    assert ids_m == ids
    assert _trained(qwen, ids_m, labels_m) == ["4", "<|im_end|>", "6", "<|im_end|>"]
    ((ids_d, labels_d),) = labelled(qwen, [THINKING], chat_template=qwen3, reasoning="drop")[0]
    assert "add again" not in qwen.hf.decode(ids_d)
    # Qwen3 writes an empty thinking block in the final turn; drop trains it as the template writes it.
    assert _trained(qwen, ids_d, labels_d) == [
        "4", "<|im_end|>", "<think>", "ĊĊ", "</think>", "ĊĊ", "6", "<|im_end|>",
    ]  # fmt: skip


def test_reasoning_content_field_is_masked_too(qwen: LoadedTokenizer) -> None:
    conv = [
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4", "reasoning_content": "add them"},
    ]
    rows, _ = labelled(qwen, [conv], chat_template=Path("qwen3"), reasoning="mask")
    ((ids, labels),) = rows
    assert "add them" in qwen.hf.decode(ids)
    assert _trained(qwen, ids, labels) == ["4", "<|im_end|>"]


def test_unknown_reasoning_mode_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="reasoning"):
        make_config({"inputs": ["x"], "tokenizer": "t", "output": "o", "reasoning": "keep"})


# --- template kwargs and the date ---------------------------------------------------------


def test_template_kwargs_parse_as_json_values() -> None:
    assert parse_template_kwargs("enable_thinking=false,n=3,date_string=26 Jul 2024") == {
        "enable_thinking": False,
        "n": 3,
        "date_string": "26 Jul 2024",
    }
    with pytest.raises(ValueError, match="NAME=VALUE"):
        parse_template_kwargs("enable_thinking")
    config = make_config(
        {"inputs": ["x"], "tokenizer": "t", "output": "o", "template_kwargs": {"enable_thinking": False}}
    )
    assert config.template_kwargs == {"enable_thinking": False}


def test_template_kwargs_reach_the_template_as_apply_chat_template_passes_them(
    qwen: LoadedTokenizer, published: Path, tmp_path: Path
) -> None:
    template = tmp_path / "llama32.jinja"
    template.write_text((published / "meta-llama-Llama-3.2-3B-Instruct.jinja").read_text())
    conv = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    ((ids, labels),) = labelled(qwen, [conv], chat_template=template, template_kwargs={"date_string": "1 Jan 2000"})[0]
    expected = qwen.hf.apply_chat_template(
        conv, chat_template=template.read_text(), tokenize=True, return_dict=True, date_string="1 Jan 2000"
    )
    assert ids == list(expected["input_ids"])
    assert "Today Date: 1 Jan 2000" in qwen.hf.decode(ids)
    assert qwen.hf.decode([i for i in labels if i != -100]) == "hello<|eot_id|>"


def test_strftime_now_is_pinned_and_recorded(tmp_path: Path, qwen_path: Path, published: Path) -> None:
    template = tmp_path / "llama32.jinja"
    template.write_text((published / "meta-llama-Llama-3.2-3B-Instruct.jinja").read_text())
    data = write_jsonl(
        tmp_path / "chat.jsonl",
        [{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}],
    )
    outputs = []
    for name in ("a", "b"):
        out = tmp_path / name
        result = run(
            "build", str(data), "-t", str(qwen_path), "-o", str(out), "--strategy", "assistant-only",
            "--chat-template", str(template), "--template-date", "2025-03-04",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        outputs.append(out)
    manifest = json.loads((outputs[0] / "manifest.json").read_text())
    assert manifest["chat_template"]["date"] == "2025-03-04"
    shard_a, shard_b = (sorted(o.glob("*.parquet"))[0].read_bytes() for o in outputs)
    assert shard_a == shard_b
    import pyarrow.parquet as pq

    ids = pq.read_table(sorted(outputs[0].glob("*.parquet"))[0]).column("input_ids")[0].as_py()
    assert "Today Date: 04 Mar 2025" in transformers_tokenizer(qwen_path).decode(ids)


def test_every_published_strftime_call_can_be_pinned(qwen: LoadedTokenizer, published: Path) -> None:
    users = [{"role": "user", "content": "hi"}]
    pinned = 0
    for path in sorted(published.glob("*.jinja")):
        if "strftime_now" not in path.read_text():
            continue
        renderer = ChatRenderer(qwen.hf, path.read_text(), template_date=datetime.date(2025, 3, 4))
        try:
            text = renderer.render(users, generation_prompt=True)
        except Exception:  # a template that needs more (a system message, tools) than this probe
            continue
        assert "2025" in text, path.name
        pinned += 1
    assert pinned >= 4


# --- last-turn depends on the final turn only ---------------------------------------------


def test_last_turn_ignores_earlier_turns_that_cannot_be_analysed(qwen: LoadedTokenizer, tmp_path: Path) -> None:
    """Earlier assistant turns written upper-cased (not as the data has them) and rendered
    differently in a prefix: assistant-only rejects, last-turn trains the final turn."""
    template = tmp_path / "odd.jinja"
    template.write_text(
        "{% for m in messages %}{% if m.role == 'assistant' and not loop.last %}"
        "{{ '<|im_start|>assistant\\n' + m.content | upper + '<|im_end|>\\n' }}"
        "{% else %}{{ '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
    )
    conv = [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "first"},
        {"role": "user", "content": "b"},
        {"role": "assistant", "content": "second"},
    ]
    rows, _ = labelled(qwen, [conv], chat_template=template)
    assert rows == []  # rejected: the first turn is neither where the data says nor a prefix
    ((ids, labels),) = labelled(qwen, [conv], chat_template=template, strategy="last-turn")[0]
    assert "FIRST" in qwen.hf.decode(ids)
    assert _trained(qwen, ids, labels) == ["second", "<|im_end|>"]


# --- shipped templates, picked automatically ----------------------------------------------


def test_shipped_templates_load_by_name(qwen: LoadedTokenizer) -> None:
    for name in SHIPPED:
        assert read_shipped(name)
        assert load_renderer(qwen.hf, name).has_markers


def test_a_known_template_is_replaced_by_its_marked_twin(qwen: LoadedTokenizer, published: Path) -> None:
    tok = qwen.hf
    original = tok.chat_template
    try:
        tok.chat_template = (published / "Qwen-Qwen3-0.6B.jinja").read_text()
        choice = choose_template(tok, None)
        assert choice.marked_as == "qwen3"
        assert choice.describe() == {
            "source": "tokenizer",
            "rendered_as": "shipped qwen3",
            "assistant_spans": "generation markers",
        }
        assert choose_template(tok, None, template_kwargs={"enable_thinking": False}).marked_as is None
        tok.chat_template = (published / "Qwen-Qwen2.5-7B-Instruct.jinja").read_text()
        assert choose_template(tok, None).marked_as is None  # renders its own default system prompt
    finally:
        tok.chat_template = original


def test_manifest_says_which_template_was_used(tmp_path: Path, qwen_path: Path) -> None:
    conv = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    data = write_jsonl(tmp_path / "chat.jsonl", [{"messages": conv}])
    out = tmp_path / "out"
    result = run("build", str(data), "-t", str(qwen_path), "-o", str(out), "--strategy", "assistant-only")
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["chat_template"] == {
        "source": "tokenizer",
        "rendered_as": "shipped chatml",
        "assistant_spans": "generation markers",
        "reasoning": "train",
    }
    out2 = tmp_path / "out2"
    result = run(
        "build", str(data), "-t", str(qwen_path), "-o", str(out2), "--strategy", "assistant-only",
        "--chat-template", str(CHATML), "--reasoning", "mask", "--template-kwargs", "enable_thinking=false",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    manifest = json.loads((out2 / "manifest.json").read_text())
    assert manifest["chat_template"] == {
        "source": f"file {CHATML}",
        "assistant_spans": "located",
        "reasoning": "mask",
        "template_kwargs": {"enable_thinking": False},
    }


# --- tokenizers without a template (issue 11, 4b) -----------------------------------------


def test_hint_suggests_a_template_with_the_tokenizers_special_tokens(mistral: LoadedTokenizer) -> None:
    with pytest.raises(TokenizerError, match="--chat-template mistral-inst: its markers are this tokenizer's"):
        load_renderer(mistral.hf, None)


def test_hint_without_a_fitting_template(wordpiece: LoadedTokenizer) -> None:
    with pytest.raises(TokenizerError, match="no shipped template's markers are special tokens"):
        load_renderer(wordpiece.hf, None)


def test_template_markers_that_are_not_special_tokens_are_warned_about(
    mistral: LoadedTokenizer, caplog: pytest.LogCaptureFixture
) -> None:
    assert marker_problems(mistral.hf, read_shipped("chatml")) == ["<|im_end|>", "<|im_start|>"]
    assert marker_problems(mistral.hf, read_shipped("mistral-inst")) == []
    with caplog.at_level(logging.WARNING):
        choose_template(mistral.hf, "chatml")
    assert "<|im_end|>, <|im_start|>, which are not a special token" in caplog.text
    assert "mistral-inst" in caplog.text


# --- sftmask template check ---------------------------------------------------------------


def test_template_check_agrees_on_shipped_templates(qwen_path: Path) -> None:
    result = run("template", "check", "qwen3", "-t", str(qwen_path), "--count", "30")
    assert result.exit_code == 0, result.output
    assert "agree on 30 of 30" in result.output


def test_template_check_finds_wrong_markers(qwen_path: Path, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.jinja"  # markers leave out <|im_end|>, which the model must learn to write
    wrong.write_text(
        read_shipped("chatml").replace(
            "{{- message['content'] + '<|im_end|>' }}{% endgeneration %}",
            "{{- message['content'] }}{% endgeneration %}{{- '<|im_end|>' }}",
        )
    )
    assert wrong.read_text() != read_shipped("chatml")
    result = run("template", "check", str(wrong), "-t", str(qwen_path), "--count", "10")
    assert result.exit_code == 6, result.output
    assert "differs" in result.output and "<|im_end|>[-]" in result.output


def test_template_check_compares_an_unmarked_template_with_its_shipped_twin(qwen_path: Path, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "chat.jsonl", [{"messages": THINKING}, {"messages": THINKING[:2]}])
    result = run("template", "check", str(CHATML), "-t", str(qwen_path), str(data))
    assert result.exit_code == 0, result.output
    assert "2 conversations of" in result.output and "shipped marked template 'chatml'" in result.output


def test_chat_template_options_in_a_config_file(tmp_path: Path) -> None:
    config_file = tmp_path / "build.yaml"
    config_file.write_text(
        "inputs: [chat.jsonl]\ntokenizer: t\noutput: o\nstrategy: assistant-only\nchat-template: qwen3\n"
        "reasoning: mask\ntemplate-kwargs: {enable_thinking: false}\ntemplate-date: 2025-03-04\n"
    )
    config = make_config({}, config_file)
    assert (config.chat_template, config.reasoning) == ("qwen3", "mask")
    assert config.template_kwargs == {"enable_thinking": False}
    assert config.template_date == datetime.date(2025, 3, 4)
    toml_file = tmp_path / "build.toml"
    toml_file.write_text('inputs = ["x"]\ntokenizer = "t"\noutput = "o"\ntemplate-kwargs = "enable_thinking=false"\n')
    assert make_config({}, toml_file).template_kwargs == {"enable_thinking": False}
    with pytest.raises(ConfigError, match=r"chat template file not found: nope\.jinja"):
        make_config({"inputs": ["x"], "tokenizer": "t", "output": "o", "chat_template": "nope.jinja"})


def test_a_template_that_refuses_the_probe_falls_back_to_prefix_analysis(qwen: LoadedTokenizer, tmp_path: Path) -> None:
    template = tmp_path / "needs-system.jinja"
    template.write_text(
        "{% if messages[0].role != 'system' %}{{ raise_exception('a system message comes first') }}{% endif %}"
        + CHATML.read_text()
    )
    conv = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
    ]
    renderer = load_renderer(qwen.hf, str(template))
    assert renderer.shape is None
    ((ids, labels),) = labelled(qwen, [conv], chat_template=template)[0]
    assert _trained(qwen, ids, labels) == ["Hello", "!", "<|im_end|>"]


def test_enable_thinking_false_leaves_the_empty_thinking_block_to_the_prompt(
    qwen: LoadedTokenizer, published: Path, tmp_path: Path
) -> None:
    template = tmp_path / "qwen3.jinja"
    template.write_text((published / "Qwen-Qwen3-0.6B.jinja").read_text())
    conv = [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]
    default = labelled(qwen, [conv], chat_template=template)[0][0]
    off = labelled(qwen, [conv], chat_template=template, template_kwargs={"enable_thinking": False})[0][0]
    assert default[0] == off[0]  # enable_thinking changes only the generation prompt, not the text
    assert _trained(qwen, *default) == ["<think>", "ĊĊ", "</think>", "ĊĊ", "4", "<|im_end|>"]
    assert _trained(qwen, *off) == ["4", "<|im_end|>"]


# --- chat templates that loop forever or allocate gigabytes (issue 12) ----------------------

HOSTILE = (
    "{%- for m in messages %}"
    "{%- if 'loop' in m.content %}{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    "{%- elif 'grow' in m.content %}{% set ns = namespace(kept=[]) %}"
    "{%- for i in range(100) %}{% set ns.kept = ns.kept + ['x' * (100000000 + i)] %}{% endfor %}"
    "{%- elif 'wide' in m.content %}{{ 'x' * (5000000 + loop.index) }}"
    "{%- endif %}"
    "{{- '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}"
    "{%- endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


@pytest.mark.slow
def test_a_template_that_loops_or_allocates_is_stopped_per_record(
    tmp_path: Path, qwen_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sftmask import limits

    address_space = limits.resource.getrlimit(limits.resource.RLIMIT_AS) if limits.resource else None
    monkeypatch.setattr(limits, "RENDER_SECONDS", 3.0)  # 10 s by default
    monkeypatch.setattr(limits, "RENDER_MEMORY_BYTES", 200 << 20)  # 2 GiB by default
    template = tmp_path / "hostile.jinja"
    template.write_text(HOSTILE)
    records = [
        {"messages": [{"role": "user", "content": text}, {"role": "assistant", "content": "ok"}]}
        for text in ("hi", "loop please", "grow please", "wide please", "bye")
    ]
    data = write_jsonl(tmp_path / "chat.jsonl", records)
    out = tmp_path / "out"
    result = run(
        "build", str(data), "-t", str(qwen_path), "-o", str(out), "--strategy", "assistant-only",
        "--chat-template", str(template), "--on-error", "skip", "--max-chars", "10000",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    assert [(r["line"], r["reason"]) for r in rejects] == [
        (2, "chat-template"),
        (3, "chat-template"),
        (4, "chat-template"),
    ]
    loop, grow, wide = (r["message"] for r in rejects)
    assert "took more than 3 s (a loop that does not end?)" in loop
    assert "took more than 200 MiB of memory" in grow
    assert re.search(r"wrote 5,000,\d{3} characters", wide) and "more than 40,000 (4 x --max-chars)" in wide
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["rows_written"] == 2
    # The renders ran in this process: once none runs, the address-space cap is off again, even
    # after one that filled it (it stayed on, and Ray then aborted starting in the same process).
    limits.settle()
    if address_space is not None:
        assert limits.resource.getrlimit(limits.resource.RLIMIT_AS) == address_space and limits._capped is None
    # --on-error fail: the first such record stops the build with its line.
    result = run(
        "build", str(data), "-t", str(qwen_path), "-o", str(tmp_path / "out2"), "--strategy", "assistant-only",
        "--chat-template", str(template),
    )  # fmt: skip
    assert result.exit_code == 3
    assert "chat.jsonl:2:" in result.stderr and "a loop that does not end?" in result.stderr
    # A constant expression is not computed when the template compiles (Jinja would fold it): it
    # is sized when it would run, and refused then, before it runs.
    constant = tmp_path / "constant.jinja"
    constant.write_text("{{ 'x' * 600000000 }}" + HOSTILE)
    result = run(
        "build", str(data), "-t", str(qwen_path), "-o", str(tmp_path / "out3"), "--strategy", "assistant-only",
        "--chat-template", str(constant),
    )  # fmt: skip
    assert result.exit_code == 3
    assert "chat.jsonl:1:" in result.stderr
    assert "str * 600000000 would make 600,000,000 characters, more than one operation" in result.stderr
    # ... also when the constant appears only once the date is pinned (strftime_now("...") -> "20260102").
    pinned = tmp_path / "pinned.jinja"
    pinned.write_text("{{ strftime_now('%Y%m%d') * 100000000 }}" + HOSTILE)
    result = run(
        "build", str(data), "-t", str(qwen_path), "-o", str(tmp_path / "out4"), "--strategy", "assistant-only",
        "--chat-template", str(pinned), "--template-date", "2026-01-02",
    )  # fmt: skip
    assert result.exit_code == 3
    assert "str * 100000000 would make 800,000,000 characters" in result.stderr


def test_prompt_response_data_rendered_by_the_chat_template_records_it_too(tmp_path: Path, qwen_path: Path) -> None:
    data = write_jsonl(tmp_path / "pairs.jsonl", [{"prompt": "2+2?", "response": "4"}])
    out = tmp_path / "out"
    result = run("build", str(data), "-t", str(qwen_path), "-o", str(out), "--template", "chat", "--reasoning", "mask")
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["chat_template"] == {
        "source": "tokenizer",
        "rendered_as": "shipped chatml",
        "assistant_spans": "generation markers",
        "reasoning": "mask",
    }
