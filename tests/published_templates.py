# ruff: noqa: RUF001  (DeepSeek's special tokens are written with full-width bars)
"""Published chat templates of real models, as llama.cpp vendors them (``models/templates/``) in the
``llama-cpp-python`` sdist on PyPI, and ``{% generation %}``-marked versions made from them here.

The sdist is fetched before the tests run (scripts/fetch_test_data.py, tests/downloads.py). A
marking is a list of (published text, marked text) edits; each published text must occur in the
template, so a changed upstream template fails loudly instead of being compared with a stale marking. The generation blocks
hold what the model writes in its turn: the content as the template renders it in that turn
(with its thinking block when one is written), tool calls, and the end-of-turn token.
"""

from __future__ import annotations

HEADER_QWEN = "'<|im_start|>' + message.role + '\\n'"
MARKINGS: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "qwen3": (
        "Qwen-Qwen3-0.6B.jinja",
        [
            (
                "{{- '<|im_start|>' + message.role + '\\n<think>\\n' + reasoning_content.strip('\\n') + "
                "'\\n</think>\\n\\n' + content.lstrip('\\n') }}",
                "{{- '<|im_start|>' + message.role + '\\n' }}{% generation %}{{- '<think>\\n' + "
                "reasoning_content.strip('\\n') + '\\n</think>\\n\\n' + content.lstrip('\\n') }}{% endgeneration %}",
            ),
            (
                "{{- '<|im_start|>' + message.role + '\\n' + content }}",
                "{{- '<|im_start|>' + message.role + '\\n' }}{% generation %}{{- content }}{% endgeneration %}",
            ),
            (
                "{%- if (loop.first and content) or (not loop.first) %}\n                    {{- '\\n' }}",
                "{%- if (loop.first and content) or (not loop.first) %}\n"
                "                    {% generation %}{{- '\\n' }}{% endgeneration %}",
            ),
            ('{{- \'<tool_call>\\n{"name": "\' }}', '{% generation %}{{- \'<tool_call>\\n{"name": "\' }}'),
            ("{{- '}\\n</tool_call>' }}", "{{- '}\\n</tool_call>' }}{% endgeneration %}"),
            (
                "        {{- '<|im_end|>\\n' }}\n    {%- elif message.role == \"tool\" %}",
                "        {% generation %}{{- '<|im_end|>' }}{% endgeneration %}{{- '\\n' }}\n"
                '    {%- elif message.role == "tool" %}',
            ),
        ],
    ),
    "deepseek-r1": (
        "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja",
        [
            (
                "{{'<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>' + tool['type']",
                "{{'<｜Assistant｜>'}}{% generation %}{{'<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>' + tool['type']",
            ),
            (
                "'```' + '<｜tool▁call▁end｜>'}}\n        {%- set ns.is_first = true -%}",
                "'```' + '<｜tool▁call▁end｜>'}}{% endgeneration %}\n        {%- set ns.is_first = true -%}",
            ),
            (
                "{{'\\n' + '<｜tool▁call▁begin｜>' + tool['type']",
                "{% generation %}{{'\\n' + '<｜tool▁call▁begin｜>' + tool['type']",
            ),
            (
                "'```' + '<｜tool▁call▁end｜>'}}\n      {%- endif -%}",
                "'```' + '<｜tool▁call▁end｜>'}}{% endgeneration %}\n      {%- endif -%}",
            ),
            (
                "{{'<｜tool▁calls▁end｜><｜end▁of▁sentence｜>'}}",
                "{% generation %}{{'<｜tool▁calls▁end｜><｜end▁of▁sentence｜>'}}{% endgeneration %}",
            ),
            (
                "{{'<｜tool▁outputs▁end｜>' + message['content'] + '<｜end▁of▁sentence｜>'}}",
                "{{'<｜tool▁outputs▁end｜>'}}{% generation %}{{message['content'] + '<｜end▁of▁sentence｜>'}}"
                "{% endgeneration %}",
            ),
            (
                # After tool calls, the template writes an empty second turn: not what the model writes.
                "{{'<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>'}}",
                "{%- if message['tool_calls'] and not content -%}{{'<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>'}}"
                "{%- else -%}{{'<｜Assistant｜>'}}{% generation %}{{content + '<｜end▁of▁sentence｜>'}}{% endgeneration %}"
                "{%- endif -%}",
            ),
        ],
    ),
    "phi-3.5": (
        "microsoft-Phi-3.5-mini-instruct.jinja",
        [
            (
                "{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}",
                "{{'<|assistant|>\n'}}{% generation %}{{message['content'] + '<|end|>'}}{% endgeneration %}{{'\n'}}",
            )
        ],
    ),
    "mistral-nemo": (
        "mistralai-Mistral-Nemo-Instruct-2407.jinja",
        [
            ('{{- "[TOOL_CALLS][" }}', '{% generation %}{{- "[TOOL_CALLS][" }}'),
            (
                '{{- "]" + eos_token }}\n            {%- endif %}\n        {%- endfor %}',
                '{{- "]" + eos_token }}\n            {%- endif %}\n        {%- endfor %}{% endgeneration %}',
            ),
            (
                '{{- message["content"] + eos_token}}',
                '{% generation %}{{- message["content"] + eos_token}}{% endgeneration %}',
            ),
        ],
    ),
    "llama-3.1": (
        "meta-llama-Llama-3.1-8B-Instruct.jinja",
        [
            (
                "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim "
                "+ '<|eot_id|>' }}",
                "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}"
                "{%- if message['role'] == 'assistant' %}{% generation %}{{- message['content'] | trim + '<|eot_id|>' }}"
                "{% endgeneration %}{%- else %}{{- message['content'] | trim + '<|eot_id|>' }}{%- endif %}",
            ),
            (
                "{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}\n            {{- '{\"name\": \"'",
                "{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}\n"
                '            {% generation %}{{- \'{"name": "\'',
            ),
            ('{{- "}" }}', '{{- "}" }}{% endgeneration %}'),
            (
                '{%- else %}\n            {{- "<|eot_id|>" }}',
                '{%- else %}\n            {% generation %}{{- "<|eot_id|>" }}{% endgeneration %}',
            ),
        ],
    ),
    "llama-3.2": (
        "meta-llama-Llama-3.2-3B-Instruct.jinja",
        [
            (
                "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim "
                "+ '<|eot_id|>' }}",
                "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}"
                "{%- if message['role'] == 'assistant' %}{% generation %}{{- message['content'] | trim + '<|eot_id|>' }}"
                "{% endgeneration %}{%- else %}{{- message['content'] | trim + '<|eot_id|>' }}{%- endif %}",
            ),
            (
                "{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}\n        {{- '{\"name\": \"'",
                "{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}\n        {% generation %}{{- '{\"name\": \"'",
            ),
            ('{{- "}" }}\n        {{- "<|eot_id|>" }}', '{{- "}" }}\n        {{- "<|eot_id|>" }}{% endgeneration %}'),
        ],
    ),
    "gemma-2": (
        "google-gemma-2-2b-it.jinja",
        [
            (
                "{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}",
                "{{ '<start_of_turn>' + role + '\n' }}{% if role == 'model' %}{% generation %}"
                "{{ message['content'] | trim + '<end_of_turn>' }}{% endgeneration %}{{ '\n' }}"
                "{% else %}{{ message['content'] | trim + '<end_of_turn>\n' }}{% endif %}",
            )
        ],
    ),
    "gemma-4": (
        "google-gemma-4-31B-it.jinja",
        [
            (
                "{%- if role == 'model' -%}\n                    {{- strip_thinking(message['content']) -}}",
                "{%- if role == 'model' -%}\n                    {% generation %}{{- strip_thinking(message['content']) -}}"
                "{% endgeneration %}",
            ),
            (
                "{%- elif not (ns_tr_out.flag and not message.get('content')) -%}\n            {{- '<turn|>\\n' -}}",
                "{%- elif not (ns_tr_out.flag and not message.get('content')) -%}\n"
                "            {%- if role == 'model' -%}{% generation %}{{- '<turn|>' -}}{% endgeneration %}{{- '\\n' -}}"
                "{%- else -%}{{- '<turn|>\\n' -}}{%- endif -%}",
            ),
        ],
    ),
    "mistral-small-3.2": (
        "Mistral-Small-3.2-24B-Instruct-2506.jinja",
        [
            ("{%- if message.get('tool_calls') %}", "{%- if message.get('tool_calls') %}{% generation %}"),
            (
                "{{- eos_token }}\n        {%- elif message['content'] is string %}\n"
                "            {{- message['content'] + eos_token }}",
                "{{- eos_token }}{% endgeneration %}\n        {%- elif message['content'] is string %}\n"
                "            {% generation %}{{- message['content'] + eos_token }}{% endgeneration %}",
            ),
        ],
    ),
}
MARKINGS["llama-3.3"] = ("meta-llama-Llama-3.3-70B-Instruct.jinja", MARKINGS["llama-3.1"][1])
"""Family -> (published file, edits that add generation markers)."""

FAMILY_RULES: dict[str, dict[str, bool]] = {
    "qwen3": {},
    # Its tool-call header is written for the conversation's first call only.
    "deepseek-r1": {"one_tool_call": True},
    "phi-3.5": {"tools": False},
    "mistral-nemo": {"reasoning": False},
    "mistral-small-3.2": {"reasoning": False},
    "llama-3.1": {},
    "llama-3.3": {},
    "llama-3.2": {},
    "gemma-2": {"system": False, "tools": False},
    # Tool calls are not marked: the model turn holds the tool results too (see README).
    "gemma-4": {"tools": False},
}
"""What each family's published template accepts (options of `chat_samples.conversations`)."""


def marked(published: str, family: str) -> str:
    """The published template with generation markers added."""
    text = published
    for old, new in MARKINGS[family][1]:
        assert old in text, f"{family}: published template changed; marking not found: {old[:60]!r}"
        text = text.replace(old, new)
    return text
