"""sftmask renders chat templates as transformers does (`sftmask.chat.sandbox`, used by `ChatRenderer`).

Every published template llama.cpp vendors (tests/published_templates.py), the marked versions of
the tested families and the shipped templates render the same conversations (tools, reasoning in
content and in reasoning fields, tool calls, template variables) to the same text, the same
``{% generation %}`` spans and the same errors through `ChatRenderer` as through transformers'
``render_jinja_template``, the function behind ``apply_chat_template``.
"""

from __future__ import annotations

import datetime
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from transformers.utils.chat_template_utils import render_jinja_template

from sftmask.chat import samples as chat_samples
from sftmask.chat import sandbox as chat_jinja
from sftmask.chat.render import ChatRenderer
from sftmask.chat.templates import SHIPPED, read_shipped
from sftmask.errors import ConfigError, RecordRejected
from tests import published_templates

SPECIAL = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}
KWARGS = {"enable_thinking": False, "custom": [1, "two", {"three": 3.0}], "day": datetime.date(2026, 1, 2)}
HF = SimpleNamespace(special_tokens_map=SPECIAL, all_special_tokens=list(SPECIAL.values()), added_tokens_encoder={})


def _conversations() -> list[tuple[list[dict[str, Any]], Any]]:
    samples = chat_samples.conversations(16, seed=5)
    samples += chat_samples.conversations(8, seed=6, tools=False, system=False)
    samples.append(
        (
            [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello", "thinking": "greet back"},  # aliased to reasoning_content
                {"role": "user", "content": "Bye"},
                {"role": "assistant", "content": "Bye", "reasoning": "part"},
            ],
            None,
        )
    )
    samples.append(([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": ""}], []))
    return samples


def _theirs(template: str, messages: Any, tools: Any, kwargs: dict[str, Any], generation_prompt: bool) -> Any:
    try:
        texts, spans = render_jinja_template(
            conversations=[messages],
            tools=tools,
            chat_template=template,
            return_assistant_tokens_mask=True,
            add_generation_prompt=generation_prompt,
            **SPECIAL,
            **kwargs,
        )
    except Exception as exc:
        return type(exc).__name__, " ".join(str(exc).split())[:200]
    return texts[0], [tuple(s) for s in spans[0]]


def _ours(renderer: ChatRenderer, messages: Any, tools: Any, generation_prompt: bool) -> Any:
    try:
        text, spans = renderer._jinja(messages, tools, generation_prompt=generation_prompt, spans_wanted=True)
    except Exception as exc:
        return type(exc).__name__, " ".join(str(exc).split())[:200]
    return text, spans


def _templates(published: Path) -> dict[str, str]:
    found = {path.name: path.read_text(encoding="utf-8") for path in sorted(published.glob("*.jinja"))}
    for family, (file, _) in published_templates.MARKINGS.items():
        found[f"{family} (marked)"] = published_templates.marked(found[file], family)
    found |= {f"shipped {name}": read_shipped(name) for name in SHIPPED}
    return found


@pytest.mark.parametrize("kwargs", [{}, KWARGS], ids=["plain", "template-kwargs"])
def test_every_published_template_renders_as_transformers_renders_it(published: Path, kwargs: dict[str, Any]) -> None:
    templates = _templates(published)
    assert len(templates) > 40, "the sdist's templates folder went missing"
    conversations = _conversations()
    compared = errors = spans = 0
    for name, template in templates.items():
        try:
            renderer = ChatRenderer(HF, template, template_kwargs=kwargs, template_date=datetime.date.today())
        except ConfigError:
            pytest.fail(f"{name}: does not compile here")
        for messages, tools in conversations:
            for generation_prompt in (False, True):
                ours = _ours(renderer, messages, tools, generation_prompt)
                theirs = _theirs(template, messages, tools, kwargs, generation_prompt)
                assert ours == theirs, f"{name}: {messages}"
                compared += 1
                errors += isinstance(ours[1], str)
                spans += bool(not isinstance(ours[1], str) and ours[1])
    # The comparison covers renderings, refusals (raise_exception) and generation spans alike.
    assert compared > 2000 and 0 < errors < compared / 2 and spans > 100, (compared, errors, spans)


def test_generation_spans_stay_linear_in_the_rendered_length() -> None:
    """Each span is measured from a running total (transformers joins all text so far at each block)."""
    renderer = ChatRenderer(HF, read_shipped("chatml"))
    messages = [{"role": r, "content": f"m{i}"} for i in range(4000) for r in ("user", "assistant")]
    text, spans = renderer._jinja(messages, None, spans_wanted=True)
    assert len(spans) == 4000
    assert all(text[s:e].startswith("m") and text[s:e].endswith("<|im_end|>") for s, e in spans)
    assert text[spans[-1][0] : spans[-1][1]] == "m3999<|im_end|>"


def test_template_variables_cannot_replace_what_the_build_passes() -> None:
    with pytest.raises(ConfigError, match="cannot set messages"):
        ChatRenderer(HF, read_shipped("chatml"), template_kwargs={"messages": []})


def test_a_tool_that_is_not_a_schema_is_a_chat_template_reject() -> None:
    renderer = ChatRenderer(HF, read_shipped("qwen3"))
    with pytest.raises(RecordRejected, match="Tools should either be a JSON schema"):
        renderer.analyse([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}], ["not a tool"])


def _outcome(render: Any) -> Any:
    try:
        return render()
    except Exception as exc:
        return type(exc).__name__


def test_the_sandbox_refuses_what_transformers_refuses() -> None:
    sources = {
        "{{ ''.__class__ }}": "",  # unsafe attributes are undefined
        "{% set ns = namespace(_x=1) %}{{ ns._x }}": "SecurityError",
        "{{ messages.append(1) }}": "SecurityError",  # immutable: templates cannot change the data
        "{{ {'a': 1} | tojson }}{{ dict(b=2) | tojson }}": '{"a": 1}{"b": 2}',
    }
    for source, expected in sources.items():
        ours = _outcome(lambda s=source: chat_jinja.render(chat_jinja.compile_template(s), {"messages": []})[0])
        theirs = _outcome(lambda s=source: render_jinja_template(conversations=[[]], chat_template=s)[0][0])
        assert ours == theirs == expected, source


def test_chat_builds_do_not_import_transformers(tmp_path: Path, sample_tokenizer_path: Path) -> None:
    """Rendering needs only jinja2: a chat build from a directly loaded tokenizer folder imports no transformers."""
    import subprocess

    data = tmp_path / "chat.jsonl"
    data.write_text('{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]}\n')
    code = (
        "import sys\nfrom sftmask import build\n"
        f"build(inputs=[{str(data)!r}], tokenizer={str(sample_tokenizer_path)!r}, output={str(tmp_path / 'out')!r}, "
        "strategy='assistant-only', chat_template='chatml')\n"
        "assert 'transformers' not in sys.modules, 'transformers was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_tojson_writes_a_kept_object_as_json_dumps_does() -> None:
    """`tojson` keeps the JSON of the lists and dicts it wrote, by the object itself: the same
    object gives the same text, an equal-looking other object its own, each option its own."""
    import json

    tools = [{"type": "function", "function": {"name": "f", "description": "é <b>", "parameters": {}}}]
    for options in ({}, {"indent": 2}, {"ensure_ascii": True}, {"separators": (",", ":")}, {"sort_keys": True}):
        expected = json.dumps(tools, **{"ensure_ascii": False, **options})  # transformers' default
        assert chat_jinja._tojson(tools, **options) == expected
        assert chat_jinja._tojson(tools, **options) == expected  # kept
    other = [{"type": "function", "function": {"name": "g"}}]
    assert chat_jinja._tojson(other) == json.dumps(other, ensure_ascii=False)
    for _ in range(chat_jinja._TOJSON_KEPT + 1):  # more than it keeps: it starts afresh
        chat_jinja._tojson([{}])
    assert len(chat_jinja._tojson_kept) <= chat_jinja._TOJSON_KEPT
    assert chat_jinja._tojson(tools) == json.dumps(tools, ensure_ascii=False)


ATTRIBUTE_LOOKUPS = [
    "{{ messages[0].role }}|{{ messages[0]['role'] }}|{{ messages[0].missing is defined }}",
    "{{ messages[0].items() | list | length }}|{{ messages[0].get('role') }}|{{ messages[0].keys | string | length > 0 }}",
    "{{ messages[0].__class__ }}|{{ messages[0].__len__ }}|{{ messages[0]._private }}",  # unsafe: undefined
    "{{ messages[0].clear() }}",  # a method that changes the dict: refused
    "{{ messages[0].update({'a': 1}) }}",
    "{{ messages[1].copy is defined }}|{{ messages[1].copy is callable }}|{{ messages[1]['copy'] }}",  # the method first
    "{{ messages.pop() }}",
    "{{ messages[0].content.upper() }}|{{ messages[0].content.__class__ }}|{{ 'a b'.split() | length }}",
    "{% set ns = namespace(n=1) %}{{ ns.n }}|{{ ns.items is defined }}",
    "{% for m in messages %}{{ loop.index }}{{ loop.cycle('a', 'b') }}{{ loop.__class__ }}{% endfor %}",
    "{{ range(3).__class__ }}|{{ raise_exception.__code__ }}|{{ raise_exception.__globals__ }}",
]
STR_CALLS = [
    # str methods are called straight away (`_TemplateEnvironment.call`): in a loop and a block
    # (Jinja passes _loop_vars/_block_vars), with keywords, refused arguments, format methods.
    "{% for m in messages %}{{ m.content.startswith('H') }}{{ m.content.split(maxsplit=1) }}"
    "{{ m.content.rstrip('i').lstrip() }}{{ m.content.replace('H', 'J', 1) }}{% endfor %}",
    "{% for m in messages %}{% set n = m.content.count('i') %}{{ n }}{{ m.content.find('x', 0) }}{% endfor %}",
    "{{ 'a,b'.split(',') | join('+') }}|{{ 'x'.center(5, '-') }}|{{ 'ab'.partition('a') }}",
    "{% for m in messages %}{{ '{}-{}'.format(m.role, loop.index) }}{{ '{role}'.format_map(m) }}{% endfor %}",
    "{{ 'abc'.split(1) }}",  # the method's own TypeError
    "{{ 'x'.center(3000000000) }}",  # refused before it runs
    "{{ 'abc'.startswith(x=1) }}",
    "{{ messages[0].content.upper }}|{{ (messages[0].content.upper)() }}",
]


@pytest.mark.parametrize("source", ATTRIBUTE_LOOKUPS)
def test_attribute_lookups_render_as_in_transformers(source: str) -> None:
    """The sandbox's own attribute lookup (a plain dict's items straight away, the safety verdict
    kept per type and name) gives what transformers' gives, lookups refused included."""
    messages = [{"role": "user", "content": "Hi", "_private": 1}, {"role": "assistant", "content": "x", "copy": "item"}]
    for _ in range(2):  # the second time from the kept verdicts
        ours = _outcome(lambda: chat_jinja.render(chat_jinja.compile_template(source), {"messages": messages})[0])
        theirs = _outcome(lambda: render_jinja_template(conversations=[messages], chat_template=source)[0][0])
        assert ours == theirs, source


@pytest.mark.parametrize("source", STR_CALLS)
def test_str_method_calls_render_as_in_transformers(source: str) -> None:
    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "x i"}]
    ours = _outcome(lambda: chat_jinja.render(chat_jinja.compile_template(source), {"messages": messages})[0])
    if "3000000000" in source:
        assert ours == "RenderSizeExceeded"  # transformers would try to build it
        return
    theirs = _outcome(lambda: render_jinja_template(conversations=[messages], chat_template=source)[0][0])
    assert ours == theirs, source


def test_a_type_registered_with_an_abc_later_is_judged_anew() -> None:
    """The kept verdicts follow ABC registrations: a mapping type registered as mutable after a
    lookup of its ``clear`` has that lookup refused from then on, as Jinja's own check does."""
    import collections.abc

    class Table:
        def clear(self) -> str:
            return "cleared"

    template = chat_jinja.compile_template("{{ table.clear() }}")
    assert chat_jinja.render(template, {"table": Table()})[0] == "cleared"
    collections.abc.MutableMapping.register(Table)
    assert _outcome(lambda: chat_jinja.render(template, {"table": Table()})[0]) == "SecurityError"
