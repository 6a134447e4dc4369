"""Writes the hostile chat templates beside this file (run it to regenerate; the output is committed).

Each template renders ChatML and, for a message whose content holds ``attack``, computes one value
that a single C call would spend hours or gigabytes on. expected.json holds what the reject of
such a record must say (tests/chat/test_template_attacks.py builds every template).
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
HEAD = "{%- for m in messages %}{%- if 'attack' in m.content %}"
TAIL = (
    "{%- endif %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
LETTERS = "'abcdefghijklmnopqrstuvwxyz' * 100000"
ATTACKS = {
    "power.jinja": ("{{ 10 ** 3000000000 }}", "10 ** 3000000000 would make 9,000,000,000 bits"),
    "int_product.jinja": ("{% set big = 2 ** 200000 %}{{ big * big }}", "would make 400,001 bits"),
    "repeat_string.jinja": ("{{ m.content * 3000000000 }}", "str * 3000000000 would make"),
    "repeat_list.jinja": ("{{ [m.content] * 1000000000 }}", "list * 1000000000 would make 8,000,000,000 bytes"),
    "format_width.jinja": ("{{ '{:>3000000000}'.format(m.content) }}", "the format field {:>3000000000} would make"),
    "format_map_width.jinja": ("{{ '{c:>3000000000}'.format_map({'c': m.content}) }}", "format field {:>3000000000}"),
    "safe_format_width.jinja": ("{{ ('{:>3000000000}'|safe).format(m.content) }}", "format field {:>3000000000}"),
    "printf_star.jinja": ("{{ '%*d' % (3000000000, 1) }}", "a format's widths and precisions would make"),
    "printf_precision.jinja": ("{{ '%.3000000000f' % 1.5 }}", "a format's widths and precisions would make"),
    "format_filter.jinja": ("{{ '%3000000000s'|format(m.content) }}", "a format's widths and precisions"),
    "center_method.jinja": ("{{ m.content.center(3000000000) }}", "str.center would make 3,000,000,000"),
    "center_filter.jinja": ("{{ m.content|center(3000000000) }}", "the center filter would make"),
    "indent_filter.jinja": ("{{ m.content|indent(3000000000) }}", "the indent filter would make"),
    "zfill.jinja": ("{{ m.content.zfill(3000000000) }}", "str.zfill would make"),
    "expandtabs.jinja": ("{{ ('\\t' * 1000).expandtabs(3000000) }}", "str.expandtabs would make 3,000,001,000"),
    "replace_method.jinja": (f"{{{{ (m.content * 1000).replace('', {LETTERS}) }}}}", "str.replace would make"),
    "replace_filter.jinja": (f"{{{{ (m.content * 1000)|replace('', {LETTERS}) }}}}", "the replace filter would make"),
    "to_bytes.jinja": ("{{ (1).to_bytes(3000000000, 'big') }}", "int.to_bytes would make 3,000,000,000 bytes"),
    "batch_fill.jinja": ("{{ [1]|batch(1000000000, m.content)|list }}", "the batch filter would make 8,000,000,000"),
    # Not sized before it runs (the join's size is its items'): it fails at once under the
    # address-space cap of a rendering, with a reason (a bare MemoryError has none).
    "join_of_one_string_many_times.jinja": (
        "{{ dict.fromkeys(range(100000), m.content * 1000000).values()|join }}",
        "MiB of memory",
    ),
}


def main() -> None:
    for name, (attack, _) in ATTACKS.items():
        (HERE / name).write_text(HEAD + attack + TAIL)
    expected = {name: message for name, (_, message) in ATTACKS.items()}
    (HERE / "expected.json").write_text(json.dumps(expected, indent=2) + "\n")


if __name__ == "__main__":
    main()
