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

PROMPT_START = (
    "{%- macro prompt_start(pieces, turn) -%}{%- set ns_p = namespace(text='', on=true) -%}"
    "{%- for piece in pieces -%}{%- if ns_p.on and turn.startswith(ns_p.text + piece) -%}"
    "{%- set ns_p.text = ns_p.text + piece -%}{%- else -%}{%- set ns_p.on = false -%}{%- endif -%}{%- endfor -%}"
    "{{- ns_p.text -}}{%- endmacro -%}\n"
)
"""A macro the markings use: the longest start of a turn that repeats the generation prompt's
pieces (its special tokens whole, its other text character by character)."""


def pieces(text: str, specials: tuple[str, ...]) -> str:
    """`text` as a Jinja list of its special tokens and single characters."""
    out: list[str] = []
    while text:
        token = next((t for t in specials if text.startswith(t)), text[0])
        out.append(token)
        text = text[len(token) :]
    return "[" + ", ".join(repr(p) for p in out) + "]"


def prompted_turn(rest: str) -> str:
    """The end of a marking that captured an assistant turn (after its role header) as ``turn``:
    what the turn repeats of the rest of the generation prompt (``rest``, a Jinja expression for
    a list of pieces) is prompt, the remainder is generated."""
    return (
        f"{{%- endset %}}{{%- set prompted = prompt_start({rest}, turn) %}}"
        "{{- prompted }}{% generation %}{{- turn[prompted|length:] }}{% endgeneration %}"
    )


THINK = ("<think>", "</think>")
EMPTY_THINKING = pieces("<think>\n\n</think>\n\n", THINK)
QWEN_NO_THINKING = f"({EMPTY_THINKING} if enable_thinking is defined and enable_thinking is false else [])"
MARKINGS: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "qwen3": (
        "Qwen-Qwen3-0.6B.jinja",
        [
            ("{%- if tools %}", PROMPT_START + "{%- if tools %}"),
            (
                "        {%- if loop.index0 > ns.last_query_index %}",
                "        {{- '<|im_start|>' + message.role + '\\n' }}{%- set turn %}\n"
                "        {%- if loop.index0 > ns.last_query_index %}",
            ),
            ("'<|im_start|>' + message.role + '\\n<think>\\n' + ", "'<think>\\n' + "),
            ("{{- '<|im_start|>' + message.role + '\\n' + content }}", "{{- content }}"),
            (
                "        {{- '<|im_end|>\\n' }}\n    {%- elif message.role == \"tool\" %}",
                "        {{- '<|im_end|>' }}" + prompted_turn(QWEN_NO_THINKING) + "{{- '\\n' }}\n"
                '    {%- elif message.role == "tool" %}',
            ),
        ],
    ),
    "qwen3.5": (
        "Qwen3.5-4B.jinja",
        [
            (
                "{%- set image_count = namespace(value=0) %}",
                PROMPT_START + "{%- set image_count = namespace(value=0) %}",
            ),
            (
                "        {%- if loop.index0 > ns.last_query_index %}",
                "        {{- '<|im_start|>' + message.role + '\\n' }}{%- set turn %}\n"
                "        {%- if loop.index0 > ns.last_query_index %}",
            ),
            ("{{- '<|im_start|>' + message.role + '\\n<think>\\n' + ", "{{- '<think>\\n' + "),
            ("{{- '<|im_start|>' + message.role + '\\n' + content }}", "{{- content }}"),
            (
                "        {{- '<|im_end|>\\n' }}\n    {%- elif message.role == \"tool\" %}",
                "        {{- '<|im_end|>' }}"
                + prompted_turn(
                    f"({EMPTY_THINKING} if enable_thinking is defined and enable_thinking is false "
                    f"else {pieces(chr(10).join(('<think>', '')), THINK)})"
                )
                + "{{- '\\n' }}\n"
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
                # After tool calls the template writes the message again as a turn of its own (empty
                # content): its end is marked as any turn's.
                "{{'<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>'}}",
                "{{'<｜Assistant｜>'}}{% generation %}{{content + '<｜end▁of▁sentence｜>'}}{% endgeneration %}",
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
                "        {{- '<|channel>thought\\n' + thinking_text + '\\n<channel|>' -}}",
                "        {{- '<|channel>thought\\n' -}}{% generation %}{{- thinking_text + '\\n<channel|>' -}}{% endgeneration %}",
            ),
            (
                "            {%- if message['tool_calls'] -%}\n                {%- for tool_call in message['tool_calls'] -%}",
                "            {%- if message['tool_calls'] -%}{% generation %}\n"
                "                {%- for tool_call in message['tool_calls'] -%}",
            ),
            (
                "                {%- set ns.prev_message_type = 'tool_call' -%}\n            {%- endif -%}",
                "                {%- set ns.prev_message_type = 'tool_call' -%}{% endgeneration %}\n            {%- endif -%}",
            ),
            (
                "        {%- if ns.prev_message_type == 'tool_call' and not ns_tr_out.flag -%}\n"
                "            {{- '<|tool_response>' -}}",
                "        {%- if ns.prev_message_type == 'tool_call' and not ns_tr_out.flag -%}\n"
                "            {% generation %}{{- '<|tool_response>' -}}{% endgeneration %}",
            ),
            # The tool-call turn ends with <|tool_response>: what the template writes after the calls when
            # no response follows (the model's stop token), here the first response block's first token.
            (
                "                            {{- format_tool_response_block(ns_tname.name, tool_body) -}}\n"
                "                        {%- elif tool_body is sequence",
                "                            {%- set block = format_tool_response_block(ns_tname.name, tool_body) -%}"
                "{%- if not ns_tr_out.flag -%}{% generation %}{{- block[:16] -}}{% endgeneration %}{{- block[16:] -}}"
                "{%- else -%}{{- block -}}{%- endif -%}\n"
                "                        {%- elif tool_body is sequence",
            ),
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
MARKINGS["deepseek-v3.1"] = (
    "deepseek-ai-DeepSeek-V3.1.jinja",
    [
        (
            "{%- if ns.is_last_user -%}{{'<｜Assistant｜><think></think>'}}",
            "{%- if ns.is_last_user and thinking -%}{{'<｜Assistant｜><think>'}}{% generation %}{{'</think>'}}"
            "{% endgeneration %}{%- elif ns.is_last_user -%}{{'<｜Assistant｜><think></think>'}}",
        ),
        (
            "    {%- for tool in message['tool_calls'] -%}",
            "    {% generation %}{%- for tool in message['tool_calls'] -%}",
        ),
        (
            "{{'<｜tool▁calls▁end｜><｜end▁of▁sentence｜>'}}",
            "{{'<｜tool▁calls▁end｜><｜end▁of▁sentence｜>'}}{% endgeneration %}",
        ),
        # With thinking on, the generation prompt opens <think> and the model closes it.
        (
            "        {%- else -%}{{'<think></think>'}}",
            "        {%- elif thinking -%}{{'<think>'}}{% generation %}{{'</think>'}}{% endgeneration %}"
            "{%- else -%}{{'<think></think>'}}",
        ),
        (
            "{{message['content'] + '<｜end▁of▁sentence｜>'}}",
            "{% generation %}{{message['content'] + '<｜end▁of▁sentence｜>'}}{% endgeneration %}",
        ),
        (
            "{{content + '<｜end▁of▁sentence｜>'}}",
            "{% generation %}{{content + '<｜end▁of▁sentence｜>'}}{% endgeneration %}",
        ),
    ],
)
# Command R7B writes <|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|> after every conversation (no
# generation prompt of its own): the model writes what follows it, <|START_RESPONSE|> or
# <|START_THINKING|>, up to <|END_RESPONSE|><|END_OF_TURN_TOKEN|> or <|END_ACTION|><|END_OF_TURN_TOKEN|>.
MARKINGS["command-r7b"] = (
    "CohereForAI-c4ai-command-r7b-12-2024-tool_use.jinja",
    [
        (
            "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>{% if message.tool_calls %}",
            "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>{% generation %}{% if message.tool_calls %}",
        ),
        (
            "<|END_RESPONSE|><|END_OF_TURN_TOKEN|>{% endif %}",
            "<|END_RESPONSE|><|END_OF_TURN_TOKEN|>{% endif %}{% endgeneration %}",
        ),
    ],
)
# Command A (Cohere2 MoE): the generation prompt opens <|START_THINKING|> (or writes an empty
# thinking block with reasoning off); an answer is <|START_TEXT|>...<|END_TEXT|><|END_OF_TURN_TOKEN|>.
MARKINGS["command-a"] = (
    "Cohere2MoE.jinja",
    [
        ("{%- if not platform_instruction_override %}", PROMPT_START + "{%- if not platform_instruction_override %}"),
        (
            "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>\n        {%- if message.tool_calls %}",
            "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>{%- set turn %}\n        {%- if message.tool_calls %}",
        ),
        (
            "            {{ print_msg(message) }}<|END_OF_TURN_TOKEN|>\n        {%- endif %}",
            "            {{ print_msg(message) }}<|END_OF_TURN_TOKEN|>\n        {%- endif %}"
            + prompted_turn("(['<|START_THINKING|>'] if reasoning else ['<|START_THINKING|>', '<|END_THINKING|>'])"),
        ),
    ],
)
MARKINGS["llama-3.3"] = ("meta-llama-Llama-3.3-70B-Instruct.jinja", MARKINGS["llama-3.1"][1])
"""Family -> (published file, edits that add generation markers)."""

STANDINS: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "exaone-4": (
        "exaone4-like.jinja",
        [
            ("{%- set skip = ", PROMPT_START + "{%- set skip = "),
            ("        {{- '[|assistant|]\\n' -}}", "        {{- '[|assistant|]\\n' -}}{%- set turn -%}"),
            (
                "        {{- '[|endofturn|]\\n' -}}\n    {%- elif message.role == 'tool' -%}",
                "        {{- '[|endofturn|]' -}}"
                + prompted_turn(
                    f"({pieces(chr(10).join(('<think>', '')), THINK)} if enable_thinking is defined and enable_thinking "
                    f"else {EMPTY_THINKING})"
                )
                + "{{- '\\n' -}}\n    {%- elif message.role == 'tool' -%}",
            ),
        ],
    ),
}
"""Stand-ins for templates no PyPI package publishes (tests/data/chat_templates/), marked the same way."""

STANDIN_TOKENS: dict[str, dict[str, str | list[str]]] = {
    "cohere": {
        "bos_token": "<BOS_TOKEN>",
        "eos_token": "<|END_OF_TURN_TOKEN|>",
        "additional_special_tokens": [
            "<|START_OF_TURN_TOKEN|>",
            "<|CHATBOT_TOKEN|>",
            "<|USER_TOKEN|>",
            "<|SYSTEM_TOKEN|>",
            "<|START_RESPONSE|>",
            "<|END_RESPONSE|>",
            "<|START_THINKING|>",
            "<|END_THINKING|>",
            "<|START_ACTION|>",
            "<|END_ACTION|>",
            "<|START_TOOL_RESULT|>",
            "<|END_TOOL_RESULT|>",
            "<|START_TEXT|>",
            "<|END_TEXT|>",
            "<|IMG_PATCH|>",
        ],
    },
    "exaone": {
        "bos_token": "[BOS]",
        "eos_token": "[|endofturn|]",
        "additional_special_tokens": ["[|system|]", "[|user|]", "[|assistant|]", "[|tool|]", "[|endofturn|]"],
    },
}
"""Special tokens of model families whose tokenizers no PyPI package ships: added to Qwen's byte-level
BPE, they make a faithful stand-in for masking (every marker one special token, as in the real vocabulary)."""


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
    "gemma-4": {},
    "qwen3.5": {},
    "deepseek-v3.1": {},
    "command-r7b": {},
    "command-a": {},
    "exaone-4": {},
}
"""What each family's published template accepts (options of `chat_samples.conversations`)."""


def marked(published: str, family: str) -> str:
    """The published template (or stand-in) with generation markers added."""
    text = published
    for old, new in (MARKINGS.get(family) or STANDINS[family])[1]:
        assert old in text, f"{family}: published template changed; marking not found: {old[:60]!r}"
        text = text.replace(old, new)
    return text
